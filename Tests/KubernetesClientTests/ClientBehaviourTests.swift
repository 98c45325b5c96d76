import Foundation
import HTTPTransport
import KubernetesClient
import KubernetesCore
import Testing
import TestSupport

func fakeClient(_ server: FakeHTTPServer, retry: RetryPolicy = RetryPolicy(), maxConcurrentRequests: Int = 32) -> KubernetesClient {
    KubernetesClient(connection: ClusterConnection(server: server.url), retryPolicy: retry, maxConcurrentRequests: maxConcurrentRequests)
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maximumAttempts: 4, baseDelay: 0.25, maximumDelay: 10)

    @Test func tooManyRequestsIsRetriedOnlyWithRetryAfter() {
        #expect(policy.delay(afterAttempt: 1, method: "POST", contentType: "application/json", statusCode: 429, retryAfterSeconds: 2) == 2)
        #expect(policy.delay(afterAttempt: 1, method: "POST", contentType: nil, statusCode: 429, retryAfterSeconds: nil) == nil,
                "an eviction blocked by a PodDisruptionBudget is the caller's answer")
        #expect(policy.delay(afterAttempt: 1, method: "GET", contentType: nil, statusCode: 429, retryAfterSeconds: 60) == 10, "capped")
        #expect(policy.delay(afterAttempt: 4, method: "GET", contentType: nil, statusCode: 429, retryAfterSeconds: 1) == nil, "attempts are bounded")
    }

    @Test func serverErrorsAreRetriedOnlyForIdempotentRequests() {
        for m in ["GET", "PUT", "DELETE"] {
            #expect(policy.delay(afterAttempt: 1, method: m, contentType: nil, statusCode: 503, retryAfterSeconds: nil) == 0.25)
            #expect(policy.delay(afterAttempt: 3, method: m, contentType: nil, statusCode: 500, retryAfterSeconds: nil) == 1.0)
        }
        #expect(policy.delay(afterAttempt: 1, method: "PATCH", contentType: "application/merge-patch+json", statusCode: 502, retryAfterSeconds: nil) != nil)
        #expect(policy.delay(afterAttempt: 1, method: "PATCH", contentType: "application/json-patch+json", statusCode: 502, retryAfterSeconds: nil) == nil)
        #expect(policy.delay(afterAttempt: 1, method: "POST", contentType: nil, statusCode: 500, retryAfterSeconds: nil) == nil,
                "a POST (an eviction with two budgets answers 500) may have had its effect")
        #expect(policy.delay(afterAttempt: 1, method: "GET", contentType: nil, statusCode: 501, retryAfterSeconds: nil) == nil)
        for code in [400, 401, 403, 404, 409, 410, 422] {
            #expect(policy.delay(afterAttempt: 1, method: "GET", contentType: nil, statusCode: code, retryAfterSeconds: 1) == nil)
        }
    }
}

