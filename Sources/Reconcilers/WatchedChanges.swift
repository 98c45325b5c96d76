import ControllerRuntime
import ForesightAPI
import KubernetesCore
import UpdatePlanning

/// Which changes of each kind wake the ZonePlan controller. Status heartbeats of related objects
/// are left out; every field is compared by value (`EventFilter.onChange`).
public enum ZonePlanWatches {
    /// A plan's spec (its generation) or its deletion; its own status writes do not count.
    public static let plans: EventFilter<ZonePlan> = .onChange { [$0.metadata.generation, $0.metadata.deletionTimestamp] }
    /// A Deployment's size, labels or pod template (requests, priority class), and the surge an
    /// UpdateWindow holds on it (its ledger annotation: a pool gives no node back while one is).
    public static let deployments: EventFilter<Deployment> = .onChange { [$0.metadata.labels, $0.spec, $0.metadata.annotations?[SurgeLedger.annotation]] }
    /// An HPA's bounds, and the annotations in which a plan keeps the user's own minReplicas.
    public static let autoscalers: EventFilter<HorizontalPodAutoscaler> = .onChange { [$0.spec, $0.metadata.annotations] }
    /// Namespace labels, which zones select by.
    public static let namespaces: EventFilter<Namespace> = .onChange { [$0.metadata.labels] }
    /// A node's labels (pool membership), capacity, readiness, cordon, and an UpdateWindow's taint.
    public static let nodes: EventFilter<Node> = .onChange { [$0.metadata.labels, $0.status?.allocatable, $0.isReady, $0.isUnschedulable, $0.awaitsUpdate] }
    /// What a DaemonSet's pods take from every node.
    public static let daemonSets: EventFilter<DaemonSet> = .onChange { [$0.spec] }
    /// A pod becoming Ready or not, bound, or terminating: for plans whose pool gives nodes back.
    public static let podReadiness: EventFilter<CachedPod> = .onChange { [$0.isReady, $0.nodeName, $0.deletionTime] }
    /// A Deployment's Ready count, and its progress deadline passing: for plans whose pool gives nodes back.
    public static let deploymentReadiness: EventFilter<Deployment> = .onChange { [$0.status?.readyReplicas, $0.progressDeadlineExceeded] }
}

/// Which changes of each kind wake the UpdateWindow controller.
public enum UpdateWindowWatches {
    /// A window's spec (its generation) or its deletion.
    public static let windows: EventFilter<UpdateWindow> = .onChange { [$0.metadata.generation, $0.metadata.deletionTimestamp] }
    /// A node joining, leaving, changing capacity, answering the update handshake, booting,
    /// becoming Ready or not, cordoned or uncordoned.
    public static let nodes: EventFilter<Node> = .onChange { n in
        [n.metadata.labels, n.status?.allocatable, n.isReady, n.status?.nodeInfo?.bootID,
         n.metadata.annotations?[UpdateHandshake.state], n.metadata.annotations?[NodeUpdateRecord.annotation], n.isUnschedulable]
    }
    /// Pods moving, changing size or phase, or terminating: what a drain waits for.
    public static let pods: EventFilter<CachedPod> = .onChange { [$0.nodeName, $0.cpuMillis, $0.phase, $0.deletionTime] }
    /// A Deployment's available count and size: what a surge waits for.
    public static let deployments: EventFilter<Deployment> = .onChange { [$0.status?.availableReplicas, $0.spec?.replicas] }
    /// What a budget allows now.
    public static let budgets: EventFilter<PodDisruptionBudget> = .onChange { [$0.status?.disruptionsAllowed] }
    /// A ZonePlan's forecasts refitted (its first fit included): the windows that order their
    /// nodes by them (`zonePlanRef`) plan again.
    public static let zonePlanForecasts: EventFilter<ZonePlan> = .onChange { [$0.status?["lastForecastTime"]?.stringValue] }
}
