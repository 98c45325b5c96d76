import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import Testing

actor KeyRecorder {
    var counts: [ObjectKey: Int] = [:]
    var concurrent = 0
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

extension EndToEnd {
/// The controller runtime against the real apiserver: primary and related kinds become keys.
@Suite struct ControllerRuntimeE2ETests {
    @Test func relatedKindsMapToPrimaryKeysAndRunStopsCleanly() async throws {
        let ns = try Cluster.makeNamespace("runtime")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let recorder = KeyRecorder()
        let controller = Controller<ConfigMap>(name: "e2e", watcher: Watcher<ConfigMap>(client: client, namespace: ns), workers: 3) { key in
            await recorder.begin(key)
            try await Task.sleep(for: .milliseconds(50))
            await recorder.end(key)
            return .awaitChange
        }
        // A pod names its ConfigMap in a label; a pod's events reconcile that ConfigMap.
        controller.watches(Watcher<CachedPod>(client: client, namespace: ns)) { pod in
            pod.labels["config"].map { [ObjectKey(namespace: ns, name: $0)] } ?? []
        }
        let running = Task { await controller.run() }
        _ = try await Cluster.eventually(timeout: 30) { controller.hasSynced ? true : nil }

        let key = ObjectKey(namespace: ns, name: "settings")
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "settings"]])
        _ = try await Cluster.eventually(timeout: 20) { () async -> Bool? in await recorder.count(key) >= 1 ? true : nil }
        let before = await recorder.count(key)

        try await client.create(Pod.self, namespace: ns, body: [
            "metadata": ["name": "user", "labels": ["config": "settings"]],
            "spec": ["containers": [["name": "c", "image": "nginx"]]],
        ])
        _ = try await Cluster.eventually(timeout: 20) { () async -> Bool? in await recorder.count(key) > before ? true : nil }
        // A burst of changes to one key is never reconciled twice at once.
        for i in 0..<10 { try await client.patch(ConfigMap.self, namespace: ns, name: "settings", body: ["data": ["i": .string("\(i)")]]) }
        try await Task.sleep(for: .seconds(1))
        #expect(await recorder.maxConcurrentSameKey == 0)

        running.cancel()
        await running.value  // returns: the workers stop and the watchers end
        #expect(await controller.queue.isShuttingDown)
    }
}
}
