import Foundation
import KubernetesCore
import Testing
import TestSupport
@testable import ControllerRuntime

/// A ConfigMap with a name, labels and resourceVersion, for store tests.
func configMap(_ name: String, ns: String = "default", rv: String, labels: [String: String] = [:]) -> ConfigMap {
    var m = ObjectMeta(name: name, namespace: ns, labels: labels)
    m.resourceVersion = rv
    return ConfigMap(metadata: m)
}

func pod(_ name: String, ns: String = "shop", node: String?, owner: (kind: String, name: String, uid: String)? = nil, labels: [String: String] = [:],
         phase: String = "Running", rv: String = "1") -> CachedPod {
    var m = ObjectMeta(name: name, namespace: ns, labels: labels)
    m.resourceVersion = rv
    m.uid = UUID().uuidString.lowercased()
    if let owner { m.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: owner.kind, name: owner.name, uid: owner.uid, controller: true)] }
    var spec = PodSpec()
    spec.nodeName = node
    var status = PodStatus()
    status.phase = phase
    return CachedPod(Pod(metadata: m, spec: spec, status: status))
}

@Suite struct StoreIndexTests {
    @Test func relistReportsAdditionsUpdatesAndDeletionsOfObjectsThatVanished() {
        let store = Store<ConfigMap>()
        let first = store.apply(.restarted([configMap("a", rv: "1"), configMap("b", rv: "1"), configMap("c", rv: "1")]))
        #expect(first.count == 3 && first.allSatisfy { if case .added = $0 { true } else { false } })
        // During a watch gap: b changed, c was deleted, d was created.
        let changes = store.apply(.restarted([configMap("a", rv: "1"), configMap("b", rv: "2"), configMap("d", rv: "3")]))
        var added: [String] = [], updated: [String] = [], deleted: [String] = []
        for c in changes {
            switch c {
            case .added(let o): added.append(o.name)
            case .updated(let old, let new): updated.append("\(old.name)@\(old.metadata.resourceVersion!)->\(new.metadata.resourceVersion!)")
            case .deleted(let o): deleted.append(o.name)
            }
        }
        #expect(added == ["d"])
        #expect(updated == ["b@1->2"])
        #expect(deleted == ["c"], "a relist emits deletions for objects that vanished during the gap")
        #expect(store.keys.map(\.name).sorted() == ["a", "b", "d"])
    }

    @Test func indexesFollowEveryChange() {
        let store = Store<CachedPod>(indexers: CachedPod.indexers)
        let rs = (kind: "ReplicaSet", name: "web-1", uid: "u1")
        store.apply(.restarted([pod("p1", node: "n1", owner: rs, labels: ["app": "web"]), pod("p2", node: "n1"), pod("p3", node: "n2", owner: rs)]))
        #expect(Set(store.byIndex(PodIndex.node, "n1").map(\.name)) == ["p1", "p2"])
        #expect(Set(store.byIndex(PodIndex.owner, PodIndex.ownerValue(kind: "ReplicaSet", namespace: "shop", name: "web-1")).map(\.name)) == ["p1", "p3"])
        #expect(store.byIndex(Indexers.label, "app=web").map(\.name) == ["p1"])
        // p1 moves to n2 and loses its label; p2 is deleted.
        store.apply(.applied(pod("p1", node: "n2", owner: rs, rv: "2")))
        store.apply(.deleted(pod("p2", node: "n1")))
        #expect(store.byIndex(PodIndex.node, "n1").isEmpty)
        #expect(Set(store.byIndex(PodIndex.node, "n2").map(\.name)) == ["p1", "p3"])
        #expect(store.byIndex(Indexers.label, "app=web").isEmpty)
        #expect(store.indexValues(PodIndex.node) == ["n2"], "empty index entries are removed")
        // A relist rebuilds them.
        store.apply(.restarted([pod("p9", node: "n7")]))
        #expect(store.byIndex(PodIndex.node, "n2").isEmpty)
        #expect(store.byIndex(PodIndex.node, "n7").map(\.name) == ["p9"])
    }

