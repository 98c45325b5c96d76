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

    /// The in-place visit (read through the slot's address) sees exactly what the copying visit
    /// sees, field for field, across deletions (empty slots) and reused slots.
    @Test func inPlaceVisitsMatchCopies() throws {
        let store = Store<CachedPod>(indexers: CachedPod.indexers)
        func pod(_ i: Int, node: String) -> CachedPod {
            var m = ObjectMeta(name: "p\(i)", namespace: "ns", labels: ["i": "\(i)"])
            m.uid = UUID().uuidString.lowercased()
            m.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs-\(i % 3)", uid: UUID().uuidString.lowercased(), controller: true)]
            var spec = PodSpec()
            spec.nodeName = node
            spec.containers = [.init(name: "c", resources: .init(requests: ["cpu": "\(i + 1)m"]))]
            return CachedPod(Pod(metadata: m, spec: spec, status: PodStatus()))
        }
        _ = store.apply(.restarted((0..<40).map { pod($0, node: "n\($0 % 4)") }))
        for i in stride(from: 0, to: 40, by: 3) { _ = store.apply(.deleted(pod(i, node: "n\(i % 4)"))) }
        for i in 40..<46 { _ = store.apply(.applied(pod(i, node: "n\(i % 4)"))) }  // reuse the freed slots
        for node in ["n0", "n1", "n2", "n3", "none"] {
            var copied: [String] = [], inPlace: [String] = []
            store.forEach(inIndex: PodIndex.node, node) { copied.append("\($0.name) \($0.cpuMillis) \($0.ownerName ?? "") \($0.labels)") }
            store.forEachInPlace(inIndex: PodIndex.node, node) { p in
                inPlace.append("\(p.pointee.name) \(p.pointee.cpuMillis) \(p.pointee.ownerName ?? "") \(p.pointee.labels)")
            }
            #expect(copied.sorted() == inPlace.sorted(), "\(node)")
            #expect(node == "none" ? copied.isEmpty : copied.count >= 6, "\(node): \(copied.count)")
        }
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
