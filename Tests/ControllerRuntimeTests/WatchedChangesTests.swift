import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesCore
import Reconcilers
import Testing
import UpdatePlanning

/// The filters that decide which changes wake the controllers. Each object is decoded afresh, as
/// an informer does for every event, so two equal dictionaries are two instances.
@Suite struct WatchedChangesTests {
    func node(heartbeat: String, pool: String = "general", ready: String = "True") throws -> Node {
        try JSONDecoder().decode(Node.self, from: Data("""
        {"metadata": {"name": "n1", "resourceVersion": "\(heartbeat)",
          "labels": {"pool": "\(pool)", "kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux", "zone": "a", "tier": "web"}},
         "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"},
          "conditions": [{"type": "Ready", "status": "\(ready)", "lastHeartbeatTime": "2026-12-06T20:30:\(heartbeat)Z"}],
          "nodeInfo": {"bootID": "b1"}}}
        """.utf8))
    }

    func deployment(ready: Int, replicas: Int = 4) throws -> Deployment {
        try JSONDecoder().decode(Deployment.self, from: Data("""
        {"metadata": {"name": "web", "namespace": "shop", "labels": {"tier": "web", "team": "shop", "app": "web"}},
         "spec": {"replicas": \(replicas), "selector": {"matchLabels": {"app": "web", "tier": "web"}},
          "template": {"metadata": {"labels": {"app": "web", "tier": "web", "version": "3"}},
           "spec": {"nodeSelector": {"pool": "general", "zone": "a"},
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}}]}}},
         "status": {"replicas": \(replicas), "readyReplicas": \(ready), "availableReplicas": \(ready)}}
        """.utf8))
    }

    /// A node's heartbeat changes nothing the controllers read: it wakes neither, however its
    /// labels and capacity happen to be laid out in memory. (Filters that compared descriptions
    /// of these dictionaries passed most heartbeats, and woke every plan and window with them.)
    @Test func aNodeHeartbeatWakesNoController() throws {
        for beat in 10..<60 {
            let update = InformerEvent<Node>.updated(old: try node(heartbeat: "\(beat)"), new: try node(heartbeat: "\(beat + 1)"))
            #expect(!ZonePlanWatches.nodes.passes(update), "heartbeat \(beat)")
            #expect(!UpdateWindowWatches.nodes.passes(update), "heartbeat \(beat)")
        }
        let relabelled = InformerEvent<Node>.updated(old: try node(heartbeat: "10"), new: try node(heartbeat: "11", pool: "batch"))
        #expect(ZonePlanWatches.nodes.passes(relabelled) && UpdateWindowWatches.nodes.passes(relabelled))
        let notReady = InformerEvent<Node>.updated(old: try node(heartbeat: "10"), new: try node(heartbeat: "11", ready: "False"))
        #expect(ZonePlanWatches.nodes.passes(notReady) && UpdateWindowWatches.nodes.passes(notReady))
    }

