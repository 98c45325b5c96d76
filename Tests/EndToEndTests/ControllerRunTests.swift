import Foundation
import KubernetesClient
import KubernetesCore
import Testing

extension EndToEnd {
/// `foresight run` as a real process with the controller's own token (bound only to the shipped ClusterRole).
@Suite struct ControllerRunTests {
    /// Starts `foresight run` on a port the kernel picks (a port chosen at random could be taken,
    /// as one in the ephemeral range once was) and reads the port back from its log.
    func startController(identity: String, kubeconfig: String = Cluster.controllerKubeconfig) throws -> (BackgroundProcess, Int) {
        let p = try BackgroundProcess(Cluster.binary("foresight"), [
            "run", "--kubeconfig", kubeconfig, "--leader-elect", "--lease-namespace", "foresight-system",
            "--identity", identity, "--metrics-address", "127.0.0.1:0",
        ], kubeconfig: kubeconfig, name: "controller-\(identity)")
        let port = try Cluster.eventually(timeout: 20) { () -> Int? in
            p.log.split(separator: "\n").first { $0.contains("serving /metrics") }.flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
        }
        return (p, port)
    }

    /// The time a controller's log line says something happened ("became leader at T", "stopped leading at T").
    func loggedTime(_ log: String, _ phrase: String) -> Date? {
        for line in log.split(separator: "\n") {
            guard let range = line.range(of: "\(phrase) at ") else { continue }
            var stamp = String(line[range.upperBound...].prefix { !$0.isWhitespace })
            if stamp.hasSuffix(":") { stamp.removeLast() }
            // 2026-11-30T05:30:01.123456Z: keep milliseconds, which ISO8601DateFormatter reads.
            if let dot = stamp.firstIndex(of: "."), stamp.hasSuffix("Z") {
                stamp = String(stamp[..<dot]) + "." + String(stamp[stamp.index(after: dot)...].prefix(3)) + "Z"
            }
            if let t = Timestamp.parse(stamp) { return t }
        }
        return nil
    }

    /// The leader is cut off from the apiserver by a proxy that stops forwarding (no reset, no
    /// close). It must stop leading (cancelling its work) before the standby, which still reaches
    /// the apiserver, can take the Lease.
    @Test func aPartitionedLeaderStopsActingBeforeTheStandbyTakesOver() async throws {
        try Cluster.installManifests()
        let client = try Cluster.admin()
        let server = try String(contentsOfFile: "\(Cluster.directory!)/server", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let target = URL(string: server)!
        let proxy = try BackgroundProcess("python3", ["hack/testing/stall-proxy.py", target.host!, "\(target.port!)"],
                                          kubeconfig: Cluster.adminKubeconfig, name: "stall-proxy")
        defer { proxy.stop(grace: 2) }
        let proxyPort = try Cluster.eventually(timeout: 10) { Int(proxy.log.split(separator: "\n").first ?? "") }
        let viaProxy = "\(Cluster.directory!)/controller-via-proxy.kubeconfig"
        try String(contentsOfFile: Cluster.controllerKubeconfig, encoding: .utf8)
            .replacingOccurrences(of: server, with: "https://127.0.0.1:\(proxyPort)")
            .write(toFile: viaProxy, atomically: true, encoding: .utf8)

        let run = UUID().uuidString.prefix(4).lowercased()
        func holder() async throws -> String? {
            try await client.getIfExists(Lease.self, namespace: "foresight-system", name: "foresight-controller")?.spec?.holderIdentity
        }
        let (a, portA) = try startController(identity: "a-\(run)", kubeconfig: viaProxy)
        defer { a.stop() }
        _ = try await Cluster.eventually(timeout: 40) { () async throws -> Bool? in try await holder() == "a-\(run)" ? true : nil }
        let (b, portB) = try startController(identity: "b-\(run)")
        defer { b.stop() }
        _ = try await Cluster.eventually(timeout: 20) { () -> Bool? in get(portB, "/readyz").1.contains("standby") ? true : nil }

        let lastRenewBeforeStall = try await client.get(Lease.self, namespace: "foresight-system", name: "foresight-controller").spec?.renewTime
        let stalledAt = Date()
        proxy.child.signal(SIGUSR1)
        _ = try await Cluster.eventually(timeout: 40) { () async throws -> Bool? in try await holder() == "b-\(run)" ? true : nil }
        let lease = try await client.get(Lease.self, namespace: "foresight-system", name: "foresight-controller")
        let aStopped = try Cluster.eventually(timeout: 5) { loggedTime(a.log, "stopped leading") }
        let bLeads = try Cluster.eventually(timeout: 5) { loggedTime(b.log, "became leader") }
        let f = { (d: Date) in String(format: "%+.2f s", d.timeIntervalSince(stalledAt)) }
        print("""
        partitioned leader timeline (relative to the stall):
          a's last renewal before the stall: \(lastRenewBeforeStall ?? "?")
          proxy stalls a's connections:      +0.00 s
          a stops leading (work cancelled):  \(f(aStopped))
          b becomes leader:                  \(f(bLeads))  (Lease acquireTime \(lease.spec?.acquireTime ?? "?"), transitions \(lease.spec?.leaseTransitions ?? 0))
        """)
        #expect(aStopped < bLeads, "the old leader stops acting before the new one starts")
        #expect(bLeads.timeIntervalSince(aStopped) > 1, "with a margin: renewDeadline 10 s < leaseDuration 15 s")
        #expect(aStopped.timeIntervalSince(stalledAt) < 12.5, "a stops within renewDeadline (10 s) of its last renewal, not after a 60 s request timeout")
        #expect(a.isRunning, "a stays up as a candidate")
        // Healed: a does not take the Lease back while b renews, and reports standby.
        proxy.child.signal(SIGUSR2)
        _ = try await Cluster.eventually(timeout: 30) { () -> Bool? in get(portA, "/readyz").1.contains("standby") ? true : nil }
        try await Task.sleep(for: .seconds(3))
        #expect(try await holder() == "b-\(run)")
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
            return out == "Waiting/2" ? out : nil
        }
        #expect(accepted == "Waiting/2")

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
