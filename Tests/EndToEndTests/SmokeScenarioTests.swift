import Foundation
import KubernetesClient
import KubernetesCore
import Testing

/// The control plane with simulated nodes, end to end, as a user sees it through kubectl.
extension EndToEnd {
@Suite struct SmokeScenarioTests {
    @Test func nodesDeploymentDrainAndSimulatedUpdate() async throws {
        try Cluster.installManifests()
        let run = "smoke-\(UUID().uuidString.prefix(5).lowercased())"
        // The fleet comes from a YAML file: two groups with their own sizes and labels.
        let fleet = FileManager.default.temporaryDirectory.appendingPathComponent("\(run)-fleet.yaml").path
        try """
            nodeGroups:
              - prefix: \(run)-a-
                count: 6
                labels: {e2e-run: \(run), topology.kubernetes.io/zone: a}
              - prefix: \(run)-b-
                count: 4
                labels: {e2e-run: \(run), topology.kubernetes.io/zone: b}
                cpu: "4"
                memory: 16Gi
            updateSeconds: 2
            statusSeconds: 2
            updateOSImage: Debian GNU/Linux 13 (trixie)
            updateKernel: 6.12.0-1-amd64
            """.write(toFile: fleet, atomically: true, encoding: .utf8)
        let simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), ["--config", fleet],
                                              kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
        let ns = try Cluster.makeNamespace("smoke")
        defer {
            simulator.stop()
            Cluster.deleteNamespace(ns)
            _ = try? Cluster.kubectl(["delete", "nodes", "-l", "e2e-run=\(run)", "--wait=false"], allowFailure: true)
        }
        let client = try Cluster.admin()

