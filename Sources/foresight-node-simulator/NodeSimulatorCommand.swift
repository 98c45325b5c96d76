import ArgumentParser
import Foundation
import KubernetesClient
import Logging
import NodeSimulator

/// Plays the kubelets and node agents of a fleet against a real API server (for tests and demos).
@main
struct NodeSimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foresight-node-simulator",
        abstract: "Simulate nodes against a real Kubernetes API server: heartbeats, pods, graceful deletion, the update handshake, node pools.")

    @Option(help: "Path to a kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster).")
    var kubeconfig: String?

    @Option(help: "A node group as PREFIX:COUNT[:label=value,...]; repeat for several.")
    var nodes: [String] = ["sim-:3"]

    @Option(help: "CPU of each node.") var cpu = "8"
    @Option(help: "Memory of each node.") var memory = "32Gi"
    @Option(help: "Pods each node holds.") var pods = 110
    @Option(help: "Seconds between lease renewals.") var heartbeatSeconds = 10
    @Option(help: "Seconds until a bound pod is Running and Ready.") var podStartSeconds = 1.0
    @Option(help: "Longest seconds a terminating pod lingers.") var terminationSeconds = 2
    @Option(help: "Seconds a simulated OS update takes.") var updateSeconds = 3.0
    @Option(help: "Share of updates that fail (0…1).") var updateFailureShare = 0.0
    @Option(help: "OS image after an update when the node names none.") var updateOsImage: String?
    @Option(help: "Kernel after an update when the node names none.") var updateKernel: String?
    @Option(help: "Seconds a node pool takes to provide a node.") var provisioningSeconds = 3.0
    @Option(help: "Namespace of NodePool objects.") var poolNamespace = "default"

    func validate() throws {
        if !(0...1).contains(updateFailureShare) { throw ValidationError("--update-failure-share must be between 0 and 1") }
        _ = try groups()
    }

    func groups() throws -> [SimulatorConfiguration.NodeGroup] {
        try nodes.map { spec in
            let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let count = Int(parts[1]), count >= 0 else {
                throw ValidationError("--nodes \(spec): expected PREFIX:COUNT[:label=value,...]")
            }
            var labels: [String: String] = [:]
            if parts.count == 3 {
                for pair in parts[2].split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, !kv[0].isEmpty else { throw ValidationError("--nodes \(spec): label \"\(pair)\" is not key=value") }
                    labels[kv[0]] = kv[1]
                }
            }
            return SimulatorConfiguration.NodeGroup(namePrefix: parts[0], count: count, labels: labels, cpu: cpu, memory: memory, pods: pods)
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
        }
        var config = SimulatorConfiguration(groups: try groups())
        config.heartbeatInterval = .seconds(heartbeatSeconds)
        config.podStartDelay = .milliseconds(Int(podStartSeconds * 1000))
        config.maxTerminationDelay = .seconds(terminationSeconds)
        config.updateDelay = .milliseconds(Int(updateSeconds * 1000))
        config.updateFailureShare = updateFailureShare
        config.updateTargetOSImage = updateOsImage
        config.updateTargetKernel = updateKernel
        config.provisioningDelay = .milliseconds(Int(provisioningSeconds * 1000))
        config.poolNamespace = poolNamespace
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-node-simulator")
        let simulator = NodeSimulator(client: client, configuration: config)
        try await simulator.run()
    }
}


