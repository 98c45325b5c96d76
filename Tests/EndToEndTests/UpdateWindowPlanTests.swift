import Foundation
import KubernetesClient
import KubernetesCore
import Testing

extension EndToEnd {
/// An UpdateWindow's plan is reported before its window opens.
@Suite struct UpdateWindowPlanTests {
    @Test func theNextWindowAndItsPlanAreInStatus() async throws {
        try Cluster.installManifests()
        let run = "uw-\(UUID().uuidString.prefix(5).lowercased())"
        let simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), ["--nodes", "\(run)-:4:e2e-run=\(run)"],
                                              kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
        let controller = try BackgroundProcess(Cluster.binary("foresight"), [
            "run", "--kubeconfig", Cluster.controllerKubeconfig, "--leader-elect", "--lease-namespace", "foresight-system",
            "--identity", run, "--metrics-address", "127.0.0.1:0",
        ], kubeconfig: Cluster.controllerKubeconfig, name: "controller-\(run)")
        let ns = try Cluster.makeNamespace(run)
        defer {
            _ = try? Cluster.kubectl(["delete", "updatewindow", run, "--timeout=30s"], allowFailure: true)
            controller.stop()
            simulator.stop()
            Cluster.deleteNamespace(ns)
            _ = try? Cluster.kubectl(["delete", "nodes", "-l", "e2e-run=\(run)", "--wait=false"], allowFailure: true)
        }
        let client = try Cluster.admin()
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in
            try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)")).items.filter(\.isReady).count == 4 ? true : nil
        }
        // Uneven load: one pod of 2 CPU pinned to the first node, 500m pods spread by the scheduler.
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: v1
        kind: Pod
        metadata: {name: big, namespace: \(ns)}
        spec:
          nodeName: \(run)-0
          containers: [{name: c, image: nginx, resources: {requests: {cpu: "2"}}}]
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: small, namespace: \(ns)}
        spec:
          replicas: 3
          selector: {matchLabels: {app: small}}
          template:
            metadata: {labels: {app: small}}
            spec:
              nodeSelector: {e2e-run: \(run)}
              containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]
        """)
        try Cluster.kubectl(["rollout", "status", "deployment/small", "-n", ns, "--timeout=120s"])
        let start = Timestamp.format(Date().addingTimeInterval(3600))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(run)}
        spec:
          nodeSelector: {matchLabels: {e2e-run: \(run)}}
          schedule: {start: "\(start)", duration: 4h}
          maxUnavailable: 1
          order: PredictedLoad
          update: {nodeTimeout: 20m}
          verify: {settle: 1m}
        """)
        func path(_ p: String) throws -> String { try Cluster.kubectl(["get", "updatewindow", run, "-o", "jsonpath={\(p)}"]).out }
        let planned = try await Cluster.eventually(timeout: 60) { () throws -> [String]? in
            let nodes = try path(".status.plan[*].node").split(separator: " ").map(String.init)
            return nodes.count == 4 ? nodes : nil
        }
        let loads = try path(".status.plan[*].predictedLoad").split(separator: " ").compactMap { Double($0) }
        print("plan: \(planned), CPU requests per node \(loads)")
        #expect(planned.first == "\(run)-0", "the busiest node goes first while the window's capacity is untouched")
        #expect(loads == loads.sorted(by: >))
        #expect(try path(".status.phase") == "Waiting")
        #expect(try path(".status.windowStart") == start)
        #expect(try path(".status.conditions[?(@.type==\"PlanFits\")].status") == "True")
        #expect(try path(".status.conditions[?(@.type==\"Ready\")].reason") == "Waiting", "it says it waits for the window")
        #expect(try path(".status.nodes[*].phase") == "Pending Pending Pending Pending")
        #expect(try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)")).items.allSatisfy { !$0.isUnschedulable },
                "nothing is touched before the window opens")
        let etas = try path(".status.plan[*].eta").split(separator: " ").compactMap { Timestamp.parse(String($0)) }
        #expect(etas.count == 4 && zip(etas, etas.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 21 * 60 }, "one node at a time, 21 minutes each")

        // Too short a window: the plan says so before anything starts.
        try Cluster.kubectl(["patch", "updatewindow", run, "--type", "merge", "-p", #"{"spec":{"schedule":{"duration":"45m"}}}"#])
        let message = try await Cluster.eventually(timeout: 30) { () throws -> String? in
            try path(".status.conditions[?(@.type==\"PlanFits\")].status") == "False" ? try path(".status.conditions[?(@.type==\"PlanFits\")].message") : nil
        }
        #expect(message.contains("2 nodes do not fit"), "\(message)")
    }
}
}
