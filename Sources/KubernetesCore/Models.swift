import Foundation

// Lean models: only the fields Foresight reads. Decoding skips everything else, which keeps caches
// small; writes never send these back whole (patches name exactly the fields the project owns).

/// A Pod, as the drain, the node simulator and the capacity planner need it.
public struct Pod: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: PodSpec?
    public var status: PodStatus?

    public init(metadata: ObjectMeta, spec: PodSpec? = nil, status: PodStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// Running or Pending: not yet finished.
    public var isFinished: Bool { status?.phase == "Succeeded" || status?.phase == "Failed" }
    public var isReady: Bool { status?.conditions?.first(where: { $0.type == "Ready" })?.status == "True" }
}

public struct PodSpec: Codable, Sendable, Equatable {
    public init() {}
    public var nodeName: String?
    public var nodeSelector: [String: String]?
    public var terminationGracePeriodSeconds: Int?
    public var priorityClassName: String?
    public var volumes: [Volume]?
    public var containers: [Container]?

    public struct Volume: Codable, Sendable, Equatable {
        public var name: String
        public var emptyDir: JSONValue?
        public var hostPath: JSONValue?
        public init(name: String, emptyDir: JSONValue? = nil, hostPath: JSONValue? = nil) {
            self.name = name
            self.emptyDir = emptyDir
            self.hostPath = hostPath
        }
    }

    public struct Container: Codable, Sendable, Equatable {
        public var name: String
        public var resources: Resources?
        public init(name: String, resources: Resources? = nil) {
            self.name = name
            self.resources = resources
        }
        public struct Resources: Codable, Sendable, Equatable {
            public var requests: [String: String]?
            public var limits: [String: String]?
            public init(requests: [String: String]? = nil, limits: [String: String]? = nil) {
                self.requests = requests
                self.limits = limits
            }
        }
    }
}

public struct PodStatus: Codable, Sendable, Equatable {
    public init() {}
    public var phase: String?
    public var conditions: [PodCondition]?
    public var podIP: String?
    public var startTime: String?

    public struct PodCondition: Codable, Sendable, Equatable {
        public var type: String
        public var status: String
    }
}

/// A Node: schedulability, readiness, identity of its boot and OS, capacity.
public struct Node: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    public var metadata: ObjectMeta
    public var spec: NodeSpec?
    public var status: NodeStatus?

    public init(metadata: ObjectMeta, spec: NodeSpec? = nil, status: NodeStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public var isUnschedulable: Bool { spec?.unschedulable ?? false }
    public var isReady: Bool { status?.conditions?.first(where: { $0.type == "Ready" })?.status == "True" }
}

public struct NodeSpec: Codable, Sendable, Equatable {
    public var unschedulable: Bool?
    public var taints: [Taint]?
    public var providerID: String?

    public struct Taint: Codable, Sendable, Equatable {
        public var key: String
        public var value: String?
        public var effect: String
        public init(key: String, value: String? = nil, effect: String) {
            self.key = key
            self.value = value
            self.effect = effect
        }
    }
}

public struct NodeStatus: Codable, Sendable, Equatable {
    public var conditions: [NodeCondition]?
    public var capacity: [String: String]?
    public var allocatable: [String: String]?
    public var nodeInfo: NodeSystemInfo?
    public var volumesAttached: [JSONValue]?

    public struct NodeCondition: Codable, Sendable, Equatable {
        public var type: String
        public var status: String
        public var lastHeartbeatTime: String?
        public var lastTransitionTime: String?
        public var reason: String?
        public var message: String?
    }
}

public struct NodeSystemInfo: Codable, Sendable, Equatable {
    public var bootID: String?
    public var osImage: String?
    public var kernelVersion: String?
    public var kubeletVersion: String?
    public var machineID: String?
    public var systemUUID: String?
    public var containerRuntimeVersion: String?
    public var kubeProxyVersion: String?
    public var operatingSystem: String?
    public var architecture: String?
}

/// A Deployment: desired and available replicas, selector, template labels.
public struct Deployment: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: DeploymentSpec?
    public var status: DeploymentStatus?

    public init(metadata: ObjectMeta, spec: DeploymentSpec? = nil, status: DeploymentStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct DeploymentSpec: Codable, Sendable, Equatable {
    public var replicas: Int?
    public var selector: LabelSelector?
    public var template: PodTemplate?
}

/// A pod template: its labels and the parts of its spec capacity planning reads.
public struct PodTemplate: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta?
    public var spec: PodSpec?

    /// The sum of the containers' requests: what one pod of this template asks of a node.
    public var requests: (cpuMillis: Int64, memoryBytes: Int64) {
        var cpu: Int64 = 0, memory: Int64 = 0
        for c in spec?.containers ?? [] {
            cpu += Int64(Quantity.millis(c.resources?.requests?["cpu"]) ?? 0)
            memory += Quantity.bytes(c.resources?.requests?["memory"]) ?? 0
        }
        return (cpu, memory)
    }

    public static func == (a: PodTemplate, b: PodTemplate) -> Bool { a.metadata == b.metadata && a.spec == b.spec }
}

public struct DeploymentStatus: Codable, Sendable, Equatable {
    public var observedGeneration: Int?
    public var replicas: Int?
    public var readyReplicas: Int?
    public var availableReplicas: Int?
    public var updatedReplicas: Int?
    public var conditions: [DeploymentCondition]?
}

/// One of a Deployment's conditions (`Available`, `Progressing`, `ReplicaFailure`). Every field is
/// optional, so that a condition missing one never keeps its Deployment out of a cache.
public struct DeploymentCondition: Codable, Sendable, Equatable {
    public var type: String?
    public var status: String?
    public var reason: String?
    public var message: String?

