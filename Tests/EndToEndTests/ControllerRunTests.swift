import Foundation
import KubernetesClient
import KubernetesCore
import Testing

extension EndToEnd {
/// `foresight run` as a real process with the controller's own token (bound only to the shipped ClusterRole).
@Suite struct ControllerRunTests {
    func startController(identity: String) throws -> (BackgroundProcess, Int) {
        let port = Int.random(in: 20000...40000)
        let p = try BackgroundProcess(Cluster.binary("foresight"), [
            "run", "--kubeconfig", Cluster.controllerKubeconfig, "--leader-elect", "--lease-namespace", "foresight-system",
            "--identity", identity, "--metrics-address", "127.0.0.1:\(port)",
        ], kubeconfig: Cluster.controllerKubeconfig, name: "controller-\(identity)")
        return (p, port)
    }

    func get(_ port: Int, _ path: String) -> (Int32, String) {
        let r = try? Cluster.run("curl", ["-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let lines = (r?.out ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        return (Int32(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func reportsSpecProblemsInStatusAndEventsThenAcceptsTheFix() async throws {
        try Cluster.installManifests()
        let (controller, port) = try startController(identity: "status-\(UUID().uuidString.prefix(4))")
        defer { controller.stop() }
        let name = "e2e-\(UUID().uuidString.prefix(5).lowercased())"
        defer { _ = try? Cluster.kubectl(["delete", "updatewindow", name], allowFailure: true) }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(name)}
        spec:
          nodeSelector: {matchLabels: {pool: general}}
          schedule: {start: "2030-01-01T00:00:00Z", duration: 4h, timeZone: Mars/Olympus}
          maxUnavailable: "0%"
        """)
        let reason = try Cluster.eventually(timeout: 60) { () -> String? in
            let r = try Cluster.kubectl(["get", "updatewindow", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}"])
            return r.out.isEmpty ? nil : r.out
        }
        #expect(reason == "InvalidSpec")
        let message = try Cluster.kubectl(["get", "updatewindow", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}"]).out
        #expect(message.contains("spec.schedule.timeZone: unknown time zone \"Mars/Olympus\""))
        #expect(message.contains("spec.maxUnavailable"))
        let described = try Cluster.eventually(timeout: 20) { () -> String? in
            let out = try Cluster.kubectl(["describe", "updatewindow", name]).out
            return out.contains("InvalidSpec") && out.contains("foresight-controller") ? out : nil
        }
        #expect(described.contains("Warning"))

        try Cluster.kubectl(["patch", "updatewindow", name, "--type", "merge", "-p", #"{"spec":{"schedule":{"timeZone":"UTC"},"maxUnavailable":1}}"#])
        let accepted = try Cluster.eventually(timeout: 30) { () -> String? in
            let out = try Cluster.kubectl(["get", "updatewindow", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}/{.status.observedGeneration}"]).out
            return out == "SpecAccepted/2" ? out : nil
        }
        #expect(accepted == "SpecAccepted/2")

        let (code, metrics) = get(port, "/metrics")
        #expect(code == 200)
        #expect(metrics.contains("foresight_reconcile_total{controller=\"updatewindow\",result=\"success\"}"))
        #expect(get(port, "/readyz").0 == 200)
        #expect(get(port, "/healthz").0 == 200)
        #expect(get(port, "/nothing").0 == 404)
        #expect(controller.stop() == 0, "a SIGTERM ends the controller cleanly: \(controller.log.suffix(400))")
    }

    @Test func twoReplicasOneLeaderFailoverOnShutdown() async throws {
        try Cluster.installManifests()
        let client = try Cluster.admin()
        let run = UUID().uuidString.prefix(4).lowercased()
        let (a, portA) = try startController(identity: "a-\(run)")
        defer { a.stop() }
        func holder() async throws -> String? {
            try await client.getIfExists(Lease.self, namespace: "foresight-system", name: "foresight-controller")?.spec?.holderIdentity
        }
        // A previous test's controller released the Lease; a takes it.
        _ = try await Cluster.eventually(timeout: 40) { () async throws -> Bool? in try await holder() == "a-\(run)" ? true : nil }
        let (b, portB) = try startController(identity: "b-\(run)")
        defer { b.stop() }
        try await Task.sleep(for: .seconds(3))
        #expect(try await holder() == "a-\(run)", "the leader keeps its Lease while it renews")
        #expect(get(portB, "/readyz").1.contains("standby"))
        #expect(get(portA, "/readyz").0 == 200)

        let stopped = Date()
        #expect(a.stop() == 0)
        _ = try await Cluster.eventually(timeout: 30) { () async throws -> Bool? in try await holder() == "b-\(run)" ? true : nil }
        let takeover = Date().timeIntervalSince(stopped)
        #expect(takeover < 10, "a released Lease is taken at the next retry, not after the 15 s lease duration (took \(takeover) s)")
        #expect(a.log.contains("released the Lease"))
        _ = try await Cluster.eventually(timeout: 20) { () -> Bool? in get(portB, "/readyz").1.contains("reconciling") ? true : nil }
    }
}
}
