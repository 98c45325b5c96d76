import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KubernetesClient
import KubernetesCore
import Testing
import TestSupport
@testable import ControllerRuntime

/// A timestamp a test can set from any task.
final class Stamp: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Date?
    func set() { lock.withLock { if value == nil { value = Date() } } }
    var date: Date? { lock.withLock { value } }
}

@Suite struct LeaderElectionTests {
    /// The apiserver answers until the Lease is taken, then stalls every request (a partition).
    @Test func aLeaderCutOffStopsItsWorkBeforeRenewDeadlineEnds() async throws {
        let created = Stamp()
        let server = try FakeHTTPServer { method, path, body in
            guard path.contains("/leases") else { return nil }  // the work's own calls never answer
            if created.date != nil { return nil }  // partitioned from now on
            if method == "GET" { return .init(status: 404, body: #"{"kind":"Status","code":404,"reason":"NotFound"}"#) }
            created.set()
            return .init(status: 201, body: body)
        }
        defer { server.stop() }
        let client = KubernetesClient(connection: ClusterConnection(server: server.url))
        var timing = LeaderElector.Timing()
        // A long lease against a short deadline: the property tested is "work ends after the
        // deadline and before the lease could expire", with room for a machine busy with other tests.
        timing.leaseDuration = 30
        timing.renewDeadline = 3
        timing.retryPeriod = 0.5
        let elector = LeaderElector(client: client, namespace: "ns", name: "lease", identity: "me", timing: timing)
        let workStarted = Stamp(), workCancelled = Stamp()
        let campaign = Task {
            await elector.run {
                workStarted.set()
                // A reconcile blocked on an API call that will never answer.
                _ = try? await client.send(APIRequest(method: "GET", path: "/api/v1/nodes"), timeout: .seconds(60))
                workCancelled.set()
                try? await Task.sleep(for: .seconds(3600))
            }
        }
        defer { campaign.cancel() }
        let started = try await waitFor(30) { workStarted.date }
        let cancelled = try await waitFor(40) { workCancelled.date }
        let held = cancelled.timeIntervalSince(started)
        #expect(held >= timing.renewDeadline - 0.5, "not before the deadline (\(held) s)")
        #expect(held < timing.leaseDuration, "its work, an API call in flight included, ends before the Lease could expire (\(held) s; about renewDeadline + 1 s on an idle machine)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(!elector.isLeader)
    }

    @Test func anAttemptEndsAtItsDeadline() async throws {
        let server = try FakeHTTPServer { _, _, _ in nil }
        defer { server.stop() }
        let elector = LeaderElector(client: KubernetesClient(connection: ClusterConnection(server: server.url)), namespace: "ns", name: "l", identity: "me")
        let started = Date()
        let clock = SystemClock()
        #expect(await elector.attempt(until: clock.now() + 0.5) == false)
        #expect(Date().timeIntervalSince(started) < 30, "a stalled renewal gives up at its deadline (0.5 s), not at a request timeout")
    }
}

func waitFor<T>(_ seconds: Double, _ check: () -> T?) async throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let v = check() { return v }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw CancellationError()
}

@Suite struct HealthServerTests {
    @Test func aSlowClientDoesNotDelayAProbeAndAHangUpDoesNotKillTheProcess() async throws {
        let server = try HealthServer(address: "127.0.0.1:0", metrics: { String(repeating: "m 1\n", count: 200_000) },
                                      liveness: { (true, "ok") }, readiness: { (true, "ready") })
        try server.start()
        defer { server.stop() }
        let port = server.boundPort
        func connect() -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            return fd
        }
        // A scraper that connects and sends nothing (the server waits up to 5 s for its request).
        let slow = connect()
        defer { close(slow) }
        // A scraper that asks for the large /metrics and hangs up without reading (SIGPIPE on write).
        let rude = connect()
        _ = "GET /metrics HTTP/1.1\r\n\r\n".withCString { send(rude, $0, strlen($0), 0) }
        close(rude)
        // Meanwhile a probe is answered at once.
        let started = Date()
        let probe = connect()
        defer { close(probe) }
        _ = "GET /healthz HTTP/1.1\r\n\r\n".withCString { send(probe, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = read(probe, &buffer, buffer.count)
        let answer = String(decoding: buffer[0..<max(0, n)], as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200"))
        #expect(Date().timeIntervalSince(started) < 4, "answered while the slow client still holds its connection (it is given 5 s)")
    }
}

/// A controller whose state a test sets.
struct FakeController: ManagedController {
    var name = "fake"
    var hasSynced = true
    var longestReconcileSeconds: Double
    func run() async {}
    func stopTakingWork() async {}
}

@Suite struct ManagerProbeTests {
    func manager(_ controllers: [any ManagedController], elector: LeaderElector? = nil) -> ControllerManager {
        ControllerManager(informers: SharedInformers(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1"))),
                          elector: elector, controllers: controllers)
    }

    @Test func livenessFailsWhenAReconcileHangs() {
        #expect(manager([FakeController(longestReconcileSeconds: 5)]).liveness().ok)
        let hung = manager([FakeController(longestReconcileSeconds: 700)]).liveness()
        #expect(!hung.ok && hung.detail.contains("fake") && hung.detail.contains("700"))
    }

    @Test func readinessFollowsTheCachesAndTheLease() {
        #expect(manager([FakeController(longestReconcileSeconds: 0)]).readiness().ok, "no informers, synced controller, no election: ready")
        #expect(!manager([FakeController(hasSynced: false, longestReconcileSeconds: 0)]).readiness().ok)
        let elector = LeaderElector(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1")), namespace: "n", name: "l", identity: "me")
        let standby = manager([FakeController(hasSynced: false, longestReconcileSeconds: 0)], elector: elector).readiness()
        #expect(standby.ok && standby.detail.contains("standby"), "a standby is ready while it waits for the Lease")
    }
}
