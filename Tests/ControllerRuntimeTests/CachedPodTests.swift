import Foundation
import Testing
@testable import ControllerRuntime
import KubernetesCore

@Suite struct CachedPodTests {
    let json = #"""
    {"metadata":{"name":"web-1","namespace":"shop","uid":"0b0e7c0a-1111-4a4a-9a9a-000000000001","resourceVersion":"42",
      "labels":{"app":"web","tier":"front"},"annotations":{"kubernetes.io/config.mirror":"x","other":"y"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9","uid":"u","controller":true}],
      "deletionTimestamp":"2026-11-23T10:00:00Z"},
     "spec":{"nodeName":"n1","volumes":[{"name":"tmp","emptyDir":{}}],
      "containers":[{"name":"a","resources":{"requests":{"cpu":"250m","memory":"256Mi"}}},{"name":"b","resources":{"requests":{"cpu":"1","memory":"1G"}}}]},
     "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}
    """#

    @Test func keepsWhatTheControllersUse() throws {
        let p = try JSONDecoder().decode(CachedPod.self, from: Data(json.utf8))
        #expect(p.key == ObjectKey(namespace: "shop", name: "web-1"))
        #expect(p.labels == ["app": "web", "tier": "front"])
        #expect(p.ownerKind == "ReplicaSet" && p.ownerName == "web-7d9")
        #expect(p.nodeName == "n1")
        #expect(p.phase == .running && p.isReady)
        #expect(p.flags.contains(.emptyDir) && p.flags.contains(.mirror) && !p.flags.contains(.doNotDisrupt) && !p.flags.contains(.critical))
        let critical = try JSONDecoder().decode(CachedPod.self, from: Data(#"{"metadata":{"name":"dns"},"spec":{"priorityClassName":"system-cluster-critical"}}"#.utf8))
        #expect(critical.flags.contains(.critical), "drained last")
        #expect(p.cpuMillis == 1250)
        #expect(p.memoryBytes == 268_435_456 + 1_000_000_000)
        #expect(p.deletionTime == Int64(Timestamp.parse("2026-11-23T10:00:00Z")!.timeIntervalSince1970))
        #expect(p.metadata.resourceVersion == "42", "the watcher resumes from it")
        #expect(p.metadata.uid == "0b0e7c0a-1111-4a4a-9a9a-000000000001")
        #expect(p.metadata.namespace == "shop")
    }

    @Test func storeOfCachedPods() throws {
        let store = Store<CachedPod>()
        let p = try JSONDecoder().decode(CachedPod.self, from: Data(json.utf8))
        store.apply(.restarted([p]))
        #expect(store.hasSynced)
        #expect(store.get(ObjectKey(namespace: "shop", name: "web-1"))?.nodeName == "n1")
        store.apply(.deleted(p))
        #expect(store.count == 0)
    }

    @Test func quantities() {
        #expect(Quantity.millis("250m") == 250)
        #expect(Quantity.millis("2") == 2000)
        #expect(Quantity.millis("0.5") == 500)
        #expect(Quantity.bytes("512Mi") == 536_870_912)
        #expect(Quantity.bytes("1G") == 1_000_000_000)
        #expect(Quantity.bytes("1e3") == 1000)
        #expect(Quantity.bytes("lots") == nil)
    }
}