        // Ten nodes register and turn Ready.
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in
            let nodes = try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)"))
            return nodes.items.count == 10 && nodes.items.allSatisfy(\.isReady) ? true : nil
        }
        let ready = try Cluster.kubectl(["get", "nodes", "-l", "e2e-run=\(run)", "--no-headers"]).out
        #expect(ready.split(separator: "\n").filter { $0.contains(" Ready ") }.count == 10, "\(ready)")
        let zoneB = try Cluster.kubectl(["get", "nodes", "-l", "topology.kubernetes.io/zone=b,e2e-run=\(run)", "-o", "jsonpath={.items[*].status.allocatable.cpu}"]).out
        #expect(zoneB.split(separator: " ") == ["4", "4", "4", "4"], "zone b allocatable CPUs: \(zoneB)")

        // Status heartbeats move lastHeartbeatTime, as a kubelet's do; lastTransitionTime moves
        // only when Ready changes.
        func readyTimes() async throws -> [String: (heartbeat: String, transition: String)] {
            var times: [String: (heartbeat: String, transition: String)] = [:]
            for n in try await client.list(Node.self, options: ListOptions(labelSelector: "e2e-run=\(run)")).items {
                let ready = n.status?.conditions?.first { $0.type == "Ready" }
                times[n.name] = (ready?.lastHeartbeatTime ?? "", ready?.lastTransitionTime ?? "")
            }
            return times
        }
        let registered = try await readyTimes()
        let beaten = try await Cluster.eventually(timeout: 20) { () async throws -> [String: (heartbeat: String, transition: String)]? in
            let now = try await readyTimes()
            return registered.allSatisfy { entry in now[entry.key].map { $0.heartbeat > entry.value.heartbeat } ?? false } ? now : nil
        }
        for (name, t) in registered { #expect(beaten[name]?.transition == t.transition, "\(name): Ready's lastTransitionTime moved with a heartbeat") }

        // Twenty replicas are scheduled onto them and become Ready.
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: \(ns)}
        spec:
          replicas: 20
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              nodeSelector: {e2e-run: \(run)}
              terminationGracePeriodSeconds: 1
              containers: [{name: web, image: nginx, resources: {requests: {cpu: 100m}}}]
        """)
        try Cluster.kubectl(["rollout", "status", "deployment/web", "-n", ns, "--timeout=120s"])
        #expect(try await client.get(Deployment.self, namespace: ns, name: "web").status?.availableReplicas == 20)

        // kubectl drain of the busiest node completes: eviction and graceful deletion go through the simulator.
        let pods = try await client.list(Pod.self, namespace: ns).items
        let perNode = Dictionary(grouping: pods, by: { $0.spec?.nodeName ?? "" })
        let busiest = perNode.max { $0.value.count < $1.value.count }!.key
        let recorder = CapacityRecorder(client: client, namespace: ns, nodeLabelSelector: "e2e-run=\(run)")
        let drain = try Cluster.kubectl(["drain", busiest, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"])
        #expect(drain.status == 0, "\(drain.err)")
        #expect(drain.out.contains("drained"))
        #expect(try await client.list(Pod.self, namespace: ns, options: ListOptions(fieldSelector: "spec.nodeName=\(busiest)")).items.isEmpty)
        try Cluster.kubectl(["rollout", "status", "deployment/web", "-n", ns, "--timeout=120s"])
        try await Task.sleep(for: .seconds(2))
        let samples = recorder.stop()
        #expect(samples.count >= 2)
        #expect(samples.contains { $0.unschedulable.contains(busiest) }, "the recorder saw the cordon")
        #expect(try await client.get(Deployment.self, namespace: ns, name: "web").status?.availableReplicas == 20)

        // A simulated update changes the node's boot ID and OS image through the handshake.
        let before = try await client.get(Node.self, name: busiest)
        try Cluster.kubectl(["annotate", "node", busiest, "foresight.dev/update=requested", "--overwrite"])
        let after = try await Cluster.eventually(timeout: 60) { () async throws -> Node? in
            let n = try await client.get(Node.self, name: busiest)
            return n.metadata.annotations?["foresight.dev/update"] == "done" && n.isReady ? n : nil
        }
        #expect(after.status?.nodeInfo?.bootID != before.status?.nodeInfo?.bootID)
        #expect(after.status?.nodeInfo?.osImage == "Debian GNU/Linux 13 (trixie)")
        #expect(after.status?.nodeInfo?.kernelVersion == "6.12.0-1-amd64")
        #expect(simulator.isRunning, "the simulator is still running: \(simulator.log.suffix(500))")
    }

    @Test func nodePoolFollowsItsScale() async throws {
        try Cluster.installManifests()
        let run = "pool-\(UUID().uuidString.prefix(5).lowercased())"
        let ns = try Cluster.makeNamespace("pool")
        let simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), [
            "--nodes", "\(run)-static-:0", "--pool-namespace", ns, "--provisioning-seconds", "1",
        ], kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
        defer {
            simulator.stop()
            Cluster.deleteNamespace(ns)
            _ = try? Cluster.kubectl(["delete", "nodes", "-l", "simulator.foresight.dev/node-pool=\(run)", "--wait=false"], allowFailure: true)
        }
        let client = try Cluster.admin()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: simulator.foresight.dev/v1alpha1
        kind: NodePool
        metadata: {name: \(run), namespace: \(ns)}
        spec: {replicas: 2, labels: {pool: \(run)}}
        """)
        func count() async throws -> Int {
            try await client.list(Node.self, options: ListOptions(labelSelector: "simulator.foresight.dev/node-pool=\(run)")).items.filter(\.isReady).count
        }
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in try await count() == 2 ? true : nil }
        // Scaled through the scale subresource, as Foresight scales pools.
        let scaleResource = APIResource(group: "simulator.foresight.dev", version: "v1alpha1", plural: "nodepools", kind: "NodePool", namespaced: true)
        try await client.setScale(scaleResource, namespace: ns, name: run, replicas: 4)
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in try await count() == 4 ? true : nil }
        let scale = try await Cluster.eventually(timeout: 30) { () async throws -> Scale? in
            let s = try await client.getScale(scaleResource, namespace: ns, name: run)
            return s.status?.replicas == 4 ? s : nil
        }
        #expect(scale.status?.selector == "simulator.foresight.dev/node-pool=\(run)")
        try Cluster.kubectl(["scale", "nodepool/\(run)", "-n", ns, "--replicas=1"])
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in try await count() == 1 ? true : nil }
    }
}
}
