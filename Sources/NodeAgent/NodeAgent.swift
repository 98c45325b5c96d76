import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import UpdatePlanning

/// What the agent keeps on the host (`--state-dir`) while an update runs, so that it knows after
/// the reboot, in a new process, that the update it started is the one that finished.
public struct AgentState: Codable, Sendable, Equatable {
    public var window: String
    /// The boot the update started from.
    public var bootID: String
    public var startedAt: Date
    /// The host command finished with success; the reboot is awaited.
    public var commandSucceeded: Bool

    public init(window: String, bootID: String, startedAt: Date, commandSucceeded: Bool = false) {
        self.window = window
        self.bootID = bootID
        self.startedAt = startedAt
        self.commandSucceeded = commandSucceeded
    }
}

/// What the agent does next.
public enum AgentAction: Sendable, Equatable {
    case nothing
    /// Record the state, say `in-progress`, run the host command.
    case begin(window: String)
    /// The node came back on another boot: say `done`, forget the state.
    case reportDone
    case reportFailed(String)
    /// The command succeeded; the reboot has not happened yet.
    case awaitReboot
}

/// The agent's side of the handshake, decided from the node's annotations, the state it kept and
/// the boot it runs in. Pure.
///
/// - `requested` (and no command of this process running): begin; a state left by an earlier
///   attempt (a crash kept it) is over.
/// - A state whose boot differs from the current one: the update rebooted the node; done.
/// - A state on the same boot: the command still runs (in this process) or succeeded and the
///   reboot is awaited until `rebootTimeout`, then failed.
/// - `in-progress` with no state at all: the agent lost track (its state was wiped); failed,
///   rather than claiming an update it cannot vouch for.
public func agentStep(annotations: [String: String], state: AgentState?, bootID: String, now: Date, commandRunning: Bool,
                      rebootTimeout: TimeInterval) -> AgentAction {
    let handshake = annotations[UpdateHandshake.state]
    // The controller asks anew (`requested` is set only when a node's attempt starts): whatever a
    // state left from an earlier attempt says (a crash kept it), that attempt is over.
    if handshake == UpdateHandshake.requested && !commandRunning { return .begin(window: annotations[UpdateHandshake.window] ?? "") }
    if let state {
        if state.bootID != bootID { return handshake == UpdateHandshake.done ? .nothing : .reportDone }
        if commandRunning { return .nothing }
        if state.commandSucceeded {
            return now.timeIntervalSince(state.startedAt) > rebootTimeout
                ? .reportFailed("the update command succeeded but the node did not reboot within \(Int(rebootTimeout)) s") : .awaitReboot
        }
        // Same boot, no command running, not succeeded: this process restarted mid-command.
        return handshake == UpdateHandshake.inProgress ? .reportFailed("the agent restarted while the update command ran; it did not finish") : .nothing
    }
    switch handshake {
    case UpdateHandshake.requested?: return .begin(window: annotations[UpdateHandshake.window] ?? "")
    case UpdateHandshake.inProgress?: return .reportFailed("the agent has no record of this update (its state directory was lost)")
    default: return .nothing
    }
}

/// Configuration of `foresight node-agent`.
public struct NodeAgentConfiguration: Sendable {
    public var nodeName: String
    /// The host command: the distribution's upgrade, then a reboot (run with `/bin/sh -c`).
    public var command: String
    /// Run first, with `/bin/sh -c`: the update goes ahead only when it exits 0 (for example, that
    /// kubelet holds its shutdown inhibitor lock, so the reboot gives pods their graceful
    /// shutdown). Nil: no check.
    public var precheck: String?
    public var commandTimeout: TimeInterval = 3600
    public var rebootTimeout: TimeInterval = 900
    /// Where the kernel says which boot this is.
    public var bootIDFile = "/proc/sys/kernel/random/boot_id"
    public var stateDirectory = "/var/lib/foresight-agent"
    /// How often the boot ID and the node are looked at while waiting.
    public var pollInterval: Duration = .seconds(2)

    public init(nodeName: String, command: String) {
        self.nodeName = nodeName
        self.command = command
    }
}

