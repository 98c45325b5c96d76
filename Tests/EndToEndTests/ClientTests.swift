import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import Testing

/// The client and runtime against the real kube-apiserver.
extension EndToEnd {
@Suite struct ClientAgainstAPIServerTests {
    @Test func listsInPagesWithContinue() async throws {
        let ns = try Cluster.makeNamespace("pages")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        for i in 0..<25 {
            try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": .string("cm-\(i)")], "data": ["i": .string("\(i)")]])
        }
        let first = try await client.list(ConfigMap.self, namespace: ns, options: ListOptions(limit: 10))
        #expect(first.items.count == 10)
        #expect(!(first.metadata.continue ?? "").isEmpty)
        let all = try await client.listAll(ConfigMap.self, namespace: ns, pageSize: 7)
        #expect(Set(all.items.map(\.name)).count == 25 + 1 /* kube-root-ca.crt? */ || Set(all.items.map(\.name)).count == 25)
        #expect(all.items.filter { $0.name.hasPrefix("cm-") }.count == 25)
        #expect(all.metadata.resourceVersion != nil)
    }

    @Test func watchDeliversEventsAndBookmarksThenEndsAtTimeout() async throws {
        let ns = try Cluster.makeNamespace("watch")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let list = try await client.list(ConfigMap.self, namespace: ns)
        let rv = list.metadata.resourceVersion!
        let started = Date()
        var added: [String] = []
        var bookmarks: [String] = []
        let stream = client.watch(ConfigMap.self, namespace: ns, options: ListOptions(resourceVersion: rv, timeoutSeconds: 6, allowWatchBookmarks: true))
        Task {
            try await Task.sleep(for: .milliseconds(500))
            try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "a"]])
            try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "b"]])
        }
        for try await event in stream {
            switch event {
            case .added(let cm): added.append(cm.name)
            case .bookmark(let v): bookmarks.append(v)
            default: break
            }
        }
        #expect(added == ["a", "b"])
        #expect(!bookmarks.isEmpty, "the server sends a bookmark before the watch times out")
        #expect(Int(bookmarks.last!)! >= Int(rv)!)
        #expect(Date().timeIntervalSince(started) >= 5, "the stream ends when the server closes the watch")
    }

    /// Also the 410 case: a resourceVersion from before the restart is older than the new watch
    /// cache's start, so a watch from it ends with 410 Gone and a watcher relists.
    @Test func watcherSurvivesAnAPIServerRestartAndRelistsAfter410() async throws {
        let ns = try Cluster.makeNamespace("restart")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let store = Store<ConfigMap>()
        let watcher = Watcher<ConfigMap>(client: client, namespace: ns)
        let feeding = Task { for await e in watcher.events() { store.apply(e) } }
        defer { feeding.cancel() }
        await store.waitUntilSynced()
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "before"]])
        _ = try await Cluster.eventually(timeout: 20) { store.get(ObjectKey(namespace: ns, name: "before")) }

        let old = try await client.list(ConfigMap.self, namespace: ns).metadata.resourceVersion!
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "gone-before-restart"]])
        try await client.delete(ConfigMap.resource, namespace: ns, name: "gone-before-restart")

        let restart = try Cluster.run("hack/control-plane.sh", ["restart-apiserver", Cluster.directory!])
        #expect(restart.status == 0, "\(restart.err)")
        try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "after"]])
        _ = try await Cluster.eventually(timeout: 60) { store.get(ObjectKey(namespace: ns, name: "after")) }
        #expect(store.get(ObjectKey(namespace: ns, name: "before")) != nil)

        var sawGone = false
        for try await event in client.watch(ConfigMap.self, namespace: ns, options: ListOptions(resourceVersion: old, timeoutSeconds: 5)) {
            if case .error(let s) = event { sawGone = s.code == 410; break }
        }
        #expect(sawGone, "a watch from a resourceVersion older than the watch cache ends with 410 Gone")
        var resuming = Watcher<ConfigMap>(client: client, namespace: ns)
        resuming.startingResourceVersion = old
        let relisted = await firstRestart(of: resuming, within: 30)
        #expect(relisted?.contains("after") == true)
        #expect(relisted?.contains("gone-before-restart") == false)
    }

    @Test func staleUpdateIsAConflict() async throws {
        let ns = try Cluster.makeNamespace("conflict")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let cm = try await client.create(ConfigMap.self, namespace: ns, body: ["metadata": ["name": "c"], "data": ["v": "1"]])
        let stale = cm.metadata.resourceVersion!
        try await client.replace(ConfigMap.self, namespace: ns, name: "c", body: ["metadata": ["name": "c", "resourceVersion": .string(stale)], "data": ["v": "2"]])
        do {
            try await client.replace(ConfigMap.self, namespace: ns, name: "c", body: ["metadata": ["name": "c", "resourceVersion": .string(stale)], "data": ["v": "3"]])
            Issue.record("a stale update must fail")
        } catch let e as ClientError {
            #expect(e.apiError?.isConflict == true)
            #expect(e.apiError?.status.reason == "Conflict")
        }
        #expect(try await client.get(ConfigMap.self, namespace: ns, name: "c").data?["v"] == "2")
    }

    @Test func scaleAndStatusSubresources() async throws {
        try Cluster.installManifests()
        let ns = try Cluster.makeNamespace("scale")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        try Cluster.kubectl(["create", "deployment", "web", "--image=nginx", "--replicas=1", "-n", ns])
        let scaled = try await client.setScale(Deployment.resource, namespace: ns, name: "web", replicas: 4)
        #expect(scaled.spec.replicas == 4)
        #expect(try await client.get(Deployment.self, namespace: ns, name: "web").spec?.replicas == 4)
        #expect(try await client.getScale(Deployment.resource, namespace: ns, name: "web").spec.replicas == 4)

        // The status subresource of a Foresight resource: written through /status, ignored on the main resource.
        let name = "status-\(ns)"
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(name)}
        spec:
          nodeSelector: {matchLabels: {pool: none}}
          schedule: {start: "2030-01-01T00:00:00Z", duration: 1h}
        """)
        defer { _ = try? Cluster.kubectl(["delete", "updatewindow", name], allowFailure: true) }
        struct UW: KubernetesResource {
            static let resource = APIResource(group: "foresight.dev", version: "v1alpha1", plural: "updatewindows", kind: "UpdateWindow", namespaced: false)
            var metadata: ObjectMeta
            var spec: JSONValue?
            var status: JSONValue?
        }
        let written = try await client.patchStatus(UW.self, name: name, status: ["phase": "Waiting", "progress": "0/0"])
        #expect(written.status?["phase"] == "Waiting")
        try await client.patch(UW.self, name: name, body: ["status": ["phase": "Failed"], "spec": ["paused": true]])
        let read = try await client.get(UW.self, name: name)
        #expect(read.status?["phase"] == "Waiting", "a write to the main resource ignores status")
        #expect(read.spec?["paused"] == .bool(true))
        #expect(read.spec?["order"] == "PredictedLoad", "the CRD's defaults are applied")
    }

    @Test func evictionRespectsDisruptionBudgets() async throws {
        let ns = try Cluster.makeNamespace("evict")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        #expect(try await client.evictionPolicyVersion() == "v1beta1", "a 1.20 server serves Eviction in policy/v1beta1")
        for name in ["free", "guarded"] {
            try await client.create(Pod.self, namespace: ns, body: [
                "metadata": ["name": .string(name), "labels": ["app": .string(name)]],
                "spec": ["containers": [["name": "c", "image": "nginx"]]],
            ])
        }
        let pdbResource = try await client.podDisruptionBudgetResource()
        #expect(pdbResource.apiVersion == "policy/v1beta1")
        // Pending pods may always be evicted; these play Running and Ready, as a kubelet would report.
        for name in ["free", "guarded"] {
            try await client.patchStatus(Pod.self, namespace: ns, name: name, status: [
                "phase": "Running", "conditions": [["type": "Ready", "status": "True"], ["type": "ContainersReady", "status": "True"]],
            ])
        }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: \(pdbResource.apiVersion)
        kind: PodDisruptionBudget
        metadata: {name: guard, namespace: \(ns)}
        spec:
          minAvailable: 1
          selector: {matchLabels: {app: guarded}}
        """)
        _ = try await Cluster.eventually(timeout: 30) { () async throws -> Bool? in
            let pdb = try await client.send(RequestBuilder.get(pdbResource, namespace: ns, name: "guard"), as: PodDisruptionBudget.self)
            return pdb.status?.expectedPods == 1 && pdb.status?.currentHealthy == 1 ? true : nil
        }
        try await client.evict(namespace: ns, pod: "free", options: DeleteOptions(gracePeriodSeconds: 0))
        _ = try await Cluster.eventually(timeout: 20) { () async throws -> Bool? in
            try await client.getIfExists(Pod.self, namespace: ns, name: "free") == nil ? true : nil
        }
        do {
            try await client.evict(namespace: ns, pod: "guarded")
            Issue.record("the PodDisruptionBudget must block this eviction")
        } catch let e as ClientError {
            #expect(e.apiError?.isTooManyRequests == true, "\(e)")
        }
        do {
            try await client.evict(namespace: ns, pod: "missing")
            Issue.record("evicting a missing pod must fail")
        } catch let e as ClientError {
            #expect(e.apiError?.isNotFound == true)
        }
    }

    @Test func serverSideApplyOwnsFields() async throws {
        let ns = try Cluster.makeNamespace("ssa")
        defer { Cluster.deleteNamespace(ns) }
        let client = try Cluster.admin()
        let body: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "applied", "namespace": .string(ns)], "data": ["a": "1"]]
        try await client.apply(ConfigMap.self, namespace: ns, name: "applied", body: body, fieldManager: "foresight")
        let second: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "applied", "namespace": .string(ns)], "data": ["b": "2"]]
        let result = try await client.apply(ConfigMap.self, namespace: ns, name: "applied", body: second, fieldManager: "foresight")
        #expect(result.data == ["b": "2"], "fields the manager no longer applies are removed")
        let managers = try Cluster.kubectl(["get", "configmap", "applied", "-n", ns, "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]).out
        #expect(managers.contains("foresight"))
    }

    @Test func controllerTokenHasExactlyTheShippedPermissions() async throws {
        try Cluster.installManifests()
        let controller = try Cluster.controller()
        _ = try await controller.list(Node.self)
        _ = try await controller.list(Pod.self, options: ListOptions(limit: 1))
        _ = try await controller.list(Deployment.self, options: ListOptions(limit: 1))
        struct ZP: KubernetesResource {
            static let resource = APIResource(group: "foresight.dev", version: "v1alpha1", plural: "zoneplans", kind: "ZonePlan", namespaced: false)
            var metadata: ObjectMeta
        }
        _ = try await controller.list(ZP.self)
        for (what, call) in [
            ("list secrets", { _ = try await controller.send(APIRequest(method: "GET", path: "/api/v1/secrets")) }),
            ("delete nodes", { try await controller.delete(Node.resource, name: "no-such-node") }),
            ("create deployments", { _ = try await controller.create(Deployment.self, namespace: "default", body: ["metadata": ["name": "x"]]) }),
        ] as [(String, () async throws -> Void)] {
            do {
                try await call()
                Issue.record("the controller must not be allowed to \(what)")
            } catch let e as ClientError {
                #expect(e.apiError?.isForbidden == true, "\(what): \(e)")
            }
        }
    }
}
}

/// The first full list a watcher reports, or nil after `seconds`.
func firstRestart<K: KubernetesResource>(of watcher: Watcher<K>, within seconds: Double) async -> [String]? {
    await withTaskGroup(of: [String]?.self) { group in
        group.addTask {
            for await event in watcher.events() { if case .restarted(let all) = event { return all.map(\.name) } }
            return nil
        }
        group.addTask { try? await Task.sleep(for: .seconds(seconds)); return nil }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
