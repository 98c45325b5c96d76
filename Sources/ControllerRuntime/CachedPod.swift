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
    /// The controlling owner: kind, name, apiVersion and uid (a ReplicaSet, StatefulSet, DaemonSet, Job...).
    public var ownerKind: String?
    public var ownerName: String?
    public var ownerAPIVersion: String?
    public var ownerUID: UUID?
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
        /// Priority class `system-node-critical` or `system-cluster-critical` (DNS, CNI, storage
        /// agents): a drain moves these last.
        public static let critical = Flags(rawValue: 16)
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
        ownerAPIVersion = owner?.apiVersion
        ownerUID = owner.flatMap { UUID(uuidString: $0.uid) }
        nodeName = pod.spec?.nodeName
        phase = Phase(pod.status?.phase)
        isReady = pod.isReady
        var f = Flags()
        if pod.spec?.volumes?.contains(where: { $0.emptyDir != nil }) == true { f.insert(.emptyDir) }
        let annotations = pod.metadata.annotations ?? [:]
        if annotations["kubernetes.io/config.mirror"] != nil { f.insert(.mirror) }
        if annotations["karpenter.sh/do-not-disrupt"] == "true" { f.insert(.doNotDisrupt) }
        if annotations["cluster.x-k8s.io/drain"] == "skip" { f.insert(.drainSkip) }
        if let priority = pod.spec?.priorityClassName, priority == "system-node-critical" || priority == "system-cluster-critical" { f.insert(.critical) }
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
        if let owner = controllerReference { m.ownerReferences = [owner] }
        return m
    }

    public var key: ObjectKey { let ns: String = namespace; return ObjectKey(namespace: ns, name: name) }

    /// The controlling owner reference, as the API gave it.
    public var controllerReference: OwnerReference? {
        guard let kind = ownerKind, let owner = ownerName else { return nil }
        return OwnerReference(apiVersion: ownerAPIVersion ?? "", kind: kind, name: owner, uid: ownerUID?.uuidString.lowercased() ?? "", controller: true)
    }

    /// Index functions of a pod cache: by node, by controlling owner, by namespace, by label.
    public static let indexers: [String: IndexFunction<CachedPod>] = [
        PodIndex.node: { $0.nodeName.map { [$0] } ?? [] },
        PodIndex.owner: { p in p.ownerKind.map { ["\($0)/\(p.namespace)/\(p.ownerName ?? "")"] } ?? [] },
        Indexers.namespace: { [$0.namespace] },
        Indexers.label: { $0.packedLabels.split(separator: "\n").map(String.init) },
    ]
    public var isFinished: Bool { phase == .succeeded || phase == .failed }
}

/// The index names of a pod cache.
public enum PodIndex {
    /// `node`: the node a pod is bound to.
    public static let node = "node"
    /// `owner`: `Kind/namespace/name` of the pod's controlling owner (`ReplicaSet/shop/web-5d8f`).
    public static let owner = "owner"
    public static func ownerValue(kind: String, namespace: String, name: String) -> String { "\(kind)/\(namespace)/\(name)" }
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

