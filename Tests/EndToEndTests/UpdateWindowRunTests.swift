import Foundation
import KubernetesClient
import KubernetesCore
import Testing

/// A fleet of simulated nodes in two zones, workloads with budgets on them, and the controller:
/// the ground an UpdateWindow scenario runs on.
final class UpdateWindowTestBed {
    let run: String
    let ns: String
    let client: KubernetesClient
    private(set) var controller: BackgroundProcess?
    private(set) var simulator: BackgroundProcess?
    private var simulatorArgs: [String] = []
    /// Base replicas of each Deployment, as the test created them.
    var desired: [String: Int] = [:]

    init(prefix: String, nodesPerZone: Int = 4, simulatorArgs: (String) -> [String] = { _ in [] }) async throws {
        try Cluster.installManifests()
        run = "\(prefix)-\(UUID().uuidString.prefix(5).lowercased())"
        ns = try Cluster.makeNamespace(run)
        client = try Cluster.admin()
        self.simulatorArgs = [
            "--nodes", "\(run)-a-:\(nodesPerZone):e2e-run=\(run),zone=a", "--nodes", "\(run)-b-:\(nodesPerZone):e2e-run=\(run),zone=b",
            "--cpu", "4", "--update-seconds", "2",
        ]
        simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), self.simulatorArgs + simulatorArgs(run),
                                          kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
        let want = 2 * nodesPerZone
        let run = self.run
        _ = try await Cluster.eventually(timeout: 90) { [client] () async throws -> Bool? in
            try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)")).items.filter(\.isReady).count == want ? true : nil
        }
    }

    func startController(name: String? = nil) throws -> BackgroundProcess {
        let c = try BackgroundProcess(Cluster.binary("foresight"), [
            "run", "--kubeconfig", Cluster.controllerKubeconfig, "--leader-elect", "--lease-namespace", "foresight-system",
            "--identity", name ?? run, "--metrics-address", "127.0.0.1:0",
        ], kubeconfig: Cluster.controllerKubeconfig, name: "controller-\(name ?? run)")
        controller = c
        return c
    }

    /// Deployments spread over the fleet, each with a budget: `web` (4, maxUnavailable 1), `api`
    /// (3, minAvailable 2) and `solo` (1, minAvailable 1: no eviction is allowed without a surge).
    func deployWorkloads() throws {
        var yaml = ""
        for (name, replicas, budget) in [("web", 4, "maxUnavailable: 1"), ("api", 3, "minAvailable: 2"), ("solo", 1, "minAvailable: 1")] {
            desired[name] = replicas
            yaml += """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: \(name), namespace: \(ns), labels: {app: \(name)}}
            spec:
              replicas: \(replicas)
              selector: {matchLabels: {app: \(name)}}
              template:
                metadata: {labels: {app: \(name)}}
                spec:
                  nodeSelector: {e2e-run: \(run)}
                  terminationGracePeriodSeconds: 1
                  containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]
            ---
            apiVersion: policy/v1beta1
            kind: PodDisruptionBudget
            metadata: {name: \(name), namespace: \(ns)}
            spec:
              \(budget)
              selector: {matchLabels: {app: \(name)}}
            ---

            """
        }
        // `scaled` is under an HPA: its surge must raise the HPA's floor too, and give it back.
        desired["scaled"] = 2
        yaml += """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: scaled, namespace: \(ns)}
        spec:
          replicas: 2
          selector: {matchLabels: {app: scaled}}
          template:
            metadata: {labels: {app: scaled}}
            spec:
              nodeSelector: {e2e-run: \(run)}
              terminationGracePeriodSeconds: 1
              containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]
        ---
        apiVersion: autoscaling/v1
        kind: HorizontalPodAutoscaler
        metadata: {name: scaled, namespace: \(ns)}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}
          minReplicas: 2
          maxReplicas: 6
          targetCPUUtilizationPercentage: 80

        """
        try Cluster.kubectl(["apply", "-f", "-"], stdin: yaml)
        for name in desired.keys { try Cluster.kubectl(["rollout", "status", "deployment/\(name)", "-n", ns, "--timeout=120s"]) }
    }

    func applyWindow(_ extra: String, start: Date = Date().addingTimeInterval(-5), duration: String = "1h") throws {
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(run)}
        spec:
          nodeSelector: {matchLabels: {e2e-run: \(run)}}
          schedule: {start: "\(Timestamp.format(start))", duration: \(duration)}
        \(extra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """)
    }

    func path(_ p: String) throws -> String { try Cluster.kubectl(["get", "updatewindow", run, "-o", "jsonpath={\(p)}"]).out }

    func nodes() async throws -> [Node] { try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)")).items }

    /// Eviction Events per pod UID, from the controller's Events on pods, in every namespace (the
    /// manifests' own controller Deployment has pods on the simulated nodes too).
    func evictionsPerPod() async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for e in try await client.listAll(Event.self).items
        where e.reason == "Evicted" && e.involvedObject?.kind == "Pod" && (e.message ?? "").contains("UpdateWindow \(run) ") {
            out[e.involvedObject?.uid ?? "", default: 0] += e.count ?? 1
        }
        return out
    }

    /// The guarantees every ending must keep: no node of the run cordoned (except those listed),
    /// none tainted, no surge ledger left, every Deployment at its base replicas.
    func expectNothingLeftBehind(cordonedOnPurpose: Set<String> = []) async throws {
        for n in try await nodes() {
            #expect(n.isUnschedulable == cordonedOnPurpose.contains(n.name), "\(n.name) unschedulable: \(n.isUnschedulable)")
            #expect(!(n.spec?.taints ?? []).contains { $0.key == "foresight.dev/update-pending" }, "\(n.name) still has the pending taint")
        }
        for d in try await client.list(Deployment.self, namespace: ns).items {
            #expect(d.metadata.annotations?["foresight.dev/surge"] == nil, "\(d.name) still carries a surge: \(d.metadata.annotations?["foresight.dev/surge"] ?? "")")
            #expect(d.spec?.replicas == desired[d.name], "\(d.name) has \(d.spec?.replicas ?? -1) replicas, not \(desired[d.name] ?? -1)")
        }
        for h in try await client.list(HorizontalPodAutoscaler.self, namespace: ns).items {
            #expect(h.spec?.minReplicas == 2 && h.metadata.annotations?["foresight.dev/surge-original-min-replicas"] == nil,
                    "HPA \(h.name) keeps a surge: min \(h.spec?.minReplicas ?? -1)")
        }
    }

    func tearDown() {
        _ = try? Cluster.kubectl(["delete", "updatewindow", run, "--timeout=30s"], allowFailure: true)
        controller?.stop()
        simulator?.stop()
        Cluster.deleteNamespace(ns)
        _ = try? Cluster.kubectl(["delete", "nodes", "-l", "e2e-run=\(run)", "--wait=false"], allowFailure: true)
    }
}

extension EndToEnd {
/// UpdateWindows run on the real control plane: the real ReplicaSet controller and scheduler move
/// the pods, simulated kubelets and node agents answer the handshake.
@Suite struct UpdateWindowRunTests {
    @Test func aWindowUpdatesEveryNodeWithoutCapacityDipping() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwrun")
        defer { bed.tearDown() }
        try bed.deployWorkloads()
        let recorder = CapacityRecorder(client: bed.client, namespace: bed.ns, nodeLabelSelector: "e2e-run=\(bed.run)")
        let controller = try bed.startController()
        let began = Date()
        try bed.applyWindow("""
        maxUnavailable: 1
        order: PredictedLoad
        drain: {timeout: 3m}
        update: {target: {osImage: "Debian GNU/Linux 13 (trixie)", kernelVersion: "6.12.0-1-amd64"}, nodeTimeout: 3m}
        verify: {settle: 2s}
        """)
        let plan = try await Cluster.eventually(timeout: 60) { () throws -> [String]? in
            let nodes = try bed.path(".status.plan[*].node").split(separator: " ").map(String.init)
            return nodes.count == 8 ? nodes : nil
        }
        let phase = try await Cluster.eventually(timeout: 600) { () throws -> String? in
            let p = try bed.path(".status.phase")
            return p == "Completed" || p == "Failed" ? p : nil
        }
        let samples = recorder.stop()
        print("window finished \(phase) in \(Int(Date().timeIntervalSince(began))) s; plan \(plan)")
        let conditions = try bed.path(".status.conditions")
        #expect(phase == "Completed", "\(conditions)")
        #expect(try bed.path(".status.progress") == "8/8")
        #expect(try bed.path(".status.conditions[?(@.type==\"Ready\")].status") == "True")

        // Every node is on the target, rebooted, and the order was the plan's.
        let nodes = try await bed.nodes()
        for n in nodes {
            #expect(n.status?.nodeInfo?.osImage == "Debian GNU/Linux 13 (trixie)" && n.status?.nodeInfo?.kernelVersion == "6.12.0-1-amd64", "\(n.name)")
        }
        let started = try bed.path(".status.nodes[*].startedAt").split(separator: " ").compactMap { Timestamp.parse(String($0)) }
        let names = try bed.path(".status.nodes[*].name").split(separator: " ").map(String.init)
        let finalPlan = try bed.path(".status.plan[*].node").split(separator: " ").map(String.init)
        #expect(names == finalPlan, "status.nodes follows the plan")
        #expect(plan.first == finalPlan.first, "the first node planned is the first that went")
        #expect(started.count == 8 && started == started.sorted(), "nodes started in plan order: \(names) at \(started)")

        // Capacity never dipped: every Deployment kept at least its desired available replicas
        // through the window (the surge comes first), and no pod was evicted twice.
        for (name, want) in bed.desired {
            let low = CapacityRecorder.minimumAvailable(samples.filter { $0.time > began.addingTimeInterval(5) }, deployment: name)
            print("\(name): desired \(want), lowest available \(low ?? -1) over \(samples.count) samples")
            #expect((low ?? 0) >= want, "\(name) dipped to \(low ?? -1) available")
        }
        let evictions = try await bed.evictionsPerPod()
        print("evicted per node: \(try bed.path(".status.nodes[*].evictedPods"))")
        let evicted = try bed.path(".status.nodes[*].evictedPods").split(separator: " ").compactMap { Int($0) }.reduce(0, +)
        print("evictions: \(evicted) in status, \(evictions.values.reduce(0, +)) Events over \(evictions.count) pods; \(Double(evicted) / Double(bed.desired.values.reduce(0, +))) per replica")
        #expect(evictions.values.allSatisfy { $0 == 1 }, "a pod was evicted more than once: \(evictions)")
        #expect(evicted == evictions.count)
        #expect(samples.allSatisfy { $0.unschedulable.count <= 1 }, "at most maxUnavailable (1) nodes cordoned at once")
        // What a user sees: the printer columns, and the metrics.
        let table = try Cluster.kubectl(["get", "updatewindow", bed.run]).out
        #expect(table.contains("Completed") && table.contains("8/8") && table.contains("PROGRESS"), "\(table)")
        let port = controller.log.split(separator: "\n").compactMap { line -> Substring? in
            guard line.contains("serving /metrics") else { return nil }
            return line.split(separator: ":").last
        }.first.map(String.init) ?? ""
        let metrics = try Cluster.run("curl", ["-s", "http://127.0.0.1:\(port)/metrics"]).out
        #expect(metrics.contains("foresight_update_nodes{window=\"\(bed.run)\",phase=\"Done\"} 8"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("foresight_update_evictions_total{window=\"\(bed.run)\"} \(evicted)"))
        #expect(metrics.contains("foresight_update_surge_replicas{window=\"\(bed.run)\"} 0"))
        try await Task.sleep(for: .seconds(3))
        try await bed.expectNothingLeftBehind()
    }
}
}

extension UpdateWindowTestBed {
    /// Each node's phase from its record annotation (nil: no record of this window).
    func nodePhases() async throws -> [String: String] {
        var out: [String: String] = [:]
        for n in try await nodes() {
            guard let value = n.metadata.annotations?["foresight.dev/update-record"], let data = value.data(using: .utf8),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], json["window"] as? String == run else { continue }
            out[n.name] = json["phase"] as? String
        }
        return out
    }

    func waitForPhase(_ phases: Set<String>, timeout: Double = 600) async throws -> String {
        try await Cluster.eventually(timeout: timeout) { () throws -> String? in
            let p = try self.path(".status.phase")
            return phases.contains(p) ? p : nil
        }
    }
}

extension EndToEnd {
@Suite struct UpdateWindowFailureTests {
    /// A node whose agent always fails is left cordoned with the reason and retried once at the end;
    /// the others are updated. With maxFailedNodes 0 a failure halts the window at once.
    @Test func aFailingNodeIsRetriedThenLeftCordonedAndTooManyFailuresHalt() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwfail", nodesPerZone: 2, simulatorArgs: { ["--fail-updates-of", "\($0)-a-0"] })
        defer { bed.tearDown() }
        try bed.deployWorkloads()
        _ = try bed.startController()
        try bed.applyWindow("""
        order: Given
        nodes: [\(bed.run)-a-0, \(bed.run)-a-1, \(bed.run)-b-0, \(bed.run)-b-1]
        maxFailedNodes: 1
        update: {nodeTimeout: 2m}
        verify: {settle: 1s}
        """)
        let phase = try await bed.waitForPhase(["Failed", "Completed"])
        #expect(phase == "Failed")
        #expect(try bed.path(".status.conditions[?(@.type==\"Ready\")].reason") == "NodesFailed")
        #expect(try bed.path(".status.progress") == "3/4")
        let failed = "\(bed.run)-a-0"
        #expect(try bed.path(".status.nodes[?(@.name==\"\(failed)\")].phase") == "Failed")
        let message = try bed.path(".status.nodes[?(@.name==\"\(failed)\")].message")
        #expect(message.contains("simulated update failure"), "\(message)")
        let order = try bed.path(".status.nodes[*].name").split(separator: " ").map(String.init)
        #expect(order.last == failed && order.count == 4, "retried last: \(order)")
        let record = try await bed.client.get(Node.self, name: failed).metadata.annotations?["foresight.dev/update-record"] ?? ""
        #expect(record.contains("\"attempts\":2"), "retried once at the end: \(record)")
        try await Task.sleep(for: .seconds(3))
        try await bed.expectNothingLeftBehind(cordonedOnPurpose: [failed])

        // maxFailedNodes 0: the first failure halts; nothing else starts.
        try Cluster.kubectl(["delete", "updatewindow", bed.run, "--timeout=60s"])
        #expect(try await bed.client.get(Node.self, name: failed).isUnschedulable == false, "a deleted window lets go of its failed node")
        try bed.applyWindow("""
        order: Given
        nodes: [\(bed.run)-a-0, \(bed.run)-a-1, \(bed.run)-b-0, \(bed.run)-b-1]
        maxFailedNodes: 0
        update: {nodeTimeout: 2m}
        verify: {settle: 1s}
        """)
        let halted = try await bed.waitForPhase(["Failed", "Completed"])
        #expect(halted == "Failed")
        #expect(try bed.path(".status.conditions[?(@.type==\"Ready\")].reason") == "TooManyFailedNodes")
        try await Task.sleep(for: .seconds(4))
        let phases = try await bed.nodePhases()
        #expect(phases == [failed: "Failed"], "nothing else started: \(phases)")
        try await bed.expectNothingLeftBehind(cordonedOnPurpose: [failed])

        // Without preScale, replicas 1 under minAvailable 1 could never be evicted: the node is
        // set aside before it is touched, with the budget named.
        try Cluster.kubectl(["delete", "updatewindow", bed.run, "--timeout=60s"])
        let soloNode = try await bed.client.list(Pod.self, namespace: bed.ns, options: ListOptions(labelSelector: "app=solo")).items.first?.spec?.nodeName ?? ""
        try bed.applyWindow("""
        nodes: [\(soloNode)]
        preScale: false
        """)
        let deadlocked = try await bed.waitForPhase(["Failed", "Completed"], timeout: 60)
        #expect(deadlocked == "Failed")
        let why = try bed.path(".status.nodes[0].message")
        #expect(why.contains("PodDisruptionBudget \(bed.ns)/solo allows no disruption"), "\(why)")
        #expect(try await bed.client.get(Node.self, name: soloNode).isUnschedulable == false, "a node that cannot be drained is not cordoned")
    }

    /// A node already on the window's target (here updated by an earlier window) is done as it
    /// is: never cordoned or rebooted for it; the other is updated. (The earlier window named a
    /// kernel too, so its record is for another target and does not count.)
    @Test func aNodeAlreadyOnTheTargetIsNotUpdatedAgain() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwon", nodesPerZone: 1)
        defer { bed.tearDown() }
        _ = try bed.startController()
        let first = "\(bed.run)-a-0", second = "\(bed.run)-b-0"
        try bed.applyWindow("""
        nodes: [\(first)]
        update: {target: {osImage: "Debian GNU/Linux 13 (trixie)", kernelVersion: "6.12.0-1-amd64"}, nodeTimeout: 2m}
        verify: {settle: 1s}
        """)
        #expect(try await bed.waitForPhase(["Failed", "Completed"]) == "Completed")
        try Cluster.kubectl(["delete", "updatewindow", bed.run, "--timeout=60s"])
        let bootBefore = try await bed.client.get(Node.self, name: first).status?.nodeInfo?.bootID
        let otherBootBefore = try await bed.client.get(Node.self, name: second).status?.nodeInfo?.bootID
        try bed.applyWindow("""
        update: {target: {osImage: "Debian GNU/Linux 13 (trixie)"}, nodeTimeout: 2m}
        verify: {settle: 1s}
        """)
        #expect(try await bed.waitForPhase(["Failed", "Completed"]) == "Completed")
        #expect(try bed.path(".status.progress") == "2/2")
        let message = try bed.path(".status.nodes[?(@.name==\"\(first)\")].message")
        #expect(message.contains("already on the target"), "\(message)")
        #expect(try await bed.client.get(Node.self, name: first).status?.nodeInfo?.bootID == bootBefore, "not rebooted")
        #expect(try await bed.client.get(Node.self, name: second).status?.nodeInfo?.bootID != otherBootBefore, "the other node was updated")
        let cordons = try await bed.client.listAll(Event.self).items.filter {
            $0.reason == "Cordoned" && $0.involvedObject?.name == first && ($0.message ?? "").contains("UpdateWindow \(bed.run) ")
        }.reduce(0) { $0 + ($1.count ?? 1) }
        #expect(cordons == 1, "cordoned by the first window only")
        try await bed.expectNothingLeftBehind()
    }

    /// A recurring window that closes with nodes left: the node in flight finishes, the rest wait
    /// (nothing cordoned, tainted or surged in between) and go in the next occurrence. Pausing stops
    /// new nodes; resuming goes on.
    @Test func aWindowThatClosesResumesAtTheNextOccurrenceAndPauseHolds() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwcron", nodesPerZone: 2)
        defer { bed.tearDown() }
        try bed.deployWorkloads()
        _ = try bed.startController()
        // Every minute, open for 15 s; each node takes about 10 s with its 6 s settle.
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(bed.run)}
        spec:
          nodeSelector: {matchLabels: {e2e-run: \(bed.run)}}
          schedule: {cron: "* * * * *", duration: 15s}
          verify: {settle: 6s}
        """)
        // The first occurrence ends with nodes left.
        let gap = try await Cluster.eventually(timeout: 150) { () throws -> String? in
            let progress = try bed.path(".status.progress"), phase = try bed.path(".status.phase")
            return phase == "Waiting" && progress != "0/4" && progress != "4/4" ? progress : nil
        }
        print("after the first occurrence: \(gap)")
        let between = try await bed.nodePhases()
        #expect(between.values.allSatisfy { $0 == "Done" }, "in flight finished before waiting: \(between)")
        #expect(try bed.path(".status.conditions[?(@.type==\"Ready\")].message").contains("wait for the next window"))
        try await bed.expectNothingLeftBehind()

        // Pause: the next occurrence starts nothing.
        try Cluster.kubectl(["patch", "updatewindow", bed.run, "--type", "merge", "-p", #"{"spec":{"paused":true}}"#])
        _ = try await bed.waitForPhase(["Paused"], timeout: 90)
        let heldAt = try bed.path(".status.progress")
        try await Task.sleep(for: .seconds(70))
        #expect(try bed.path(".status.progress") == heldAt, "paused: no node went")
        #expect(try await bed.nodePhases().values.allSatisfy { $0 == "Done" })
        try Cluster.kubectl(["patch", "updatewindow", bed.run, "--type", "merge", "-p", #"{"spec":{"paused":false}}"#])
        let end = try await bed.waitForPhase(["Completed"], timeout: 240)
        #expect(end == "Completed")
        try await Task.sleep(for: .seconds(3))
        try await bed.expectNothingLeftBehind()
    }

    /// The controller SIGKILLed while a node is being raised, drained, updated and verified, and
    /// started again each time: the window completes with the same guarantees as an undisturbed one.
    @Test func aControllerKilledAtEveryStepResumesWithoutHarm() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwkill", nodesPerZone: 2)
        defer { bed.tearDown() }
        try bed.deployWorkloads()
        let recorder = CapacityRecorder(client: bed.client, namespace: bed.ns, nodeLabelSelector: "e2e-run=\(bed.run)")
        var controller = try bed.startController(name: "\(bed.run)-kill")
        let began = Date()
        try bed.applyWindow("""
        drain: {timeout: 3m}
        update: {nodeTimeout: 3m}
        verify: {settle: 4s}
        """)
        var kills: [String] = []
        for step in ["PreScaling", "Draining", "Updating", "Verifying"] {
            let node = try await Cluster.eventually(timeout: 180) { () async throws -> String? in
                try await bed.nodePhases().first { $0.value == step }?.key
            }
            controller.kill()
            kills.append("\(step) of \(node)")
            controller = try bed.startController(name: "\(bed.run)-kill")
        }
        print("killed during: \(kills.joined(separator: ", "))")
        let phase = try await bed.waitForPhase(["Completed", "Failed"])
        let samples = recorder.stop()
        #expect(phase == "Completed")
        for (name, want) in bed.desired {
            let low = CapacityRecorder.minimumAvailable(samples.filter { $0.time > began.addingTimeInterval(5) }, deployment: name)
            #expect((low ?? 0) >= want, "\(name) dipped to \(low ?? -1) available")
        }
        let evictions = try await bed.evictionsPerPod()
        #expect(evictions.values.allSatisfy { $0 == 1 }, "a pod was evicted more than once: \(evictions)")
        try await Task.sleep(for: .seconds(3))
        try await bed.expectNothingLeftBehind()
    }
}
}