    public init(type: String?, status: String?, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}

extension Deployment {
    /// The deployment controller gave up on its progress: no pod became available within its
    /// `progressDeadlineSeconds` (condition `Progressing` False, reason `ProgressDeadlineExceeded`),
    /// as when its pods crash or never pass their readiness probe.
    public var progressDeadlineExceeded: Bool {
        status?.conditions?.contains { $0.type == "Progressing" && $0.status == "False" && $0.reason == "ProgressDeadlineExceeded" } ?? false
    }
}

/// `autoscaling/v1` Scale, the subresource every scalable kind shares.
public struct Scale: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: ScaleStatus?

    public struct Spec: Codable, Sendable, Equatable { public var replicas: Int? }
    public struct ScaleStatus: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var selector: String?
    }
}

/// A `coordination.k8s.io/v1` Lease, used for leader election.
public struct Lease: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: LeaseSpec?

    public init(metadata: ObjectMeta, spec: LeaseSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

public struct LeaseSpec: Codable, Sendable, Equatable {
    public var holderIdentity: String?
    public var leaseDurationSeconds: Int?
    public var acquireTime: String?
    public var renewTime: String?
    public var leaseTransitions: Int?

    public init(holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil, renewTime: String? = nil, leaseTransitions: Int? = nil) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }
}

/// A core/v1 Event (what `kubectl describe` shows).
public struct Event: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference?
    public var reason: String?
    public var message: String?
    public var type: String?
    public var count: Int?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var source: EventSource?

    public struct EventSource: Codable, Sendable, Equatable {
        public var component: String?
        public var host: String?
    }
}

/// `v1.ObjectReference`.
public struct ObjectReference: Codable, Sendable, Equatable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?

    public init(apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil, resourceVersion: String? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.resourceVersion = resourceVersion
    }
}

/// A Namespace (only its metadata and phase).
public struct Namespace: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public var metadata: ObjectMeta
    public var status: NamespaceStatus?
    public struct NamespaceStatus: Codable, Sendable, Equatable { public var phase: String? }
    public init(metadata: ObjectMeta) { self.metadata = metadata }
}

/// A ConfigMap (history for demos and air-gapped clusters comes from one).
public struct ConfigMap: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true)
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// A PodDisruptionBudget, read in whichever `policy` version the server serves.
public struct PodDisruptionBudget: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "policy", version: "v1", plural: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: PDBStatus?

    public struct Spec: Codable, Sendable, Equatable {
        public var selector: LabelSelector?
        public var minAvailable: IntOrString?
        public var maxUnavailable: IntOrString?
    }
    public struct PDBStatus: Codable, Sendable, Equatable {
        public var disruptionsAllowed: Int?
        public var currentHealthy: Int?
        public var desiredHealthy: Int?
        public var expectedPods: Int?
    }
}

/// `intstr.IntOrString`: `3` or `"25%"`.
public enum IntOrString: Codable, Sendable, Equatable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }

    /// Resolves against a total: an int as is, `"N%"` as a share of `total`, rounded up or down.
    public func resolve(total: Int, roundUp: Bool) -> Int? {
        switch self {
        case .int(let i): return i
        case .string(let s):
            guard s.hasSuffix("%"), let p = Double(s.dropLast()) else { return Int(s) }
            let v = Double(total) * p / 100
            return roundUp ? Int(v.rounded(.up)) : Int(v.rounded(.down))
        }
    }
}

/// A DaemonSet: whether a drained pod's owner still exists, and what its pods take of each node.
public struct DaemonSet: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public struct Spec: Codable, Sendable, Equatable { public var template: PodTemplate? }
    public init(metadata: ObjectMeta, spec: Spec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// An `autoscaling/v1` HorizontalPodAutoscaler: which object it scales and within what bounds.
public struct HorizontalPodAutoscaler: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "autoscaling", version: "v1", plural: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public struct Spec: Codable, Sendable, Equatable {
        public var scaleTargetRef: CrossVersionObjectReference?
        public var minReplicas: Int?
        public var maxReplicas: Int?
    }
    public struct CrossVersionObjectReference: Codable, Sendable, Equatable {
        public var apiVersion: String?
        public var kind: String
        public var name: String
    }
}

/// A `scheduling.k8s.io/v1` PriorityClass.
public struct PriorityClass: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "scheduling.k8s.io", version: "v1", plural: "priorityclasses", kind: "PriorityClass", namespaced: false)
    public var metadata: ObjectMeta
    public var value: Int?
    public var description: String?
}

/// Only metadata: for kinds whose contents do not matter (existence checks, deletions).
public struct PartialObject: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
}

/// A ReplicaSet: read to resolve a pod's owning Deployment, and its replica counts.
public struct ReplicaSet: KubernetesResource, Equatable {
    public static let resource = APIResource(group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet", namespaced: true)
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var replicas: Int?
        public init(replicas: Int? = nil) { self.replicas = replicas }
    }
    public struct Status: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
    }

    /// Only what owner resolution and capacity checks read: identity, controlling owner, counts.
    @Sendable public static func leanForCache(_ rs: ReplicaSet) -> ReplicaSet {
        var meta = ObjectMeta(name: rs.metadata.name, namespace: rs.metadata.namespace)
        meta.uid = rs.metadata.uid
        meta.resourceVersion = rs.metadata.resourceVersion
        if let owner = rs.metadata.controllerReference { meta.ownerReferences = [owner] }
        return ReplicaSet(metadata: meta, spec: rs.spec, status: rs.status)
    }
}
