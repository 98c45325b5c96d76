import ArgumentParser
import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
import Reconcilers

/// `foresight-bench zoneplan`: the ZonePlan reconciler at scale. The plan, its history ConfigMap
/// and its node pool live in the apiserver; the Deployments, nodes, HPAs and DaemonSets it plans
/// over are put straight into the reconciler's caches (as its informers would hold them), so the
/// benchmark measures the reconcile and not the filling of a cluster.
struct ZonePlanBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "zoneplan",
                                                    abstract: "Time per ZonePlan reconcile with and without fitting, API requests, writes when nothing changed.")

    @Option(help: "Admin kubeconfig of a control plane with the CRDs of crds/ and hack/simulator/nodepool-crd.yaml.") var kubeconfig: String
    @Option var zones = 20
    @Option var deployments = 1000
    @Option var nodes = 500
    @Option(help: "Reconciles measured after the first.") var reconciles = 20

    func run() async throws {
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-bench")
        let ns = "bench-zoneplan"
        let name = "bench-\(UUID().uuidString.prefix(5).lowercased())"
        if try await client.getIfExists(Namespace.self, name: ns) == nil {
            try await client.create(Namespace.self, body: ["metadata": ["name": .string(ns), "labels": ["team": "bench"]]])
        }
        // 10 days of 5-minute history per zone, a daily shape of its own, in one ConfigMap (which
        // holds at most 1 MiB).
        let now = Date()
        let end = (Int64(now.timeIntervalSince1970) / 300) * 300
        var data: [(String, JSONValue)] = []
        for z in 0..<zones {
            var csv = "timestamp,value\n"
            var t = end - 10 * 86400
            while t <= end {
                let hour = Double(t % 86400) / 3600
                let v = 200 + 100 * Double(z % 5) + 150 * sin((hour - Double(z % 24)) / 24 * 2 * .pi) + Double((t / 300) % 7)
                csv += "\(t),\(Int(v.rounded()))\n"
                t += 300
            }
            data.append(("zone-\(z)", .string(csv)))
        }
        _ = try? await client.deleteIfExists(ConfigMap.resource, namespace: ns, name: "history")
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "history"], "data": .object(data)])
        let poolResource = APIResource(group: "simulator.foresight.dev", version: "v1alpha1", plural: "nodepools", kind: "NodePool", namespaced: true)
        _ = try? await client.deleteIfExists(poolResource, namespace: ns, name: "pool")
        let pool: JSONValue = ["apiVersion": "simulator.foresight.dev/v1alpha1", "kind": "NodePool", "metadata": ["name": "pool"], "spec": ["replicas": .int(nodes)]]
        _ = try await client.send(RequestBuilder.create(poolResource, namespace: ns, body: pool.serialized()))
        var zoneSpecs: [JSONValue] = []
        for z in 0..<zones {
            zoneSpecs.append(["name": .string("zone-\(z)"), "priority": .int(1000 - z * 10),
                              "workloads": ["namespaceSelector": ["matchLabels": ["team": "bench"]], "selector": ["matchLabels": ["zone": .string("zone-\(z)")]]],
                              "load": ["perReplica": 10], "buffer": "20%", "minReplicas": 1, "maxReplicas": 500])
        }
        let planBody: JSONValue = ["apiVersion": "foresight.dev/v1alpha1", "kind": "ZonePlan", "metadata": ["name": .string(name)],
                                   "spec": ["mode": "DryRun",
                                            "nodePools": [["name": "pool", "nodeSelector": ["matchLabels": ["pool": "bench"]],
                                                           "scaleTargetRef": ["apiVersion": "simulator.foresight.dev/v1alpha1", "kind": "NodePool", "namespace": .string(ns), "name": "pool"],
                                                           "minNodes": 1, "maxNodes": .int(nodes * 2), "provisioningLeadTime": "5m"]],
                                            "forecast": ["source": ["configMap": ["namespace": .string(ns), "name": "history"]], "history": "10d", "horizon": "2h",
                                                         "step": "5m", "seasonalities": ["1d"]],
                                            "zones": .array(zoneSpecs), "overflow": ["policy": "Strict"]]]
        let plan = try await client.create(ZonePlan.self, body: planBody)
        // The plan goes when the measurement ends, measured or failed.
        do {

            // The caches, filled as informers would fill them.
            let caches = ZonePlanCaches(plans: Store(), deployments: Store(), autoscalers: Store(), namespaces: Store(), nodes: Store(), daemonSets: Store(),
                                        pods: Store(indexers: CachedPod.indexers), replicaSets: Store(indexers: Indexers.standard()))
            caches.plans.apply(.restarted([plan]))
            caches.namespaces.apply(.restarted([try decode(Namespace.self, ["metadata": ["name": .string(ns), "labels": ["team": "bench"]]])]))
            caches.nodes.apply(.restarted(try (0..<nodes).map { i in
                try decode(Node.self, ["metadata": ["name": .string("node-\(i)"), "labels": ["pool": "bench"]],
                                       "status": ["allocatable": ["cpu": "16", "memory": "64Gi"], "conditions": [["type": "Ready", "status": "True"]]]])
            }))
            caches.daemonSets.apply(.restarted(try (0..<5).map { i in
                try decode(DaemonSet.self, ["metadata": ["name": .string("agent-\(i)"), "namespace": "kube-system"],
                                            "spec": ["template": ["spec": ["containers": [["name": "a", "resources": ["requests": ["cpu": "100m", "memory": "128Mi"]]]]]]]])
            }))
            // Each Deployment has one ReplicaSet and all its pods Ready on the nodes, so the shrink
            // rule's count of serving replicas (`servingReplicas`) walks them on every reconcile.
            var replicaSets: [ReplicaSet] = [], pods: [CachedPod] = []
            caches.deployments.apply(.restarted(try (0..<deployments).map { i in
                let replicas = 2 + i % 5, uid = UUID().uuidString.lowercased(), rsUID = UUID().uuidString.lowercased()
                replicaSets.append(try decode(ReplicaSet.self, ["metadata": ["name": .string("app-\(i)-rs"), "namespace": .string(ns), "uid": .string(rsUID),
                                                                             "ownerReferences": [["apiVersion": "apps/v1", "kind": "Deployment", "name": .string("app-\(i)"),
                                                                                                  "uid": .string(uid), "controller": true]]]]))
                for r in 0..<replicas {
                    pods.append(try decode(CachedPod.self, ["metadata": ["name": .string("app-\(i)-\(r)"), "namespace": .string(ns), "uid": .string(UUID().uuidString.lowercased()),
                                                                         "ownerReferences": [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string("app-\(i)-rs"),
                                                                                              "uid": .string(rsUID), "controller": true]]],
                                                            "spec": ["nodeName": .string("node-\((i * 7 + r) % nodes)"),
                                                                     "containers": [["name": "c", "resources": ["requests": ["cpu": "250m", "memory": "256Mi"]]]]],
                                                            "status": ["phase": "Running", "conditions": [["type": "Ready", "status": "True"]]]]))
                }
                return try decode(Deployment.self, ["metadata": ["name": .string("app-\(i)"), "namespace": .string(ns), "uid": .string(uid), "labels": ["zone": .string("zone-\(i % zones)")]],
                                                    "spec": ["replicas": .int(replicas), "template": ["spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": "250m", "memory": "256Mi"]]]]]]],
                                                    "status": ["replicas": .int(replicas), "readyReplicas": .int(replicas), "availableReplicas": .int(replicas)]])
            }))
            caches.replicaSets.apply(.restarted(replicaSets))
            caches.pods.apply(.restarted(pods))
            caches.autoscalers.apply(.restarted(try (0..<(deployments / 10)).map { i in
                try decode(HorizontalPodAutoscaler.self, ["metadata": ["name": .string("app-\(i * 10)"), "namespace": .string(ns)],
                                                          "spec": ["scaleTargetRef": ["kind": "Deployment", "name": .string("app-\(i * 10)")], "minReplicas": 1, "maxReplicas": 50]])
            }))
            let reconciler = ZonePlanReconciler(client: client, caches: caches, events: EventRecorder(client: client, component: "foresight-bench"))
            let key = ObjectKey(name: name)

            func timed(_ body: () async throws -> Void) async rethrows -> (seconds: Double, requests: [String: Int]) {
                let before = await client.statistics.requests
                let started = DispatchTime.now().uptimeNanoseconds
                try await body()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                var delta = await client.statistics.requests
                for (k, v) in before { delta[k, default: 0] -= v }
                return (seconds, delta.filter { $0.value != 0 })
            }
            let first = try await timed { _ = try await reconciler.reconcile(key) }
            let fits = await reconciler.forecasts.fitSeconds(planUID: plan.metadata.uid ?? name)
            // The plan as the informer would now hold it (its status written by the first reconcile).
            caches.plans.apply(.applied(try await client.get(ZonePlan.self, name: name)))
            var times: [Double] = []
            var requests: [String: Int] = [:]
            for _ in 0..<reconciles {
                let r = try await timed { _ = try await reconciler.reconcile(key) }
                times.append(r.seconds)
                for (k, v) in r.requests { requests[k, default: 0] += v }
                caches.plans.apply(.applied(try await client.get(ZonePlan.self, name: name)))
            }
            times.sort()
            let fitTimes = fits.values.sorted()
            print("machine: \(machineDescription())")
            print("server: kube-apiserver 1.20.2 on loopback; one ZonePlan (DryRun), \(zones) zones over \(deployments) Deployments (\(deployments / 10) with an HPA; \(pods.count) Ready pods) on \(nodes) nodes, 10 days of 5-minute history per zone")
            print("")
            print("| | figure |")
            print("| --- | --- |")
            print(String(format: "| first reconcile (fits every zone) | %.2f s |", first.seconds))
            print(String(format: "| fit per zone (engine `auto`, on its own thread) | median %.0f ms, max %.0f ms |", fitTimes[fitTimes.count / 2] * 1000, fitTimes.last! * 1000))
            print(String(format: "| reconcile without fitting, %d runs | median %.1f ms, max %.1f ms |", reconciles, times[times.count / 2] * 1000, times.last! * 1000))
            print("| API requests per reconcile without fitting | \(requests.sorted { $0.key < $1.key }.map { "\($0.key) \(Double($0.value) / Double(reconciles))" }.joined(separator: ", ")) |")
            print("| writes per reconcile when nothing changed (PATCH, PUT, POST, DELETE) | \(Double(["PATCH", "PUT", "POST", "DELETE"].map { requests[$0] ?? 0 }.reduce(0, +)) / Double(reconciles)) |")
            print("| requests of the first reconcile | \(first.requests.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |")
        } catch {
            _ = try? await client.deleteIfExists(ZonePlan.resource, name: name)
            throw error
        }
        _ = try? await client.deleteIfExists(ZonePlan.resource, name: name)
    }

    func decode<T: Decodable>(_ type: T.Type, _ json: JSONValue) throws -> T { try JSONDecoder().decode(T.self, from: json.serialized()) }
}
