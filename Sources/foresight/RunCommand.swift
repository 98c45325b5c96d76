import ArgumentParser
import ControllerRuntime
import Forecasting
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

    @Option(help: "How often each ZonePlan is looked at again without any event (a duration: 30s, 5m).")
    var zoneplanResync = "30s"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        try CommandLogging.validate(logLevel)
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard let seconds = DurationParser.seconds(zoneplanResync), seconds >= 1 else {
            throw ValidationError("--zoneplan-resync must be a duration of at least 1s (30s, 5m), found \"\(zoneplanResync)\"")
        }
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
        var zonePlanReconciler = ZonePlanReconciler(client: client, caches: ZonePlanCaches(
            plans: zonePlans.store, deployments: deployments.store, autoscalers: autoscalers.store, namespaces: namespaces.store,
            nodes: nodes.store, daemonSets: daemonSets.store, pods: pods.store, replicaSets: replicaSets.store), events: events)
        zonePlanReconciler.resyncSeconds = Double(DurationParser.seconds(zoneplanResync) ?? 30)
        let zoneReconciler = zonePlanReconciler
        let zonePlanController = await Controller(name: "zoneplan", informer: zonePlans,
                                                  filter: ZonePlanWatches.plans, workers: workers) {
            try await zoneReconciler.reconcile($0)
        }
        // Changes that can move a plan: a Deployment's size, labels or pod requests; an HPA's bounds;
        // namespace labels; a node joining, leaving, or changing capacity; DaemonSet requests. Every
        // plan is looked at (plans are few); status heartbeats of these objects are filtered out.
        let everyPlan: @Sendable (Any) -> [ObjectKey] = { _ in zonePlans.store.keys }
        await zonePlanController.watches(deployments, filter: ZonePlanWatches.deployments, mapping: everyPlan)
        await zonePlanController.watches(autoscalers, filter: ZonePlanWatches.autoscalers, mapping: everyPlan)
        await zonePlanController.watches(namespaces, filter: ZonePlanWatches.namespaces, mapping: everyPlan)
        await zonePlanController.watches(nodes, filter: ZonePlanWatches.nodes, mapping: everyPlan)
        await zonePlanController.watches(daemonSets, filter: ZonePlanWatches.daemonSets, mapping: everyPlan)
        // A pool giving nodes back waits on readiness (its surge, then the replacements of the
        // pods of the node that went): those plans, and only those, also follow pods and
        // Deployments becoming Ready or going, in their zones' namespaces.
        await zonePlanController.watches(pods, filter: ZonePlanWatches.podReadiness) { zoneReconciler.awaitingReadiness.keys(following: $0.namespace) }
        await zonePlanController.watches(deployments, filter: ZonePlanWatches.deploymentReadiness) {
            zoneReconciler.awaitingReadiness.keys(following: $0.metadata.namespace ?? "")
        }
        let budgets = informers.informer(PodDisruptionBudget.self, discoverVersion: true)
        var windowReconciler = UpdateWindowReconciler(client: client, caches: UpdateWindowCaches(
            windows: windows.store, nodes: nodes.store, pods: pods.store, deployments: deployments.store, replicaSets: replicaSets.store,
            budgets: budgets.store, daemonSets: daemonSets.store, autoscalers: autoscalers.store), events: events)
        windowReconciler.zoneOutlooks = { await zoneReconciler.loadOutlooks(planName: $0) }
        let windowRunner = windowReconciler
        let windowController = await Controller(name: "updatewindow", informer: windows,
                                                filter: UpdateWindowWatches.windows, workers: workers) {
            try await windowRunner.reconcile($0)
        }
        // A window moves with its nodes (joining, leaving, capacity, the agent's answers, boots,
        // readiness), the pods on them, and the workloads and budgets a drain waits for. Windows
        // are few; every one is looked at. A window with work in flight also polls.
        let everyWindow: @Sendable (Any) -> [ObjectKey] = { _ in windows.store.keys }
        await windowController.watches(nodes, filter: UpdateWindowWatches.nodes, mapping: everyWindow)
        await windowController.watches(pods, filter: UpdateWindowWatches.pods, mapping: everyWindow)
        await windowController.watches(deployments, filter: UpdateWindowWatches.deployments, mapping: everyWindow)
        await windowController.watches(budgets, filter: UpdateWindowWatches.budgets, mapping: everyWindow)
        await windowController.watches(zonePlans, filter: UpdateWindowWatches.zonePlanForecasts) { plan in
            windows.store.list().filter { $0.spec?.zonePlanRef?.name == plan.name }.map(\.key)
        }

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

