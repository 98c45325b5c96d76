import Foundation
import KubernetesCore

/// The workload a pod belongs to, with the reference that names it.
public struct Workload: Hashable, Sendable, CustomStringConvertible {
    /// The top-level owner: a Deployment, StatefulSet, DaemonSet, Job, or a ReplicaSet without one.
    public var reference: OwnerReference
    public var namespace: String

    public var kind: String { reference.kind }
    public var name: String { reference.name }
    public var key: ObjectKey { ObjectKey(namespace: namespace, name: reference.name) }
    public var description: String { "\(reference.kind) \(namespace)/\(reference.name)" }
}

/// Resolves a pod to the workload that controls it: Pod → ReplicaSet → Deployment (through the
/// ReplicaSet cache), and directly to StatefulSet, DaemonSet or Job; a CronJob's Job stays the Job.
/// Owner references keep their apiVersion and uid, so a recreated owner with the same name is told
/// apart. Pure over the caches it is given; never calls the API.
public struct OwnerResolver: Sendable {
    public let replicaSets: Store<ReplicaSet>

    public init(replicaSets: Store<ReplicaSet>) { self.replicaSets = replicaSets }

    /// The pod's workload, or nil for a pod without a controlling owner (unmanaged).
    public func workload(of pod: CachedPod) -> Workload? {
        guard let owner = pod.controllerReference else { return nil }
        return resolve(owner, namespace: pod.namespace)
    }

    /// Follows `owner` up while it is a ReplicaSet controlled by something else.
    public func resolve(_ owner: OwnerReference, namespace: String) -> Workload {
        if owner.kind == "ReplicaSet", owner.apiVersion.hasPrefix("apps/") || owner.apiVersion.isEmpty,
           let rs = replicaSets.get(ObjectKey(namespace: namespace, name: owner.name)),
           owner.uid.isEmpty || rs.metadata.uid == nil || rs.metadata.uid == owner.uid,
           let parent = rs.metadata.controllerReference {
            return Workload(reference: parent, namespace: namespace)
        }
        return Workload(reference: owner, namespace: namespace)
    }
}
