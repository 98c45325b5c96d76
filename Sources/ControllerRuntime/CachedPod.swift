import Foundation
import KubernetesCore

/// A pod as the controllers' caches keep it: only the fields they use, packed. About a quarter
/// of the lean `Pod` model in memory (see `benchmarks/client.md`). Decoded straight from the API's
/// JSON, so a watcher of `CachedPod` never holds a full pod.
public struct CachedPod: KubernetesResource, Equatable {
    public static let resource = Pod.resource

    public var name: String
    public var namespace: String
    public var uid: UUID?
    public var resourceVersion: String?
    /// Labels packed as `k=v` pairs separated by newlines (one allocation instead of a dictionary).
    private var packedLabels: String
    public var ownerKind: String?
    public var ownerName: String?
    public var nodeName: String?
    public var phase: Phase
    public var isReady: Bool
    public var flags: Flags
    /// Sum of the containers' requests.
    public var cpuMillis: Int32
    public var memoryBytes: Int64
    /// Seconds since 1970 of the deletion timestamp, when the pod is terminating.
    public var deletionTime: Int64?

    public enum Phase: UInt8, Sendable { case pending, running, succeeded, failed, unknown }

    public struct Flags: OptionSet, Sendable, Equatable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let emptyDir = Flags(rawValue: 1)
        public static let mirror = Flags(rawValue: 2)
        public static let doNotDisrupt = Flags(rawValue: 4)
        public static let drainSkip = Flags(rawValue: 8)
    }

    public init(_ pod: Pod) {
        name = pod.metadata.name ?? ""
        namespace = pod.metadata.namespace ?? ""
        uid = pod.metadata.uid.flatMap(UUID.init(uuidString:))
        resourceVersion = pod.metadata.resourceVersion
        packedLabels = (pod.metadata.labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        let owner = pod.metadata.controllerReference
        ownerKind = owner?.kind
        ownerName = owner?.name
        nodeName = pod.spec?.nodeName
        phase = Phase(pod.status?.phase)
        isReady = pod.isReady
        var f = Flags()
        if pod.spec?.volumes?.contains(where: { $0.emptyDir != nil }) == true { f.insert(.emptyDir) }
        let annotations = pod.metadata.annotations ?? [:]
        if annotations["kubernetes.io/config.mirror"] != nil { f.insert(.mirror) }
        if annotations["karpenter.sh/do-not-disrupt"] == "true" { f.insert(.doNotDisrupt) }
        if annotations["cluster.x-k8s.io/drain"] == "skip" { f.insert(.drainSkip) }
        flags = f
        var cpu = 0, memory: Int64 = 0
        for c in pod.spec?.containers ?? [] {
            cpu += Quantity.millis(c.resources?.requests?["cpu"]) ?? 0
            memory += Quantity.bytes(c.resources?.requests?["memory"]) ?? 0
        }
        cpuMillis = Int32(clamping: cpu)
        memoryBytes = memory
        deletionTime = pod.metadata.deletionTimestamp.flatMap(Timestamp.parse).map { Int64($0.timeIntervalSince1970) }
    }

    public init(from decoder: Decoder) throws { self.init(try Pod(from: decoder)) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(metadata, forKey: AnyKey("metadata"))
    }

    public var labels: [String: String] {
        var out: [String: String] = [:]
        for pair in packedLabels.split(separator: "\n") {
            if let eq = pair.firstIndex(of: "=") { out[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) }
        }
        return out
    }

    public var metadata: ObjectMeta {
        let ownNamespace: String = namespace  // the stored field, not the protocol's `namespace: String?`
        var m = ObjectMeta(name: name, namespace: ownNamespace, labels: labels)
        m.uid = uid?.uuidString.lowercased()
        m.resourceVersion = resourceVersion
        if let kind = ownerKind, let owner = ownerName { m.ownerReferences = [OwnerReference(apiVersion: "", kind: kind, name: owner, uid: "", controller: true)] }
        return m
    }

    public var key: ObjectKey { let ns: String = namespace; return ObjectKey(namespace: ns, name: name) }
    public var isFinished: Bool { phase == .succeeded || phase == .failed }
}

extension CachedPod.Phase {
    init(_ s: String?) {
        switch s {
        case "Pending": self = .pending
        case "Running": self = .running
        case "Succeeded": self = .succeeded
        case "Failed": self = .failed
        default: self = .unknown
        }
    }
}

/// Kubernetes resource quantities (`250m`, `2`, `512Mi`, `1G`, `1e3`).
public enum Quantity {
    /// CPU in millicores.
    public static func millis(_ s: String?) -> Int? {
        guard let s, !s.isEmpty else { return nil }
        if s.hasSuffix("m") { return Int(s.dropLast()) }
        return Double(s).map { Int(($0 * 1000).rounded()) }
    }

    /// Bytes.
    public static func bytes(_ s: String?) -> Int64? {
        guard let s, !s.isEmpty else { return nil }
        let suffixes: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("Pi", 1_125_899_906_842_624),
                                            ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("m", 1e-3)]
        for (suffix, factor) in suffixes where s.hasSuffix(suffix) {
            return Double(s.dropLast(suffix.count)).map { Int64(($0 * factor).rounded()) }
        }
        return Double(s).map { Int64($0.rounded()) }
    }
}
