import Foundation
import KubernetesClient
import KubernetesCore
import NodeAgent
import Testing
import TestSupport
import UpdatePlanning

@Suite struct NodeAgentTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func step(_ annotations: [String: String], _ state: AgentState?, boot: String = "b0", running: Bool = false, at: Double = 0) -> AgentAction {
        agentStep(annotations: annotations, state: state, bootID: boot, now: t0.addingTimeInterval(at), commandRunning: running, rebootTimeout: 600)
    }

    @Test func theHandshakeFromTheAgentsSide() {
        let requested = [UpdateHandshake.state: "requested", UpdateHandshake.window: "w"]
        let inProgress = [UpdateHandshake.state: "in-progress"]
        #expect(step([:], nil) == .nothing)
        #expect(step(requested, nil) == .begin(window: "w"))
        let started = AgentState(window: "w", bootID: "b0", startedAt: t0)
        #expect(step(inProgress, started, running: true) == .nothing, "the command runs")
        var succeeded = started
        succeeded.commandSucceeded = true
        #expect(step(inProgress, succeeded, at: 30) == .awaitReboot)
        if case .reportFailed(let m) = step(inProgress, succeeded, at: 601) { #expect(m.contains("did not reboot")) } else { Issue.record("a reboot that never comes fails") }
        #expect(step(inProgress, succeeded, boot: "b1") == .reportDone, "a new boot: done")
        #expect(step(inProgress, started, boot: "b1") == .reportDone, "a reboot during the command counts (the command rebooted the node)")
        #expect(step([UpdateHandshake.state: "done"], started, boot: "b1") == .nothing, "done already said")
        if case .reportFailed(let m) = step(inProgress, started) { #expect(m.contains("restarted")) } else { Issue.record("a restart mid-command fails") }
        if case .reportFailed(let m) = step(inProgress, nil) { #expect(m.contains("no record")) } else { Issue.record("lost state fails") }
        #expect(step([UpdateHandshake.state: "failed"], nil) == .nothing)
        // A state a crash left behind does not answer a new request: the new attempt begins.
        #expect(step(requested, started) == .begin(window: "w"), "a failed attempt's state, same boot")
        #expect(step(requested, succeeded, boot: "b1") == .begin(window: "w"), "a finished attempt's state, older boot: not reported done again")
        #expect(step(requested, started, running: true) == .nothing, "while its command runs, the request is the one it is carrying out")
    }

    /// A node kept by a fake API server: GET returns it, PATCH merges annotations.
    final class FakeNode: @unchecked Sendable {
        let lock = NSLock()
        var annotations: [String: String]
        init(_ a: [String: String]) { annotations = a }
        var current: [String: String] { lock.withLock { annotations } }
        func answer(_ method: String, _ path: String, _ body: String) -> FakeHTTPServer.Answer? {
            guard path.hasPrefix("/api/v1/nodes/n1") else { return FakeHTTPServer.Answer(status: 404, body: #"{"kind":"Status","code":404}"#) }
            if method == "PATCH", let patch = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
               let changes = (patch["metadata"] as? [String: Any])?["annotations"] as? [String: Any] {
                lock.withLock { for (k, v) in changes { annotations[k] = v as? String } }
            }
            let json = try! JSONSerialization.data(withJSONObject: ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1", "annotations": current]])
            return FakeHTTPServer.Answer(status: 200, headers: ["Content-Type": "application/json"], body: String(decoding: json, as: UTF8.self))
        }
    }

    func agent(_ node: FakeNode, command: String, precheck: String? = nil, dir: String) throws -> (NodeAgent, FakeHTTPServer) {
        let server = try FakeHTTPServer { node.answer($0, $1, $2) }
        var configuration = NodeAgentConfiguration(nodeName: "n1", command: command)
        configuration.precheck = precheck
        configuration.bootIDFile = dir + "/boot_id"
        configuration.stateDirectory = dir + "/state"
        configuration.rebootTimeout = 60
        return (NodeAgent(client: KubernetesClient(connection: ClusterConnection(server: server.url)), configuration: configuration), server)
    }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "agent-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "b0\n".write(toFile: dir + "/boot_id", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func aCommandThatRebootsEndsInDone() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = FakeNode([UpdateHandshake.state: "requested", UpdateHandshake.window: "w"])
        // The fake update "reboots" by giving the host a new boot ID.
        let (agent, server) = try agent(node, command: "echo upgrading; echo b1 > \(dir)/boot_id", dir: dir)
        defer { server.stop() }
        #expect(try await agent.step() == .begin(window: "w"))
        #expect(node.current[UpdateHandshake.state] == "in-progress")
        #expect(FileManager.default.fileExists(atPath: dir + "/state/state.json"), "the state is on disk before the command runs")
        var action = AgentAction.nothing
        for _ in 0..<100 where action != .reportDone {
            try await Task.sleep(for: .milliseconds(50))
            action = try await agent.step()
        }
        #expect(action == .reportDone)
        #expect(node.current[UpdateHandshake.state] == "done")
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/state.json"), "the state is forgotten once done")
    }

    @Test func aFailingCommandIsReportedWithItsErrorOutput() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = FakeNode([UpdateHandshake.state: "requested", UpdateHandshake.window: "w"])
        let (agent, server) = try agent(node, command: "echo 'E: Unable to locate package' >&2; exit 100", dir: dir)
        defer { server.stop() }
        _ = try await agent.step()
        for _ in 0..<100 where node.current[UpdateHandshake.state] != "failed" { try await Task.sleep(for: .milliseconds(50)) }
        #expect(node.current[UpdateHandshake.state] == "failed")
        let message = node.current[UpdateHandshake.message] ?? ""
        #expect(message.contains("status 100") && message.contains("Unable to locate package"), "\(message)")
        #expect(try await agent.step() == .nothing, "it does not start again until asked again")
    }

    /// A failing precheck (kubelet holds no shutdown inhibitor, say) fails the node with the
    /// check's output, and the update command never runs; a passing one lets it run.
    @Test func aFailingPrecheckStopsTheUpdateBeforeItChangesAnything() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = FakeNode([UpdateHandshake.state: "requested", UpdateHandshake.window: "w"])
        let (refusing, server) = try agent(node, command: "touch \(dir)/updated; echo b1 > \(dir)/boot_id",
                                           precheck: "echo 'no delay inhibitor held by kubelet' >&2; exit 1", dir: dir)
        defer { server.stop() }
        _ = try await refusing.step()
        for _ in 0..<400 where node.current[UpdateHandshake.state] != "failed" { try await Task.sleep(for: .milliseconds(50)) }
        let message = node.current[UpdateHandshake.message] ?? ""
        #expect(node.current[UpdateHandshake.state] == "failed")
        #expect(message.contains("precheck exited with status 1") && message.contains("no delay inhibitor") && message.contains("not run"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/updated"), "the update command did not run")
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/state.json"))

        let passing = FakeNode([UpdateHandshake.state: "requested", UpdateHandshake.window: "w"])
        let (second, server2) = try agent(passing, command: "touch \(dir)/updated; echo b1 > \(dir)/boot_id", precheck: "true", dir: dir)
        defer { server2.stop() }
        var action = try await second.step()
        for _ in 0..<400 where action != .reportDone {
            try await Task.sleep(for: .milliseconds(50))
            action = try await second.step()
        }
        #expect(passing.current[UpdateHandshake.state] == "done")
        #expect(FileManager.default.fileExists(atPath: dir + "/updated"))
    }

    @Test func anAgentRestartedAfterTheCommandStillSeesTheReboot() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = FakeNode([UpdateHandshake.state: "requested", UpdateHandshake.window: "w"])
        let (first, server) = try agent(node, command: "true", dir: dir)
        defer { server.stop() }
        _ = try await first.step()
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(50))
            if try await first.step() == .awaitReboot { break }
        }
        // The machine reboots: a new process, a new boot ID.
        try "b1\n".write(toFile: dir + "/boot_id", atomically: true, encoding: .utf8)
        let (second, server2) = try agent(node, command: "true", dir: dir)
        defer { server2.stop() }
        #expect(try await second.step() == .reportDone)
        #expect(node.current[UpdateHandshake.state] == "done")
    }
}
