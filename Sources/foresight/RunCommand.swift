import ArgumentParser
import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import Metrics
import Prometheus
import Reconcilers
import ServiceLifecycle
import UpdatePlanning

/// `foresight run`: the controller.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the controller (in a cluster, or against a kubeconfig).")

    @Option(help: "Path to a kubeconfig (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use.")
    var context: String?

    @Flag(help: "Elect one leader among replicas through a Lease before reconciling.")
    var leaderElect = false

    @Option(help: "Namespace of the leader-election Lease (default: POD_NAMESPACE, else foresight-system).")
    var leaseNamespace: String?

    @Option(help: "Name of the leader-election Lease.")
    var leaseName = "foresight-controller"

    @Option(help: "This replica's identity in the Lease (default: POD_NAME, else host name and process id).")
    var identity: String?

    @Option(help: "Where to serve /metrics, /healthz and /readyz (HOST:PORT; port 0 picks one).")
    var metricsAddress = "127.0.0.1:8080"

    @Option(help: "Concurrent reconciles per controller.")
    var workers = 2

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        try CommandLogging.validate(logLevel)
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    func run() async throws {
        CommandLogging.bootstrap(logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "foresight")
        let env = ProcessInfo.processInfo.environment

        let connection: ClusterConnection
        do { connection = try KubeConfigLoader.load(explicitPath: kubeconfig, context: context) } catch {
            throw CommandFailure("cannot load a connection: \(error)")
        }
        let client = KubernetesClient(connection: connection, userAgent: "foresight-controller")
        let events = EventRecorder(client: client)

        let informers = SharedInformers(client: client)
        let zonePlans = informers.informer(ZonePlan.self)
        let windows = informers.informer(UpdateWindow.self)
        let deployments = informers.informer(Deployment.self)
        let autoscalers = informers.informer(HorizontalPodAutoscaler.self)
        let namespaces = informers.informer(Namespace.self)
        let nodes = informers.informer(Node.self)
        let daemonSets = informers.informer(DaemonSet.self)
        let pods = informers.informer(CachedPod.self, indexers: CachedPod.indexers)
        let replicaSets = informers.informer(ReplicaSet.self)
        let zoneReconciler = ZonePlanReconciler(client: client, caches: ZonePlanCaches(
            plans: zonePlans.store, deployments: deployments.store, autoscalers: autoscalers.store, namespaces: namespaces.store,
            nodes: nodes.store, daemonSets: daemonSets.store, pods: pods.store, replicaSets: replicaSets.store), events: events)
        let zonePlanController = await Controller(name: "zoneplan", informer: zonePlans,
                                                  filter: .onChange { [$0.metadata.generation.map(String.init), $0.metadata.deletionTimestamp] }, workers: workers) {
            try await zoneReconciler.reconcile($0)
        }
        // Changes that can move a plan: a Deployment's size, labels or pod requests; an HPA's bounds;
        // namespace labels; a node joining, leaving, or changing capacity; DaemonSet requests. Every
        // plan is looked at (plans are few); status heartbeats of these objects are filtered out.
        let everyPlan: @Sendable (Any) -> [ObjectKey] = { _ in zonePlans.store.keys }
        await zonePlanController.watches(deployments, filter: .onChange { [String(describing: $0.metadata.labels), String(describing: $0.spec)] }, mapping: everyPlan)
        await zonePlanController.watches(autoscalers, filter: .onChange { [String(describing: $0.spec), String(describing: $0.metadata.annotations)] }, mapping: everyPlan)
        await zonePlanController.watches(namespaces, filter: .onChange { $0.metadata.labels }, mapping: everyPlan)
        await zonePlanController.watches(nodes, filter: .onChange { [String(describing: $0.metadata.labels), String(describing: $0.status?.allocatable), String($0.isReady)] },
                                         mapping: everyPlan)
        await zonePlanController.watches(daemonSets, filter: .onChange { String(describing: $0.spec) }, mapping: everyPlan)
        let budgets = informers.informer(PodDisruptionBudget.self, discoverVersion: true)
        var windowReconciler = UpdateWindowReconciler(client: client, caches: UpdateWindowCaches(
            windows: windows.store, nodes: nodes.store, pods: pods.store, deployments: deployments.store, replicaSets: replicaSets.store,
            budgets: budgets.store, daemonSets: daemonSets.store, autoscalers: autoscalers.store), events: events)
        windowReconciler.zoneOutlooks = { await zoneReconciler.loadOutlooks(planName: $0) }
        let windowRunner = windowReconciler
        let windowController = await Controller(name: "updatewindow", informer: windows,
                                                filter: .onChange { [$0.metadata.generation.map(String.init), $0.metadata.deletionTimestamp] }, workers: workers) {
            try await windowRunner.reconcile($0)
        }
        // A window moves with its nodes (joining, leaving, capacity, the agent's answers, boots,
        // readiness), the pods on them, and the workloads and budgets a drain waits for. Windows
        // are few; every one is looked at. A window with work in flight also polls.
        let everyWindow: @Sendable (Any) -> [ObjectKey] = { _ in windows.store.keys }
        await windowController.watches(nodes, filter: .onChange { n in
            [String(describing: n.metadata.labels), String(describing: n.status?.allocatable), String(n.isReady), n.status?.nodeInfo?.bootID,
             n.metadata.annotations?[UpdateHandshake.state], n.metadata.annotations?[NodeUpdateRecord.annotation], String(n.isUnschedulable)]
        }, mapping: everyWindow)
        await windowController.watches(pods, filter: .onChange { [$0.nodeName, String($0.cpuMillis), String(describing: $0.phase), $0.deletionTime.map(String.init)] },
                                       mapping: everyWindow)
        await windowController.watches(deployments, filter: .onChange { [String(describing: $0.status?.availableReplicas), String(describing: $0.spec?.replicas)] },
                                       mapping: everyWindow)
        await windowController.watches(budgets, filter: .onChange { [String(describing: $0.status?.disruptionsAllowed)] }, mapping: everyWindow)

        let elector: LeaderElector? = leaderElect ? LeaderElector(
            client: client, namespace: leaseNamespace ?? env["POD_NAMESPACE"] ?? "foresight-system", name: leaseName,
            identity: identity ?? env["POD_NAME"] ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())") : nil
        let manager = ControllerManager(informers: informers, elector: elector, controllers: [zonePlanController, windowController], logger: logger)
        let health = try HealthServer(address: metricsAddress, metrics: {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }, liveness: { manager.liveness() }, readiness: { manager.readiness() })
        try health.start()
        logger.info("connected to \(connection.server) (\(connection.origin))")
        let group = ServiceGroup(configuration: .init(services: [.init(service: manager)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        health.stop()
        logger.info("stopped")
    }
}

