import KubernetesCore

extension Pod {
    /// Annotations the drain logic reads; all others are dropped from caches.
    public static let annotationsKeptInCache: Set<String> = [
        "kubernetes.io/config.mirror", "karpenter.sh/do-not-disrupt", "cluster.x-k8s.io/drain",
    ]

    /// The pod reduced to what the controllers use — name, namespace, uid, labels, controlling
    /// owner, node, phase, readiness, requests, emptyDir volumes, deletion time — for caches.
    @Sendable public static func leanForCache(_ pod: Pod) -> Pod {
        var meta = ObjectMeta(name: pod.metadata.name, namespace: pod.metadata.namespace, labels: pod.metadata.labels)
        meta.uid = pod.metadata.uid
        meta.resourceVersion = pod.metadata.resourceVersion
        meta.deletionTimestamp = pod.metadata.deletionTimestamp
        meta.deletionGracePeriodSeconds = pod.metadata.deletionGracePeriodSeconds
        if let owner = pod.metadata.controllerReference { meta.ownerReferences = [owner] }
        if let a = pod.metadata.annotations?.filter({ annotationsKeptInCache.contains($0.key) }), !a.isEmpty { meta.annotations = a }
        var spec = PodSpec()
        spec.nodeName = pod.spec?.nodeName
        spec.priorityClassName = pod.spec?.priorityClassName
        spec.terminationGracePeriodSeconds = pod.spec?.terminationGracePeriodSeconds
        let emptyDirs = (pod.spec?.volumes ?? []).filter { $0.emptyDir != nil }.map { PodSpec.Volume(name: $0.name, emptyDir: .object([])) }
        spec.volumes = emptyDirs.isEmpty ? nil : emptyDirs
        spec.containers = pod.spec?.containers?.map { c in
            PodSpec.Container(name: c.name, resources: c.resources?.requests.map { PodSpec.Container.Resources(requests: $0) })
        }
        var status = PodStatus()
        status.phase = pod.status?.phase
        if let ready = pod.status?.conditions?.first(where: { $0.type == "Ready" }) { status.conditions = [ready] }
        return Pod(metadata: meta, spec: spec, status: status)
    }
}
