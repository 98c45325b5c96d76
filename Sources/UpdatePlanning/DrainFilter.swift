import Foundation

/// What a drain may do with the pods of a node (the UpdateWindow's `spec.drain`).
public struct DrainOptions: Sendable, Equatable {
    /// Evict pods with emptyDir volumes (their data is lost).
    public var deleteEmptyDirData: Bool
    /// Evict pods no controller will recreate, and orphans of deleted DaemonSets.
    public var force: Bool
    /// Leave DaemonSet pods (they die with the reboot and come back with the node).
    public var ignoreDaemonSets: Bool
    /// Pods deleted longer ago than this no longer hold the drain up (a dead kubelet); 0 = never.
    public var skipWaitForDeleteTimeoutSeconds: Int

    public init(deleteEmptyDirData: Bool = false, force: Bool = false, ignoreDaemonSets: Bool = true, skipWaitForDeleteTimeoutSeconds: Int = 0) {
        self.deleteEmptyDirData = deleteEmptyDirData
        self.force = force
        self.ignoreDaemonSets = ignoreDaemonSets
        self.skipWaitForDeleteTimeoutSeconds = skipWaitForDeleteTimeoutSeconds
    }
}

/// A pod as the drain filter reads it (from the runtime's `CachedPod`).
public struct DrainCandidate: Sendable, Equatable {
    public enum Phase: Sendable, Equatable { case pending, running, succeeded, failed, unknown }
    public var namespace: String
    public var name: String
    public var ownerKind: String?
    public var ownerName: String?
    public var phase: Phase
    public var hasEmptyDir: Bool
    public var isMirror: Bool
    /// `karpenter.sh/do-not-disrupt: "true"`.
    public var doNotDisrupt: Bool
    /// `cluster.x-k8s.io/drain: skip`.
    public var drainSkip: Bool
    /// Seconds since 1970 of its deletion timestamp, when it is being deleted.
    public var deletionTime: Int64?

    public init(namespace: String, name: String, ownerKind: String? = nil, ownerName: String? = nil, phase: Phase = .running, hasEmptyDir: Bool = false,
                isMirror: Bool = false, doNotDisrupt: Bool = false, drainSkip: Bool = false, deletionTime: Int64? = nil) {
        self.namespace = namespace
        self.name = name
        self.ownerKind = ownerKind
        self.ownerName = ownerName
        self.phase = phase
        self.hasEmptyDir = hasEmptyDir
        self.isMirror = isMirror
        self.doNotDisrupt = doNotDisrupt
        self.drainSkip = drainSkip
        self.deletionTime = deletionTime
    }

    public var key: String { "\(namespace)/\(name)" }
    var isFinished: Bool { phase == .succeeded || phase == .failed }
}

/// The verdict on one pod, as `kubectl drain` gives it.
public enum DrainVerdict: Sendable, Equatable {
    /// Evict it.
    case evict
    /// Evict it, and say why that deserves attention (lost emptyDir data, an unmanaged pod).
    case evictWithWarning(String)
    /// Leave it; `warning` is nil when leaving it is unremarkable (a mirror pod).
    case skip(warning: String?)
    /// The drain must not start: this pod cannot be evicted safely with these options.
    case blocks(String)
}

/// `kubectl drain`'s filters, in its order, stopping at the first that decides, plus the
/// ecosystem's opt-outs: Karpenter's `do-not-disrupt` blocks the drain, Cluster API's
/// `drain: skip` leaves the pod. `daemonSetExists` answers from the caches. Pure.
public func drainVerdict(_ pod: DrainCandidate, options: DrainOptions, now: Int64, daemonSetExists: (String, String) -> Bool) -> DrainVerdict {
    if options.skipWaitForDeleteTimeoutSeconds > 0, let deleted = pod.deletionTime, now - deleted > Int64(options.skipWaitForDeleteTimeoutSeconds) {
        return .skip(warning: "deleted \(now - deleted) s ago; its kubelet does not answer")
    }
    if pod.doNotDisrupt && !pod.isFinished { return .blocks("\(pod.key) has karpenter.sh/do-not-disrupt") }
    if pod.drainSkip { return .skip(warning: "\(pod.key) has cluster.x-k8s.io/drain=skip") }
    if pod.ownerKind == "DaemonSet" {
        if pod.isFinished { return .evict }
        if !daemonSetExists(pod.namespace, pod.ownerName ?? "") {
            return options.force ? .evictWithWarning("\(pod.key): its DaemonSet is gone") : .blocks("\(pod.key): its DaemonSet \(pod.ownerName ?? "") is gone (force evicts such orphans)")
        }
        return options.ignoreDaemonSets ? .skip(warning: nil) : .blocks("\(pod.key) is a DaemonSet pod (ignoreDaemonSets leaves them)")
    }
    if pod.isMirror { return .skip(warning: nil) }
    if pod.hasEmptyDir && !pod.isFinished {
        return options.deleteEmptyDirData ? .evictWithWarning("\(pod.key): its emptyDir data is lost") : .blocks("\(pod.key) has emptyDir data (deleteEmptyDirData evicts it)")
    }
    if pod.ownerKind == nil && !pod.isFinished {
        return options.force ? .evictWithWarning("\(pod.key) has no controller; it will not come back") : .blocks("\(pod.key) has no controller (force evicts it)")
    }
    return .evict
}

/// A node's drain, decided before anything is disrupted: what to evict, what stays, and whether
/// anything forbids starting at all (then nothing is evicted).
public struct DrainDecision: Sendable, Equatable {
    public var evict: [DrainCandidate] = []
    public var skipped: [DrainCandidate] = []
    public var warnings: [String] = []
    public var blockers: [String] = []
    public var canStart: Bool { blockers.isEmpty }
}

public func decideDrain(_ pods: [DrainCandidate], options: DrainOptions, now: Int64, daemonSetExists: (String, String) -> Bool) -> DrainDecision {
    var d = DrainDecision()
    for pod in pods.sorted(by: { $0.key < $1.key }) {
        switch drainVerdict(pod, options: options, now: now, daemonSetExists: daemonSetExists) {
        case .evict: d.evict.append(pod)
        case .evictWithWarning(let w): d.evict.append(pod); d.warnings.append(w)
        case .skip(let w): d.skipped.append(pod); if let w { d.warnings.append(w) }
        case .blocks(let why): d.blockers.append(why)
        }
    }
    if !d.canStart { d.evict = [] }
    return d
}
