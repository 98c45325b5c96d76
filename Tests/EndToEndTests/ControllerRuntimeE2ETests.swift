import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import Testing

actor KeyRecorder {
    var counts: [ObjectKey: Int] = [:]
    var maxConcurrentSameKey = 0
    var inFlight: Set<ObjectKey> = []
    func begin(_ k: ObjectKey) {
        if inFlight.contains(k) { maxConcurrentSameKey = 2 }
        inFlight.insert(k)
        counts[k, default: 0] += 1
    }
    func end(_ k: ObjectKey) { inFlight.remove(k) }
    func count(_ k: ObjectKey) -> Int { counts[k] ?? 0 }
}

/// The watches of one resource the apiserver holds open now (its `apiserver_longrunning_gauge`).
func apiserverOpenWatches(resource: String) async throws -> Int {
    let client = try Cluster.admin()
    let text = String(decoding: try await client.send(APIRequest(method: "GET", path: "/metrics")), as: UTF8.self)
    var total = 0
    for line in text.split(separator: "\n") where line.hasPrefix("apiserver_longrunning_gauge{") && line.contains("verb=\"WATCH\"")
        && line.contains("resource=\"\(resource)\"") {
        total += Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
    }
    return total
}

struct ZonePlanObject: KubernetesResource {
    static let resource = APIResource(group: "foresight.dev", version: "v1alpha1", plural: "zoneplans", kind: "ZonePlan", namespaced: false)
    var metadata: ObjectMeta
}

struct UpdateWindowObject: KubernetesResource {
    static let resource = APIResource(group: "foresight.dev", version: "v1alpha1", plural: "updatewindows", kind: "UpdateWindow", namespaced: false)
    var metadata: ObjectMeta
}