extension EndToEnd {
@Suite struct UpdateWindowForecastTests {
    /// With `zonePlanRef`, the plan is made on the ZonePlan's zone forecasts, and says so.
    @Test func aWindowIsPlannedOnItsZonePlansForecasts() async throws {
        let bed = try await UpdateWindowTestBed(prefix: "uwzp", nodesPerZone: 2)
        defer {
            _ = try? Cluster.kubectl(["delete", "zoneplan", bed.run, "--timeout=30s"], allowFailure: true)
            bed.tearDown()
        }
        try bed.deployWorkloads()
        let csv = risingTraceCSV(now: Date(), days: 8, base: 100, amplitude: 300, peakAhead: 3 * 3600, noiseSeed: 7)
        var configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: load-history, namespace: \(bed.ns)}\ndata:\n  web: |\n"
        configMap += csv.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n") + "\n"
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMap)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(bed.run)}
        spec:
          mode: DryRun
          forecast:
            source: {configMap: {namespace: \(bed.ns), name: load-history}}
            horizon: 6h
            step: 5m
            seasonalities: [1d]
          zones:
          - name: web
            priority: 100
            workloads: {selector: {matchLabels: {app: web}}}
            load: {perReplica: 100}
            minReplicas: 1
            maxReplicas: 40
        """)
        _ = try bed.startController()
        try bed.applyWindow("""
        zonePlanRef: {name: \(bed.run)}
        update: {nodeTimeout: 20m}
        verify: {settle: 1m}
        """, start: Date().addingTimeInterval(3600), duration: "4h")
        let message = try await Cluster.eventually(timeout: 180) { () throws -> String? in
            let m = try bed.path(".status.conditions[?(@.type==\"PlanFits\")].message")
            return m.contains("the forecasts of ZonePlan") ? m : nil
        }
        #expect(message.contains("(web)"), "\(message)")
        let loads = try bed.path(".status.plan[*].predictedLoad").split(separator: " ").compactMap { Double($0) }
        let planned = try bed.path(".status.plan[*].node").split(separator: " ").map(String.init)
        #expect(loads.count == 4)
        // By requests each node's load would be the CPU its pods request; `web`'s pods count by
        // the forecast instead, so the nodes holding them differ from that.
        let pods = try await bed.client.list(Pod.self, namespace: bed.ns).items
        let requests = planned.map { node in Double(pods.filter { $0.spec?.nodeName == node }.count) * 500 }
        print("plan on forecasts: \(message); loads \(loads), by requests \(requests)")
        #expect(loads != requests, "the forecast, not the requests, sets the load")
    }
}

@Suite struct NodeAgentE2ETests {
    /// `foresight node-agent`, run as a process for one node, answers the controller's request: its
    /// command "reboots" the node by giving it a new boot ID, the simulated kubelet reports it,
    /// and the controller verifies and uncordons.
    @Test func theNodeAgentCarriesOutTheHandshake() async throws {
        let bootFile = "\(Cluster.directory!)/boot-\(UUID().uuidString.prefix(6))"
        try "\(UUID().uuidString.lowercased())\n".write(toFile: bootFile, atomically: true, encoding: .utf8)
        let bed = try await UpdateWindowTestBed(prefix: "uwagent", nodesPerZone: 1, simulatorArgs: { ["--external-agent", "\($0)-a-0=\(bootFile)", "--cpu", "16"] })
        defer { bed.tearDown() }
        let node = "\(bed.run)-a-0"
        let before = try await bed.client.get(Node.self, name: node).status?.nodeInfo?.bootID
        // The agent runs with exactly the shipped RBAC (the DaemonSet itself would put agents on
        // every simulated node): a server-side dry run of the whole component, then its account.
        try Cluster.kubectl(["apply", "-k", "manifests/node-agent", "--dry-run=server"])
        try Cluster.kubectl(["apply", "-f", "manifests/node-agent/rbac.yaml"])
        let agent = try BackgroundProcess(Cluster.binary("foresight"), [
            "node-agent", "--node", node, "--boot-id-file", bootFile, "--state-dir", "\(Cluster.directory!)/agent-\(bed.run)",
            "--command", "echo upgrading; sleep 1; cat /proc/sys/kernel/random/uuid > \(bootFile)",
        ], kubeconfig: Cluster.agentKubeconfig, name: "agent-\(bed.run)")
        defer { agent.stop() }
        try bed.deployWorkloads()
        _ = try bed.startController()
        try bed.applyWindow("""
        nodes: [\(node)]
        verify: {settle: 1s}
        update: {nodeTimeout: 2m}
        """)
        let phase = try? await bed.waitForPhase(["Completed", "Failed"], timeout: 180)
        let nodes = try bed.path(".status.nodes")
        #expect(phase == "Completed", "\(nodes)\n\(agent.log.suffix(600))")
        let after = try await bed.client.get(Node.self, name: node)
        let newBoot = try String(contentsOfFile: bootFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(after.status?.nodeInfo?.bootID == newBoot && newBoot != before, "the node came back on the agent's new boot")
        #expect(after.metadata.annotations?["foresight.dev/update"] == "done")
        #expect(agent.log.contains("in-progress") && agent.log.contains(": done"), "\(agent.log.suffix(600))")
        try await bed.expectNothingLeftBehind()
    }
}
}