@Suite struct ClientBehaviourTests {
    @Test func retriesAServerErrorOnGetAndHonoursRetryAfterOn429() async throws {
        let counter = Counter()
        let server = try FakeHTTPServer { method, path, _ in
            let n = counter.increment()
            if path.hasPrefix("/api/v1/namespaces/a/configmaps/x") { return n == 1 ? .init(status: 503) : .init(status: 200, body: #"{"metadata":{"name":"x"}}"#) }
            if path.hasPrefix("/api/v1/namespaces/a/configmaps") && method == "POST" {
                return .init(status: 429, headers: ["Retry-After": "1"], body: #"{"kind":"Status","code":429,"reason":"TooManyRequests"}"#)
            }
            return .init(status: 404)
        }
        defer { server.stop() }
        let client = fakeClient(server, retry: RetryPolicy(maximumAttempts: 2, baseDelay: 0.05))
        let cm = try await client.get(ConfigMap.self, namespace: "a", name: "x")
        #expect(cm.name == "x")
        let started = Date()
        await #expect(throws: ClientError.self) { try await client.create(ConfigMap.self, namespace: "a", body: ["metadata": ["name": "y"]]) }
        #expect(Date().timeIntervalSince(started) >= 0.9, "waited the server's Retry-After before the second try")
        #expect(server.received.filter { $0.method == "POST" }.count == 2)
        #expect(await client.statistics.retries == [503: 1, 429: 1])
    }

    @Test func cancellingTheTaskAbortsAStalledRequest() async throws {
        let server = try FakeHTTPServer { _, _, _ in nil }
        defer { server.stop() }
        let client = fakeClient(server)
        let started = Date()
        let request = Task { try await client.send(APIRequest(method: "GET", path: "/api/v1/nodes"), timeout: .seconds(600)) }
        try await Task.sleep(for: .milliseconds(300))
        request.cancel()
        let result = await request.result
        #expect(throws: CancellationError.self) { try result.get() }
        // About a second on an idle machine; the bound is loose for a machine busy with other tests,
        // and still far below the request's own 600 s timeout.
        #expect(Date().timeIntervalSince(started) < 60, "aborted when cancelled, not at the request timeout")
    }

    @Test func concurrentRequestsAreCapped() async throws {
        let inFlight = Counter(), peak = Counter()
        let server = try FakeHTTPServer { _, _, _ in
            let now = inFlight.increment()
            peak.raise(to: now)
            usleep(100_000)
            _ = inFlight.decrement()
            return .init(status: 200, body: #"{"metadata":{},"items":[]}"#)
        }
        defer { server.stop() }
        let client = fakeClient(server, maxConcurrentRequests: 3)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 { group.addTask { _ = try await client.list(ConfigMap.self, namespace: "a") } }
            try await group.waitForAll()
        }
        #expect(peak.value <= 3, "at most 3 transfers at once (peak \(peak.value))")
        #expect(server.received.count == 12)
    }

    @Test func aWatchThatStallsIsTakenAsDead() async throws {
        let server = try FakeHTTPServer { _, _, _ in nil }
        defer { server.stop() }
        let client = fakeClient(server)
        let started = Date()
        // Without the stall limit this watch would wait for ever; the race ends the test at 60 s.
        let ended = await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    for try await _ in client.watch(ConfigMap.self, namespace: "a", options: ListOptions(resourceVersion: "1"), stallSeconds: 2) {}
                    return "ended without error"
                } catch { return "\(error)" }
            }
            group.addTask { try? await Task.sleep(for: .seconds(60)); return "still open after 60 s" }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        #expect(ended.contains("curl error 28"), "the stall limit ended it as a transfer timeout: \(ended)")
        #expect(Date().timeIntervalSince(started) >= 1.5)
    }

    @Test func discoveryDocumentsMapKindsToResources() throws {
        let core = Data(#"{"versions":["v1"]}"#.utf8)
        let groups = Data(#"""
        {"groups":[{"name":"policy","versions":[{"groupVersion":"policy/v1","version":"v1"},{"groupVersion":"policy/v1beta1","version":"v1beta1"}],
                    "preferredVersion":{"groupVersion":"policy/v1beta1","version":"v1beta1"}}]}
        """#.utf8)
        let parsed = try DiscoveredGroups.parse(core: core, groups: groups)
        #expect(parsed.versions["policy"] == ["v1beta1", "v1"], "the preferred version first")
        #expect(parsed.versions[""] == ["v1"])
        let apps = try DiscoveredGroupVersion.parse(Data(#"""
        {"groupVersion":"apps/v1","resources":[
          {"name":"deployments","kind":"Deployment","namespaced":true},
          {"name":"deployments/scale","kind":"Scale","group":"autoscaling","version":"v1","namespaced":true},
          {"name":"deployments/status","kind":"Deployment","namespaced":true},
          {"name":"daemonsets","kind":"DaemonSet","namespaced":true}]}
        """#.utf8))
        #expect(apps.resources["Deployment"] == APIResource(group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true))
        #expect(apps.resources["Scale"] == nil, "a subresource is not a resource")
        #expect(apps.subresources["deployments"] == ["scale", "status"])
        #expect(apps.subresources["daemonsets"] == nil)
    }
}

/// A thread-safe counter for fake servers.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
    func decrement() -> Int { lock.withLock { n -= 1; return n } }
    func raise(to v: Int) { lock.withLock { n = max(n, v) } }
    var value: Int { lock.withLock { n } }
}

@Suite struct ExecPluginTests {
    func plugin(_ script: String) throws -> ExecConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ("#!/bin/sh\n" + script).write(toFile: "\(dir)/plugin.sh", atomically: true, encoding: .utf8)
        chmod("\(dir)/plugin.sh", 0o755)
        return ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: "\(dir)/plugin.sh", args: [], env: [:],
                          installHint: nil, provideClusterInfo: false, baseDirectory: dir)
    }

    @Test func aPluginThatFillsItsErrorPipeBeforeAnsweringDoesNotDeadlock() async throws {
        // 256 KiB on stderr first: more than a pipe holds, so reading stdout alone would block for ever.
        let exec = try plugin("""
        head -c 262144 /dev/zero | tr '\\0' 'e' >&2
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t-1"}}'
        """)
        let p = CredentialProvider(credentials: .exec(exec), server: "https://x", execTimeout: 120)
        #expect(try await p.authorizationHeader() == "Bearer t-1")
    }

    @Test func aHangingPluginIsKilledAtItsTimeout() async throws {
        // Were it not killed, it would answer (after 30 s) with a valid credential.
        let exec = try plugin("""
        sleep 30
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"late"}}'
        """)
        let p = CredentialProvider(credentials: .exec(exec), server: "https://x", execTimeout: 1)
        do {
            _ = try await p.authorizationHeader()
            Issue.record("a hanging plugin must fail")
        } catch let e as CredentialError {
            #expect(e.problem.contains("did not finish within 1 s and was killed"))
        }
    }

    @Test func malformedOutputIsNeverQuotedInErrors() async throws {
        let exec = try plugin("echo 'secret-token-value not json'\n")
        let p = CredentialProvider(credentials: .exec(exec), server: "https://x")
        do {
            _ = try await p.authorizationHeader()
            Issue.record("malformed output must fail")
        } catch let e as CredentialError {
            #expect(!e.description.contains("secret-token-value"), "the plugin's output may hold a secret: \(e)")
            #expect(e.description.contains("not an ExecCredential"))
        }
    }
}

@Suite struct WatchCredentialTests {
    @Test func aWatchAnswered401ReadsTheTokenFileAgainAndRetriesOnce() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("watch-token-\(UUID())").path
        try "old".write(toFile: path, atomically: true, encoding: .utf8)
        let server = try FakeHTTPServer { _, path, _ in
            guard path.contains("watch=true") else { return .init(status: 404) }
            return .init(status: 401, body: #"{"kind":"Status","code":401,"reason":"Unauthorized"}"#)
        }
        defer { server.stop() }
        let client = KubernetesClient(connection: ClusterConnection(server: server.url, credentials: .tokenFile(path)))
        do {
            for try await _ in client.watch(ConfigMap.self, namespace: "a", options: ListOptions(resourceVersion: "1")) {}
            Issue.record("a watch refused twice must fail")
        } catch let e as ClientError {
            #expect(e.apiError?.statusCode == 401)
        }
        #expect(server.received.count == 2, "one retry with a fresh credential, not more")
        #expect(await client.statistics.unauthorizedAnswers == 1)
    }
}

@Suite struct StreamBackpressureTests {
    /// A 32 MiB response read by a consumer that stops after its first chunk: the transport holds at
    /// most its read-ahead limit (plus the chunk in hand), not the whole response.
    @Test func aSlowConsumerHoldsOnlyTheReadAheadLimit() async throws {
        let body = String(repeating: "x", count: 32 << 20)
        let server = try FakeHTTPServer { _, _, _ in .init(status: 200, body: body) }
        defer { server.stop() }
        let limit = 1 << 20
        let http = HTTPClient(streamBufferLimit: limit)
        let stream = http.stream(HTTPRequest(method: "GET", url: "\(server.url)/big", timeout: nil))
        var iterator = stream.makeAsyncIterator()
        var received = 0
        while received == 0, let part = try await iterator.next() {
            if case .body(let d) = part { received += d.count }
        }
        try await Task.sleep(for: .seconds(1))  // the transfer runs on; the consumer does not read
        #expect(stream.bufferedBytes <= limit + (1 << 17), "read ahead: \(stream.bufferedBytes) bytes")
        // Reading on gets the whole body.
        while let part = try await iterator.next() { if case .body(let d) = part { received += d.count } }
        #expect(received == 32 << 20)
    }
}