extension EndToEnd {
/// The controller runtime against the real apiserver: shared informers, indexes, related kinds.
@Suite struct ControllerRuntimeE2ETests {
    @Test func relatedKindsMapToPrimaryKeysThroughIndexedSharedInformers() async throws {
        let ns = try Cluster.makeNamespace("runtime")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let recorder = KeyRecorder()
        let informers = SharedInformers(client: client)
        let configMaps = informers.informer(ConfigMap.self, namespace: ns)
        let pods = informers.informer(CachedPod.self, namespace: ns, indexers: CachedPod.indexers)
        let controller = await Controller(name: "e2e", informer: configMaps, workers: 3) { key in
            await recorder.begin(key)
            try await Task.sleep(for: .milliseconds(50))
            await recorder.end(key)
            return .awaitChange
        }
        // A pod names its ConfigMap in a label; a pod's events reconcile that ConfigMap, unless
        // only its status changed.
        await controller.watches(pods, filter: .onChange { [$0.labels["config"], $0.nodeName] }) { pod in
            pod.labels["config"].map { [ObjectKey(namespace: ns, name: $0)] } ?? []
        }
        let feeding = Task { await informers.run() }
        defer { feeding.cancel() }
        let running = Task { await controller.run() }
        _ = try await Cluster.eventually(timeout: 30) { controller.hasSynced ? true : nil }

        let key = ObjectKey(namespace: ns, name: "settings")
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "settings"]])
        _ = try await Cluster.eventually(timeout: 20) { () async -> Bool? in await recorder.count(key) >= 1 ? true : nil }
        let before = await recorder.count(key)

        try await client.create(Pod.self, namespace: ns, body: [
            "metadata": ["name": "user", "labels": ["config": "settings", "app": "web"]],
            "spec": ["nodeName": "no-such-node", "containers": [["name": "c", "image": "nginx"]]],
        ])
        _ = try await Cluster.eventually(timeout: 20) { () async -> Bool? in await recorder.count(key) > before ? true : nil }
        // Indexes answer without a scan.
        _ = try await Cluster.eventually(timeout: 10) { pods.store.byIndex(PodIndex.node, "no-such-node").map(\.name) == ["user"] ? true : nil }
        #expect(pods.store.byIndex(Indexers.label, "app=web").map(\.name) == ["user"])
        #expect(pods.store.byIndex(Indexers.namespace, ns).count == 1)

        // A status-only change of the pod passes no filter: the ConfigMap is not reconciled for it.
        try await Task.sleep(for: .milliseconds(500))
        let settled = await recorder.count(key)
        try await client.patchStatus(Pod.self, namespace: ns, name: "user", status: ["phase": "Running"])
        _ = try await Cluster.eventually(timeout: 10) { pods.store.get(ObjectKey(namespace: ns, name: "user"))?.phase == .running ? true : nil }
        try await Task.sleep(for: .milliseconds(500))
        #expect(await recorder.count(key) == settled, "a pod status heartbeat does not enqueue its ConfigMap")

        // A burst of changes to one key is never reconciled twice at once.
        for i in 0..<10 { try await client.patch(ConfigMap.self, namespace: ns, name: "settings", body: ["data": ["i": .string("\(i)")]]) }
        try await Task.sleep(for: .seconds(1))
        #expect(await recorder.maxConcurrentSameKey == 0)

        // Graceful stop: no more keys; run returns once workers are done.
        await controller.stopTakingWork()
        await running.value
        #expect(await controller.queue.isShuttingDown)
    }

    @Test func twoControllersSharingInformersMakeOneWatchPerKind() async throws {
        try Cluster.installManifests()
        let client = try Cluster.admin()
        let zoneWatchesBefore = try await apiserverOpenWatches(resource: "zoneplans")
        let windowWatchesBefore = try await apiserverOpenWatches(resource: "updatewindows")
        let informers = SharedInformers(client: client)
        let plans = informers.informer(ZonePlanObject.self)
        let windows = informers.informer(UpdateWindowObject.self)
        let first = await Controller(name: "first", informer: plans) { _ in .awaitChange }
        await first.watches(informers.informer(UpdateWindowObject.self)) { _ in [] }
        let second = await Controller(name: "second", informer: windows) { _ in .awaitChange }
        await second.watches(informers.informer(ZonePlanObject.self)) { _ in [] }
        #expect(informers.count == 2, "the same kind and scope is one informer")
        let feeding = Task { await informers.run() }
        defer { feeding.cancel() }
        _ = try await Cluster.eventually(timeout: 30) { first.hasSynced && second.hasSynced ? true : nil }
        try await Task.sleep(for: .seconds(2))
        let zoneWatches = try await apiserverOpenWatches(resource: "zoneplans") - zoneWatchesBefore
        let windowWatches = try await apiserverOpenWatches(resource: "updatewindows") - windowWatchesBefore
        print("watches opened by two controllers sharing informers: zoneplans \(zoneWatches), updatewindows \(windowWatches)")
        #expect(zoneWatches == 1)
        #expect(windowWatches == 1)
        // Cancelling the informers closes their watches (the transfers abort).
        feeding.cancel()
        _ = try await Cluster.eventually(timeout: 10) { () async throws -> Bool? in
            let zones = try await apiserverOpenWatches(resource: "zoneplans")
            let windows = try await apiserverOpenWatches(resource: "updatewindows")
            return zones == zoneWatchesBefore && windows == windowWatchesBefore ? true : nil
        }
    }

    @Test func podDisruptionBudgetsAreWatchedInTheVersionDiscoveryFinds() async throws {
        let ns = try Cluster.makeNamespace("pdb")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let resolved = try await client.resolvedResource(PodDisruptionBudget.self)
        #expect(resolved.apiVersion == "policy/v1beta1", "a 1.20 server serves PodDisruptionBudgets in policy/v1beta1 only")
        #expect(resolved.plural == "poddisruptionbudgets" && resolved.namespaced)
        let informers = SharedInformers(client: client)
        let budgets = informers.informer(PodDisruptionBudget.self, namespace: ns, discoverVersion: true)
        let feeding = Task { await informers.run() }
        defer { feeding.cancel() }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: policy/v1beta1
        kind: PodDisruptionBudget
        metadata: {name: guard, namespace: \(ns)}
        spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
        """)
        let pdb = try await Cluster.eventually(timeout: 30) { budgets.store.get(ObjectKey(namespace: ns, name: "guard")) }
        #expect(pdb.spec?.minAvailable == .int(1))
        // A kind nobody serves is an error that names it, after one refresh of discovery.
        await #expect(throws: RESTMappingError.self) {
            try await client.restMapper.resource(for: GroupKind(group: "example.com", kind: "Nothing"), using: client)
        }
        // A scale target's subresources are known from discovery.
        let deployments = try await client.restMapper.resource(apiVersion: "apps/v1", kind: "Deployment", using: client)
        #expect(try await client.restMapper.subresources(of: deployments, using: client).contains("scale"))
    }

    @Test func aRotatedProjectedTokenIsUsedWithoutA401() async throws {
        let ns = try Cluster.makeNamespace("token")
        defer { Cluster.deleteNamespace(ns) }
        try Cluster.kubectl(["create", "serviceaccount", "reader", "-n", ns])
        try Cluster.kubectl(["create", "rolebinding", "reader", "-n", ns, "--clusterrole", "view", "--serviceaccount", "\(ns):reader"])
        func token(_ name: String) async throws -> String {
            try Cluster.kubectl(["apply", "-f", "-"], stdin: """
            apiVersion: v1
            kind: Secret
            metadata: {name: \(name), namespace: \(ns), annotations: {kubernetes.io/service-account.name: reader}}
            type: kubernetes.io/service-account-token
            """)
            let encoded = try Cluster.eventually(timeout: 30) { () -> String? in
                let out = try Cluster.kubectl(["get", "secret", name, "-n", ns, "-o", "jsonpath={.data.token}"]).out
                return out.isEmpty ? nil : out
            }
            return String(decoding: Data(base64Encoded: encoded)!, as: UTF8.self)
        }
        let first = try await token("first"), second = try await token("second")
        // The kubelet's layout: token -> ..data/token, ..data -> a timestamped directory, swapped atomically.
        let dir = NSTemporaryDirectory() + "projected-\(UUID().uuidString.prefix(6))"
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(dir)/..2026_01", withIntermediateDirectories: true)
        try first.write(toFile: "\(dir)/..2026_01/token", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: "\(dir)/..data", withDestinationPath: "..2026_01")
        try fm.createSymbolicLink(atPath: "\(dir)/token", withDestinationPath: "..data/token")
        let server = try String(contentsOfFile: "\(Cluster.directory!)/server", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "\(server)", certificate-authority: "\(Cluster.directory!)/pki/ca.crt"}}]
        users: [{name: u, user: {tokenFile: "\(dir)/token"}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """.write(toFile: "\(dir)/kubeconfig", atomically: true, encoding: .utf8)
        let client = try KubernetesClient(kubeconfig: "\(dir)/kubeconfig")
        _ = try await client.list(ConfigMap.self, namespace: ns)

        // Rotate: a new directory, the ..data link swapped by rename; then the old token is revoked.
        try fm.createDirectory(atPath: "\(dir)/..2026_02", withIntermediateDirectories: true)
        try second.write(toFile: "\(dir)/..2026_02/token", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: "\(dir)/..data_tmp", withDestinationPath: "..2026_02")
        #expect(rename("\(dir)/..data_tmp", "\(dir)/..data") == 0)
        try Cluster.kubectl(["delete", "secret", "first", "-n", ns])
        _ = try await Cluster.eventually(timeout: 20) { () async -> Bool? in
            // The revoked token is refused once the deletion reaches the authenticator's cache.
            let r = try? Cluster.run("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(first)",
                                              "\(server)/api/v1/namespaces/\(ns)/configmaps"])
            return r?.out == "401" ? true : nil
        }
        _ = try await client.list(ConfigMap.self, namespace: ns)
        let informers = SharedInformers(client: client)
        let cms = informers.informer(ConfigMap.self, namespace: ns)
        let feeding = Task { await informers.run() }
        defer { feeding.cancel() }
        _ = try await Cluster.eventually(timeout: 20) { cms.hasSynced ? true : nil }
        #expect(await client.statistics.unauthorizedAnswers == 0, "the new token was read before any request was refused")
    }
}
}
