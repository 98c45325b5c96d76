import ArgumentParser
import Foundation
import KubernetesClient
import Logging
import NodeAgent

/// `foresight node-agent`: the agent side of the node-update handshake, for one node.
struct NodeAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node-agent",
        abstract: "Update this node when an UpdateWindow asks (run as a DaemonSet; see manifests/node-agent).",
        discussion: """
        Watches its node. On foresight.dev/update=requested it says in-progress, runs the update \
        command (which should upgrade the OS and reboot), and after the node has rebooted into a new \
        boot says done; a command that fails, or a reboot that never comes, is reported as failed \
        with a message. What it is doing survives the reboot in --state-dir.
        """)

    @Option(help: "The node to serve (default: NODE_NAME).") var node: String?
    @Option(help: "The update command, run with /bin/sh -c: the distribution's upgrade, then a reboot.") var command: String
    @Option(help: """
        A check run with /bin/sh -c before the update; the update goes ahead only when it exits 0,         otherwise the node is reported failed with its output (for example, that kubelet holds its         shutdown inhibitor lock).
        """) var precheck: String?
    @Option(help: "Longest the command may run, in seconds.") var commandTimeout: Double = 3600
    @Option(help: "Longest to wait for the reboot after the command succeeded, in seconds.") var rebootTimeout: Double = 900
    @Option(help: "Where the kernel reports the boot ID.") var bootIdFile = "/proc/sys/kernel/random/boot_id"
    @Option(help: "Where the agent keeps the state of an update across the reboot (a host directory).") var stateDir = "/var/lib/foresight-agent"
    @Option(help: "Path to a kubeconfig (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).") var kubeconfig: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        try CommandLogging.validate(logLevel)
        if (node ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? "").isEmpty { throw ValidationError("--node or NODE_NAME is required") }
        if command.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--command must not be empty") }
        if let precheck, precheck.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--precheck must not be empty when given") }
        if commandTimeout <= 0 || rebootTimeout <= 0 { throw ValidationError("--command-timeout and --reboot-timeout must be positive") }
    }

    func run() async throws {
        CommandLogging.bootstrap(logLevel)
        let connection: ClusterConnection
        do { connection = try KubeConfigLoader.load(explicitPath: kubeconfig, context: nil) } catch {
            throw CommandFailure("cannot load a connection: \(error)")
        }
        var configuration = NodeAgentConfiguration(nodeName: node ?? ProcessInfo.processInfo.environment["NODE_NAME"]!, command: command)
        configuration.precheck = precheck
        configuration.commandTimeout = commandTimeout
        configuration.rebootTimeout = rebootTimeout
        configuration.bootIDFile = bootIdFile
        configuration.stateDirectory = stateDir
        let agent = NodeAgent(client: KubernetesClient(connection: connection, userAgent: "foresight-node-agent"), configuration: configuration)
        try await agent.run()
    }
}
