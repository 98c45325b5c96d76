import ArgumentParser
import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore

/// `foresight-bench client`: the client against kubectl on the same server, in the same run.
struct ClientBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "client", abstract: "List and decode N pods against kubectl; watch throughput; cache bytes per pod.")

    @Option(help: "Admin kubeconfig of the server to fill and measure.") var kubeconfig: String
    @Option(help: "Pods to have in the server.") var pods = 50_000
    @Option(help: "Namespace the pods are created in.") var namespace = "bench"
    @Option(help: "Repetitions of each list measurement (the best is reported).") var repeats = 3
    @Flag(help: "Skip the list comparison with kubectl (for quick cache measurements).") var skipList = false

    func run() async throws {
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-bench")
        try await fill(client)
        let me = CommandLine.arguments[0]
        let env = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": kubeconfig]) { $1 }
        var ours: [ChildMeasurement] = [], theirs: [ChildMeasurement] = []
        for _ in 0..<(skipList ? 0 : repeats) {
            ours.append(try measureChild([me, "list-pods", "--kubeconfig", kubeconfig, "--expect", String(pods)], environment: env))
            theirs.append(try measureChild(["kubectl", "get", "pods", "-A", "-o", "json"], environment: env))
        }
        guard ours.allSatisfy({ $0.status == 0 }) else { throw BenchError("foresight-bench list-pods failed") }
        guard theirs.allSatisfy({ $0.status == 0 }) else { throw BenchError("kubectl failed") }

        let (events, watchSeconds) = try await watchThroughput(client)
        let perPod = try await cacheBytesPerPod(client)
        let compact = try await cachedPodBytes(client)

        print("machine: \(machineDescription())")
        print("server: kube-apiserver 1.20.2 on loopback, \(pods) pods")
        if !skipList {
        let bestOurs = ours.min { $0.seconds < $1.seconds }!, bestTheirs = theirs.min { $0.seconds < $1.seconds }!
        let peakOurs = ours.map(\.peakRSSKiB).max()!, peakTheirs = theirs.map(\.peakRSSKiB).max()!
        print("")
        print("| list all pods (pages of 500) and decode | best wall time of \(repeats) | peak RSS |")
        print("| --- | --- | --- |")
        print(String(format: "| foresight client (lean Pod model) | %.2f s | %.0f MiB |", bestOurs.seconds, Double(peakOurs) / 1024))
        print(String(format: "| kubectl get pods -A -o json | %.2f s | %.0f MiB |", bestTheirs.seconds, Double(peakTheirs) / 1024))
        print(String(format: "| ratio (foresight ÷ kubectl) | %.2f | %.2f |", bestOurs.seconds / bestTheirs.seconds, Double(peakOurs) / Double(peakTheirs)))
        }
        print("")
        print(String(format: "watch throughput: %d ADDED events from resourceVersion 0 decoded in %.2f s = %.0f events/s", events, watchSeconds, Double(events) / watchSeconds))
        print("")
        print("| cache of every pod (heap in use ÷ pods) | bytes per pod |")
        print("| --- | --- |")
        print(String(format: "| `Store<CachedPod>` (what the controllers keep) | %.0f |", compact))
        print(String(format: "| `Store<Pod>` with `Pod.leanForCache` | %.0f |", perPod.lean))
        print(String(format: "| `Store<Pod>` as decoded | %.0f |", perPod.full))
    }

    /// Creates pods until `pods` exist in the namespace. Each looks like a real Deployment's pod:
    /// labels, owner, annotations, a container with requests, limits, env and probes.
    func fill(_ client: KubernetesClient) async throws {
        if try await client.getIfExists(Namespace.self, name: namespace) == nil {
            try await client.create(Namespace.self, body: ["metadata": ["name": .string(namespace)]])
        }
        // Pods are bound to a node object that nobody runs; they tolerate everything so that the
        // node lifecycle controller leaves them alone, and the node exists so pod GC does too.
        if try await client.getIfExists(Node.self, name: "bench-node") == nil {
            try await client.create(Node.self, body: ["metadata": ["name": "bench-node", "labels": ["bench": "true"]]])
        }
        let existing = try await client.list(Pod.self, namespace: namespace, options: ListOptions(limit: 1))
        var have = (existing.metadata.remainingItemCount ?? 0) + existing.items.count
        if have >= pods { FileHandle.standardError.write(Data("[bench] \(have) pods already there\n".utf8)); return }
        FileHandle.standardError.write(Data("[bench] creating \(pods - have) pods\n".utf8))
        let started = Date()
        let serviceAccountWait = Date().addingTimeInterval(60)
        while Date() < serviceAccountWait {
            if let sa = try await client.getIfExists(ServiceAccountLite.self, namespace: namespace, name: "default"), !(sa.secrets ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let first = have
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = first
            func body(_ i: Int) -> JSONValue {
                let app = "app-\(i % 50)"
                return [
                    "metadata": [
                        "name": .string("\(app)-\(String(i, radix: 36))-x\(i)"),
                        "labels": ["app": .string(app), "pod-template-hash": "7d9f8c6b5", "tier": "web", "version": "v1.24.3"],
                        "annotations": ["prometheus.io/scrape": "true", "prometheus.io/port": "9090", "kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"],
                        "ownerReferences": [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string("\(app)-7d9f8c6b5"),
                                             "uid": .string("0b0e7c0a-1111-4a4a-9a9a-\(String(format: "%012d", i % 50))"), "controller": true, "blockOwnerDeletion": true]],
                    ],
                    "spec": [
                        "nodeName": "bench-node",
                        "tolerations": [["operator": "Exists"]],
                        "containers": [[
                            "name": "app", "image": .string("registry.example.com/shop/\(app):v1.24.3"),
                            "ports": [["containerPort": 8080, "name": "http"], ["containerPort": 9090, "name": "metrics"]],
                            "env": [["name": "LOG_LEVEL", "value": "info"], ["name": "REGION", "value": "eu-west-1"], ["name": "FEATURE_FLAGS", "value": "checkout-v2,fast-search"]],
                            "resources": ["requests": ["cpu": "250m", "memory": "256Mi"], "limits": ["memory": "512Mi"]],
                            "readinessProbe": ["httpGet": ["path": "/ready", "port": 8080], "periodSeconds": 5],
                            "livenessProbe": ["httpGet": ["path": "/live", "port": 8080], "periodSeconds": 10],
                        ]],
                        "volumes": [["name": "cache", "emptyDir": [:]]],
                    ],
                ]
            }
            for _ in 0..<32 where next < pods {
                let i = next; next += 1
                group.addTask { try await client.create(Pod.self, namespace: namespace, body: body(i)) }
            }
            while try await group.next() != nil {
                have += 1
                if have % 5000 == 0 { FileHandle.standardError.write(Data("[bench] \(have) pods\n".utf8)) }
                if next < pods {
                    let i = next; next += 1
                    group.addTask { try await client.create(Pod.self, namespace: namespace, body: body(i)) }
                }
            }
        }
        FileHandle.standardError.write(Data(String(format: "[bench] filled in %.0f s\n", Date().timeIntervalSince(started)).utf8))
    }

    /// ADDED events of a watch from resourceVersion 0 (the apiserver replays its cache), decoded.
    func watchThroughput(_ client: KubernetesClient) async throws -> (Int, Double) {
        let started = DispatchTime.now().uptimeNanoseconds
        var count = 0
        for try await event in client.watch(Pod.self, options: ListOptions(resourceVersion: "0", timeoutSeconds: 120)) {
            if case .added = event { count += 1 }
            if count >= pods { break }
        }
        return (count, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// Heap growth of a store of `CachedPod`s holding every pod, per pod.
    func cachedPodBytes(_ client: KubernetesClient) async throws -> Double {
        let store = Store<CachedPod>()
        let before = heapBytesInUse()
        var list: ObjectList<CachedPod>? = try await client.listAll(CachedPod.self)
        let listed = list!.items.count
        store.apply(.restarted(list!.items))
        list = nil
        let perPod = Double(heapBytesInUse() - before) / Double(listed)
        withExtendedLifetime(store) {}
        return perPod
    }

    /// Heap growth of a store holding every pod, per pod: lean (the runtime's pod transform) and full model.
    func cacheBytesPerPod(_ client: KubernetesClient) async throws -> (lean: Double, full: Double) {
        func measure(_ transform: @escaping @Sendable (Pod) -> Pod) async throws -> Double {
            let store = Store<Pod>(transform: transform)
            let before = heapBytesInUse()
            var list: ObjectList<Pod>? = try await client.listAll(Pod.self)
            let listed = list!.items.count
            store.apply(.restarted(list!.items))
            list = nil
            let after = heapBytesInUse()
            let perPod = Double(after - before) / Double(listed)
            withExtendedLifetime(store) {}
            return perPod
        }
        return (try await measure(Pod.leanForCache), try await measure({ $0 }))
    }
}

struct ServiceAccountLite: KubernetesResource {
    static let resource = APIResource(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
    var metadata: ObjectMeta
    var secrets: [JSONValue]?
}

/// `foresight-bench list-pods`: lists every pod in pages of 500 and decodes them (measured by `client`).
struct ListPods: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-pods", abstract: "List and decode all pods once (the measured child of `client`).")
    @Option var kubeconfig: String
    @Option var expect: Int = 0

    func run() async throws {
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-bench")
        let list = try await client.listAll(Pod.self, pageSize: 500)
        if list.items.count < expect { throw BenchError("listed \(list.items.count) pods, expected at least \(expect)") }
        print(list.items.count)
    }
}
