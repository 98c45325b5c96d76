import ArgumentParser
import CMalloc
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
        let connection = try KubeConfigLoader.load(explicitPath: kubeconfig, context: nil)
        guard case .token(let token) = connection.credentials, let ca = connection.tls.certificateAuthorityFile else {
            throw BenchError("the raw-transfer row needs a kubeconfig with a token and a CA file")
        }
        // Every way of reading the same list, each run as its own process, alternating, best of N.
        let ways: [(String, [String])] = [
            ("raw transfer: `curl --compressed`, one unpaged GET, to /dev/null (the floor)",
             ["curl", "-sf", "--compressed", "--cacert", ca, "-H", "Authorization: Bearer \(token)", "-o", "/dev/null", "\(connection.server)/api/v1/pods"]),
            ("foresight client: lean `Pod` model, pages of 500", [me, "list-pods", "--kubeconfig", kubeconfig, "--expect", String(pods), "--model", "lean"]),
            ("foresight client: full decode (every field a controller reads), pages of 500",
             [me, "list-pods", "--kubeconfig", kubeconfig, "--expect", String(pods), "--model", "full"]),
            ("`kubectl get pods -A -o name`", ["kubectl", "get", "pods", "-A", "-o", "name"]),
            ("`kubectl get pods -A -o json`", ["kubectl", "get", "pods", "-A", "-o", "json"]),
        ]
        var measured = Array(repeating: [ChildMeasurement](), count: ways.count)
        for _ in 0..<(skipList ? 0 : repeats) {
            for (i, way) in ways.enumerated() {
                let m = try measureChild(way.1, environment: env)
                guard m.status == 0 else { throw BenchError("\(way.0) exited \(m.status)") }
                measured[i].append(m)
            }
        }
        let (events, watchSeconds) = skipList ? (0, 0) : try await watchThroughput(client)
        let cache = try await informerCacheBytes(client)

        print("machine: \(machineDescription())")
        print("server: kube-apiserver 1.20.2 on loopback, \(pods) pods")
        if !skipList {
            print("")
            print("| list all \(pods) pods | best wall time of \(repeats) | peak RSS |")
            print("| --- | --- | --- |")
            for (i, way) in ways.enumerated() {
                let best = measured[i].min { $0.seconds < $1.seconds }!
                print(String(format: "| %@ | %.2f s | %.0f MiB |", way.0, best.seconds, Double(measured[i].map(\.peakRSSKiB).max()!) / 1024))
            }
            print("")
            print(String(format: "watch throughput: %d ADDED events from resourceVersion 0 decoded in %.2f s = %.0f events/s", events, watchSeconds, Double(events) / watchSeconds))
        }
        print("")
        print("| shared informer cache of \(cache.pods) pods (`Store<CachedPod>` with node, owner, namespace and label indexes) | bytes per pod |")
        print("| --- | --- |")
        print(String(format: "| allocator: bytes in use, heap and mmapped blocks (mallinfo2 uordblks + hblkhd) | %.0f |", cache.heapPerPod))
        print(String(format: "| resident memory (RSS) growth after `malloc_trim`, cross-check | %.0f |", cache.rssPerPod))
        print(String(format: "| the same without indexes (allocator) | %.0f |", cache.unindexedPerPod))
        print(String(format: "process peak RSS: %.0f MiB", Double(selfPeakRSSKiB()) / 1024))
    }

    /// Bytes per pod of a shared informer's cache holding every pod: measured by the allocator
    /// (heap and mmapped blocks: a large dictionary's table is mmapped) and by resident memory.
    func informerCacheBytes(_ client: KubernetesClient) async throws -> (pods: Int, heapPerPod: Double, rssPerPod: Double, unindexedPerPod: Double) {
        func measure(indexers: [String: IndexFunction<CachedPod>]) async throws -> (Int, Double, Double) {
            let informers = SharedInformers(client: client)
            malloc_trim(0)
            let beforeHeap = heapBytesInUse(), beforeRSS = currentRSSBytes()
            let informer = informers.informer(CachedPod.self, indexers: indexers)
            let running = Task { await informers.run() }
            while !informer.hasSynced { try await Task.sleep(for: .milliseconds(100)) }
            // Let the list's pages be freed and the watch settle; give freed pages back to the
            // system so that resident memory counts what is held, not what the allocator kept.
            try await Task.sleep(for: .seconds(1))
            malloc_trim(0)
            let n = informer.store.count
            let heap = Double(heapBytesInUse() - beforeHeap) / Double(n)
            let rss = Double(currentRSSBytes() - beforeRSS) / Double(n)
            running.cancel()
            await running.value
            withExtendedLifetime(informer) {}
            return (n, heap, rss)
        }
        let (n, heap, rss) = try await measure(indexers: CachedPod.indexers)
        let (_, bare, _) = try await measure(indexers: [:])
        return (n, heap, rss, bare)
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
        // Names unique to this fill, so an interrupted earlier fill cannot collide with it.
        let fillID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = first
            func body(_ i: Int) -> JSONValue {
                let app = "app-\(i % 50)"
                return [
                    "metadata": [
                        "name": .string("\(app)-\(fillID)-x\(i)"),
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
    @Option(help: "lean (the project's Pod model) or full (every field a controller reads).") var model = "lean"

    func run() async throws {
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-bench")
        let count: Int
        switch model {
        case "lean": count = try await client.listAll(Pod.self, pageSize: 500).items.count
        case "full": count = try await client.listAll(ControllerPod.self, pageSize: 500).items.count
        default: throw BenchError("--model \(model): lean or full")
        }
        if count < expect { throw BenchError("listed \(count) pods, expected at least \(expect)") }
        print(count)
    }
}

/// A pod with every field a controller reads: metadata with owners, labels and annotations;
/// containers with images, ports, env and resources; volumes; tolerations, node selector,
/// affinity and priority; status with conditions and container statuses.
struct ControllerPod: KubernetesResource {
    static let resource = Pod.resource
    var metadata: ObjectMeta
    var spec: Spec?
    var status: Status?

    struct Spec: Codable, Sendable {
        var nodeName: String?
        var serviceAccountName: String?
        var priority: Int?
        var priorityClassName: String?
        var schedulerName: String?
        var terminationGracePeriodSeconds: Int?
        var nodeSelector: [String: String]?
        var tolerations: [Toleration]?
        var affinity: JSONValue?
        var volumes: [JSONValue]?
        var containers: [Container]?
        var initContainers: [Container]?
    }
    struct Toleration: Codable, Sendable { var key: String?; var operator_: String?; var value: String?; var effect: String?; var tolerationSeconds: Int?
        enum CodingKeys: String, CodingKey { case key, operator_ = "operator", value, effect, tolerationSeconds }
    }
    struct Container: Codable, Sendable {
        var name: String
        var image: String?
        var ports: [JSONValue]?
        var env: [JSONValue]?
        var resources: PodSpec.Container.Resources?
        var readinessProbe: JSONValue?
        var livenessProbe: JSONValue?
    }
    struct Status: Codable, Sendable {
        var phase: String?
        var podIP: String?
        var hostIP: String?
        var startTime: String?
        var qosClass: String?
        var conditions: [JSONValue]?
        var containerStatuses: [JSONValue]?
    }
}