    @Test func randomChangesKeepIndexesEqualToAScan() {
        var rng = SplitMix(seed: 7)
        let store = Store<CachedPod>(indexers: CachedPod.indexers)
        var live: [String: CachedPod] = [:]
        for step in 0..<2000 {
            let name = "p\(rng.next() % 40)"
            switch rng.next() % 10 {
            case 0:
                let all = (0..<(rng.next() % 30)).map { i in pod("p\(i)", node: "n\(rng.next() % 5)", rv: "\(step)") }
                store.apply(.restarted(all))
                live = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            case 1, 2:
                if let p = live.removeValue(forKey: name) { store.apply(.deleted(p)) }
            default:
                let p = pod(name, node: rng.next() % 4 == 0 ? nil : "n\(rng.next() % 5)", labels: ["v": "\(rng.next() % 3)"], rv: "\(step)")
                live[name] = p
                store.apply(.applied(p))
            }
            for n in 0..<5 {
                let scanned = Set(live.values.filter { $0.nodeName == "n\(n)" }.map(\.name))
                #expect(Set(store.byIndex(PodIndex.node, "n\(n)").map(\.name)) == scanned, "step \(step), node n\(n)")
            }
        }
    }
}

@Suite struct EventFilterTests {
    @Test func projectionChangesPassAndOthersDoNot() {
        let filter = EventFilter<CachedPod>.onChange { [$0.nodeName, $0.labels["app"]] }
        let a = pod("p", node: "n1", labels: ["app": "web"], phase: "Pending")
        let statusOnly = pod("p", node: "n1", labels: ["app": "web"], phase: "Running", rv: "2")
        let moved = pod("p", node: "n2", labels: ["app": "web"], rv: "3")
        #expect(filter.passes(.added(a)))
        #expect(filter.passes(.deleted(a)))
        #expect(!filter.passes(.updated(old: a, new: statusOnly)), "a status heartbeat does not pass")
        #expect(filter.passes(.updated(old: statusOnly, new: moved)))
    }

    @Test func generationChangedIgnoresStatusWrites() {
        var old = configMap("x", rv: "1"); old.metadata.generation = 1
        var status = configMap("x", rv: "2"); status.metadata.generation = 1
        var spec = configMap("x", rv: "3"); spec.metadata.generation = 2
        #expect(!EventFilter<ConfigMap>.generationChanged.passes(.updated(old: old, new: status)))
        #expect(EventFilter<ConfigMap>.generationChanged.passes(.updated(old: status, new: spec)))
    }
}

@Suite struct OwnerResolutionTests {
    func replicaSet(_ name: String, uid: String, owner: OwnerReference?) -> ReplicaSet {
        var m = ObjectMeta(name: name, namespace: "shop")
        m.uid = uid
        m.ownerReferences = owner.map { [$0] }
        return ReplicaSet(metadata: m)
    }

    @Test func podsResolveThroughReplicaSetsToDeploymentsAndKeepApiVersionAndUID() {
        let sets = Store<ReplicaSet>()
        let deployment = OwnerReference(apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: "d-uid", controller: true)
        let rsUID = UUID().uuidString.lowercased(), bareUID = UUID().uuidString.lowercased(), setUID = UUID().uuidString.lowercased()
        sets.apply(.restarted([replicaSet("web-5d8f", uid: rsUID, owner: deployment), replicaSet("bare", uid: bareUID, owner: nil)]))
        let resolver = OwnerResolver(replicaSets: sets)
        let viaDeployment = resolver.workload(of: pod("a", node: "n1", owner: ("ReplicaSet", "web-5d8f", rsUID)))
        #expect(viaDeployment?.reference == deployment)
        #expect(viaDeployment?.description == "Deployment shop/web")
        #expect(resolver.workload(of: pod("b", node: "n1", owner: ("ReplicaSet", "bare", bareUID)))?.kind == "ReplicaSet", "a ReplicaSet without an owner is the workload")
        #expect(resolver.workload(of: pod("c", node: "n1", owner: ("StatefulSet", "db", setUID)))?.reference.uid == setUID)
        #expect(resolver.workload(of: pod("d", node: "n1", owner: ("DaemonSet", "agent", UUID().uuidString.lowercased())))?.kind == "DaemonSet")
        #expect(resolver.workload(of: pod("e", node: "n1")) == nil, "unmanaged")
        // A ReplicaSet recreated under the same name (another uid) is not this pod's owner.
        #expect(resolver.workload(of: pod("f", node: "n1", owner: ("ReplicaSet", "web-5d8f", UUID().uuidString.lowercased())))?.kind == "ReplicaSet")
        // Not in the cache (yet): the ReplicaSet itself.
        #expect(resolver.workload(of: pod("g", node: "n1", owner: ("ReplicaSet", "unknown", UUID().uuidString.lowercased())))?.name == "unknown")
    }
}

@Suite struct WorkQueueCancellationTests {
    @Test func aCancelledWaitingWorkerGetsNilAndOthersStillGetKeys() async throws {
        let q = WorkQueue<String>(clock: ManualClock())
        let waiting = Task { await q.get() }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
        await q.add("a")
        #expect(await q.get() == "a", "the cancelled waiter did not swallow the key")
    }
}