    /// A plan sizes its pool by the nodes that take pods and holds it while a window updates them:
    /// a cordon and an UpdateWindow's pending taint wake it (and nothing else of the same beat).
    @Test func aCordonAndAWindowsTaintWakeThePlans() throws {
        var cordoned = try node(heartbeat: "11")
        cordoned.spec = try JSONDecoder().decode(NodeSpec.self, from: Data(#"{"unschedulable": true}"#.utf8))
        #expect(ZonePlanWatches.nodes.passes(.updated(old: try node(heartbeat: "10"), new: cordoned)))
        var tainted = try node(heartbeat: "11")
        tainted.spec = try JSONDecoder().decode(NodeSpec.self, from: Data(#"{"taints": [{"key": "foresight.dev/update-pending", "effect": "PreferNoSchedule"}]}"#.utf8))
        #expect(tainted.spec?.taints?.first?.key == UpdateHandshake.pendingTaint)
        #expect(ZonePlanWatches.nodes.passes(.updated(old: try node(heartbeat: "10"), new: tainted)))
        #expect(!ZonePlanWatches.nodes.passes(.updated(old: tainted, new: tainted)))
    }

    /// A Deployment's status write wakes a plan only through its Ready count, which only plans
    /// whose pool gives nodes back follow; a change of size wakes every plan.
    @Test func aDeploymentStatusWriteWakesOnlyWhatReadsIt() throws {
        for _ in 0..<50 {
            let statusOnly = InformerEvent<Deployment>.updated(old: try deployment(ready: 3), new: try deployment(ready: 4))
            #expect(!ZonePlanWatches.deployments.passes(statusOnly))
            #expect(ZonePlanWatches.deploymentReadiness.passes(statusOnly))
            #expect(UpdateWindowWatches.deployments.passes(statusOnly), "a surge waits for its available count")
            let same = InformerEvent<Deployment>.updated(old: try deployment(ready: 4), new: try deployment(ready: 4))
            #expect(!ZonePlanWatches.deployments.passes(same) && !ZonePlanWatches.deploymentReadiness.passes(same) && !UpdateWindowWatches.deployments.passes(same))
        }
        var surged = try deployment(ready: 4)
        surged.metadata.annotations = [SurgeLedger.annotation: #"{"node-1":2}"#]
        #expect(ZonePlanWatches.deployments.passes(.updated(old: surged, new: try deployment(ready: 4))), "an UpdateWindow's surge given back")
        let scaled = InformerEvent<Deployment>.updated(old: try deployment(ready: 4), new: try deployment(ready: 4, replicas: 6))
        #expect(ZonePlanWatches.deployments.passes(scaled) && UpdateWindowWatches.deployments.passes(scaled))
        #expect(!ZonePlanWatches.deploymentReadiness.passes(scaled))
        // Past its progress deadline: a pool waiting for its replicas need not wait any longer.
        var stalled = try deployment(ready: 0)
        stalled.status?.conditions = [DeploymentCondition(type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded")]
        let fresh = try deployment(ready: 0)
        #expect(stalled.progressDeadlineExceeded && !fresh.progressDeadlineExceeded)
        #expect(ZonePlanWatches.deploymentReadiness.passes(.updated(old: try deployment(ready: 0), new: stalled)))
        // As the API server writes it; a condition missing a field still decodes.
        let decoded = try JSONDecoder().decode(Deployment.self, from: Data(#"""
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}, "status": {"conditions": [
          {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
          {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"b-1\" has timed out progressing."},
          {"reason": "NoTypeOrStatus"}]}}
        """#.utf8))
        #expect(decoded.progressDeadlineExceeded && decoded.status?.conditions?.count == 3)
        var progressing = stalled
        progressing.status?.conditions = [DeploymentCondition(type: "Progressing", status: "True", reason: "ReplicaSetUpdated")]
        #expect(!progressing.progressDeadlineExceeded)
    }

    /// A window ordered by a ZonePlan's forecasts plans again when the plan refits (its first fit
    /// included), not on the plan's other status writes.
    @Test func aZonePlanRefitWakesItsWindows() throws {
        func plan(_ status: String) throws -> ZonePlan {
            try JSONDecoder().decode(ZonePlan.self, from: Data(#"{"metadata":{"name":"shop","generation":1},"status":\#(status)}"#.utf8))
        }
        let unfitted = try plan(#"{"zoneCount":1}"#), fitted = try plan(#"{"zoneCount":1,"lastForecastTime":"2026-12-06T22:00:00Z"}"#)
        #expect(UpdateWindowWatches.zonePlanForecasts.passes(.updated(old: unfitted, new: fitted)))
        let later = try plan(#"{"zoneCount":2,"lastForecastTime":"2026-12-06T22:00:00Z"}"#)
        #expect(!UpdateWindowWatches.zonePlanForecasts.passes(.updated(old: fitted, new: later)))
    }

    /// Additions and deletions always pass; fields of different types never compare equal.
    @Test func additionsAndDeletionsAlwaysPass() throws {
        let n = try node(heartbeat: "10")
        #expect(ZonePlanWatches.nodes.passes(.added(n)) && ZonePlanWatches.nodes.passes(.deleted(n)))
        let mixed = EventFilter<Node>.onChange { $0.name == "n1" ? [$0.name] : [1] }
        var other = n
        other.metadata.name = "n2"
        #expect(mixed.passes(.updated(old: n, new: other)))
    }
}

/// The keys a reconciler marks as waiting, for watch mappings to read: set, cleared, found by
/// namespace, written and read from many tasks.
@Suite struct WaitingKeysTests {
    @Test func aChangeWakesOnlyTheKeysFollowingItsNamespace() async {
        let keys = WaitingKeys()
        let a = ObjectKey(name: "a"), b = ObjectKey(name: "b")
        keys.set(a, following: ["shop", "search"]); keys.set(b, following: ["shop"])
        #expect(Set(keys.keys(following: "shop")) == [a, b])
        #expect(keys.keys(following: "search") == [a])
        #expect(keys.keys(following: "other").isEmpty)
        keys.set(b, following: nil); keys.remove(a)
        #expect(keys.keys(following: "shop").isEmpty && keys.keys(following: "search").isEmpty)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask {
                    keys.set(ObjectKey(name: "k\(i)"), following: ["ns"]); _ = keys.keys(following: "ns")
                    keys.set(ObjectKey(name: "k\(i)"), following: i % 2 == 0 ? ["ns"] : nil)
                }
            }
        }
        #expect(keys.keys(following: "ns").count == 32)
    }
}
