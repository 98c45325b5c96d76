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
    /// Base replicas of each Deployment, as the test created them.
    var desired: [String: Int] = [:]

    init(prefix: String, nodesPerZone: Int = 4, simulatorArgs: [String] = []) async throws {
        try Cluster.installManifests()
        run = "\(prefix)-\(UUID().uuidString.prefix(5).lowercased())"
        ns = try Cluster.makeNamespace(run)
        client = try Cluster.admin()
        simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), [
            "--nodes", "\(run)-a-:\(nodesPerZone):e2e-run=\(run),zone=a", "--nodes", "\(run)-b-:\(nodesPerZone):e2e-run=\(run),zone=b",
            "--cpu", "4", "--update-seconds", "2",
        ] + simulatorArgs, kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
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
            metadata: {name: \(name), namespace: \(ns)}
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

    /// Eviction Events per pod UID, from the controller's Events on pods.
    func evictionsPerPod() async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for e in try await client.list(Event.self, namespace: ns).items where e.reason == "Evicted" && e.involvedObject?.kind == "Pod" {
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
        _ = try bed.startController()
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
        try await Task.sleep(for: .seconds(3))
        try await bed.expectNothingLeftBehind()
    }
}
}