/// Runs the agent side of the node-update handshake for one node (see the README): on
/// `foresight.dev/update: requested` it says `in-progress`, runs the host command, and after the
/// node has rebooted says `done` (or `failed` with a message). Its state survives the reboot in
/// the state directory; everything it says is in the node's annotations.
public actor NodeAgent {
    let client: KubernetesClient
    let configuration: NodeAgentConfiguration
    let logger: Logger
    private var commandRunning = false

    public init(client: KubernetesClient, configuration: NodeAgentConfiguration, logger: Logger = Logger(label: "foresight.node-agent")) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    var statePath: String { configuration.stateDirectory + "/state.json" }

    func readState() -> AgentState? {
        guard let data = FileManager.default.contents(atPath: statePath) else { return nil }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try? d.decode(AgentState.self, from: data)
    }

    /// Written to a temporary file and renamed: a crash leaves the old state or the new, never half.
    func writeState(_ state: AgentState?) throws {
        guard let state else { try? FileManager.default.removeItem(atPath: statePath); return }
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        let tmp = statePath + ".tmp"
        try e.encode(state).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, statePath) == 0 else { throw AgentError("cannot write \(statePath): \(String(cString: strerror(errno)))") }
    }

    func currentBootID() throws -> String {
        guard let data = FileManager.default.contents(atPath: configuration.bootIDFile),
              let id = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !id.isEmpty else {
            throw AgentError("cannot read the boot ID from \(configuration.bootIDFile)")
        }
        return id
    }

    func say(_ state: String, message: String? = nil) async throws {
        try await client.patch(Node.self, name: configuration.nodeName, body: ["metadata": ["annotations": [
            .init(UpdateHandshake.state): .string(state), .init(UpdateHandshake.message): message.map(JSONValue.string) ?? .null]]])
        logger.info("\(configuration.nodeName): \(state)\(message.map { ": \($0)" } ?? "")")
    }

    private var latest: Node?

    /// One look at the node (the latest the watch delivered, or a fresh read): decides and acts.
    /// Returns the action taken (for tests and logs).
    @discardableResult
    public func step(_ seen: Node? = nil) async throws -> AgentAction {
        if let seen { latest = seen }
        let node: Node
        if let l = latest { node = l } else { node = try await client.get(Node.self, name: configuration.nodeName) }
        let state = readState()
        let action = agentStep(annotations: node.metadata.annotations ?? [:], state: state, bootID: try currentBootID(), now: Date(),
                               commandRunning: commandRunning, rebootTimeout: configuration.rebootTimeout)
        switch action {
        case .nothing, .awaitReboot:
            return action
        case .begin(let window):
            try writeState(AgentState(window: window, bootID: try currentBootID(), startedAt: Date()))
            try await say(UpdateHandshake.inProgress)
            commandRunning = true
            Task { await self.runCommand() }
        case .reportDone:
            try await say(UpdateHandshake.done)
            try writeState(nil)
        case .reportFailed(let message):
            try await say(UpdateHandshake.failed, message: message)
            try writeState(nil)
        }
        latest = nil  // what it said changes the node; read it afresh
        return action
    }

    /// Runs the host command on a thread of its own (it may take an hour); success leaves the
    /// reboot to be seen, failure is reported with the end of the command's error output.
    func runCommand() async {
        let configuration = self.configuration
        func shell(_ command: String) async -> Result<ChildProcessResult, Error> {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(returning: Result {
                        try runChildProcess(executable: "/bin/sh", arguments: ["-c", command],
                                            environment: ProcessInfo.processInfo.environment, timeout: configuration.commandTimeout)
                    })
                }
            }
        }
        func errorTail(_ r: ChildProcessResult) -> String {
            let tail = String(decoding: r.errorOutput.suffix(400), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return tail.isEmpty ? "" : ": \(tail)"
        }
        if let precheck = configuration.precheck {
            // Nothing is changed on the host unless the check passes.
            let checked = await shell(precheck)
            var refusal: String?
            switch checked {
            case .success(let r) where r.status == 0 && !r.timedOut: refusal = nil
            case .success(let r): refusal = (r.timedOut ? "the precheck timed out" : "the precheck exited with status \(r.status)") + errorTail(r)
            case .failure(let error): refusal = "the precheck could not run: \(error)"
            }
            if let refusal {
                commandRunning = false
                // Forgotten first: were the report lost, the node would still end failed ("no record").
                try? writeState(nil)
                try? await say(UpdateHandshake.failed, message: refusal + "; the update command was not run")
                return
            }
        }
        let result = await shell(configuration.command)
        commandRunning = false
        do {
            let r = try result.get()
            if r.status == 0 && !r.timedOut {
                if var s = readState() { s.commandSucceeded = true; try writeState(s) }
                logger.info("\(configuration.nodeName): the update command succeeded; waiting for the reboot")
                return
            }
            let why = r.timedOut ? "the update command ran longer than \(Int(configuration.commandTimeout)) s" : "the update command exited with status \(r.status)"
            try await say(UpdateHandshake.failed, message: why + errorTail(r))
        } catch {
            try? await say(UpdateHandshake.failed, message: "the update command could not run: \(error)")
        }
        try? writeState(nil)
    }

    /// Watches its node (one watch, on its own name) and acts on each change; while an update is
    /// under way it also looks at the boot ID every `pollInterval` (a file, not an API call).
    public func run() async throws {
        logger.info("node agent for \(configuration.nodeName) (boot \((try? currentBootID()) ?? "?"))")
        let watcher = Watcher<Node>(client: client, fieldSelector: "metadata.name=\(configuration.nodeName)", logger: logger)
        let watching = Task {
            for await event in watcher.events() {
                let node: Node?
                switch event {
                case .restarted(let nodes): node = nodes.first
                case .applied(let n): node = n
                case .deleted: node = nil
                }
                guard let node else { continue }
                do { try await self.step(node) } catch { self.logger.warning("\(self.configuration.nodeName): \(error)") }
            }
        }
        defer { watching.cancel() }
        while !Task.isCancelled {
            try await Task.sleep(for: configuration.pollInterval)
            if readState() != nil || latest == nil {
                do { try await step() } catch { logger.warning("\(configuration.nodeName): \(error)") }
            }
        }
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
