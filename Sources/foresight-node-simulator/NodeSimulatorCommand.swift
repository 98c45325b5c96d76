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

    @Option(help: "A YAML file with nodeGroups and settings (see the README); flags given as well override its settings.")
    var config: String?

    @Option(help: "A node group as PREFIX:COUNT[:label=value,...]; repeat for several (default: sim-:3). Not with --config.")
    var nodes: [String] = []

    @Option(help: "CPU of each node of --nodes groups.") var cpu = "8"
    @Option(help: "Memory of each node of --nodes groups.") var memory = "32Gi"
    @Option(help: "Pods each node of --nodes groups holds.") var pods = 110
    @Option(help: "Seconds between lease renewals (default 10).") var heartbeatSeconds: Double?
    @Option(help: "Seconds until a bound pod is Running and Ready (default 1).") var podStartSeconds: Double?
    @Option(help: "Longest seconds a terminating pod lingers (default 2).") var terminationSeconds: Double?
    @Option(help: "Seconds a simulated OS update takes (default 3).") var updateSeconds: Double?
    @Option(help: "Share of updates that fail, 0…1 (default 0).") var updateFailureShare: Double?
    @Option(help: "A node whose every update fails; repeat for several.") var failUpdatesOf: [String] = []
    @Option(help: "NODE=FILE: a real agent (foresight node-agent) answers NODE's updates; FILE holds its boot ID. Repeat for several.")
    var externalAgent: [String] = []
    @Option(help: "OS image after an update when the node names none.") var updateOsImage: String?
    @Option(help: "Kernel after an update when the node names none.") var updateKernel: String?
    @Option(help: "Seconds a node pool takes to provide a node (default 3).") var provisioningSeconds: Double?
    @Option(help: "Namespace of NodePool objects (default: default).") var poolNamespace: String?
    @Option(help: "Pod writes in flight at once (default 32).") var podWriteConcurrency: Int?

    func validate() throws {
        if let share = updateFailureShare, !(0...1).contains(share) { throw ValidationError("--update-failure-share must be between 0 and 1") }
        if let h = heartbeatSeconds, h < 0.1 { throw ValidationError("--heartbeat-seconds must be at least 0.1") }
        for (flag, value) in [("--pod-start-seconds", podStartSeconds), ("--termination-seconds", terminationSeconds),
                              ("--update-seconds", updateSeconds), ("--provisioning-seconds", provisioningSeconds)] {
            if let v = value, !(v >= 0 && v <= 86400) { throw ValidationError("\(flag) must be between 0 and 86400") }
        }
        if let c = podWriteConcurrency, c < 1 { throw ValidationError("--pod-write-concurrency must be at least 1") }
        if config != nil && !nodes.isEmpty { throw ValidationError("--nodes and --config both give node groups: use one") }
        _ = try groups()
    }

    func configuration() throws -> SimulatorConfiguration {
        var config: SimulatorConfiguration
        if let path = self.config {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("--config \(path): cannot read it (\(error.localizedDescription))")
            }
            config = try SimulatorConfiguration(yaml: text, source: path)
        } else {
            config = SimulatorConfiguration(groups: try groups())
        }
        func ms(_ seconds: Double) -> Duration { .milliseconds(Int((seconds * 1000).rounded())) }
        if let v = heartbeatSeconds { config.heartbeatInterval = ms(v) }
        if let v = podStartSeconds { config.podStartDelay = ms(v) }
        if let v = terminationSeconds { config.maxTerminationDelay = ms(v) }
        if let v = updateSeconds { config.updateDelay = ms(v) }
        if let v = updateFailureShare { config.updateFailureShare = v }
        config.failingUpdates.formUnion(failUpdatesOf)
        for entry in externalAgent {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--external-agent \(entry): expected NODE=FILE") }
            config.externalAgents[parts[0]] = parts[1]
        }
        if let v = updateOsImage { config.updateTargetOSImage = v }
        if let v = updateKernel { config.updateTargetKernel = v }
        if let v = provisioningSeconds { config.provisioningDelay = ms(v) }
        if let v = poolNamespace { config.poolNamespace = v }
        if let v = podWriteConcurrency { config.podWriteConcurrency = v }
        return config
    }

    func groups() throws -> [SimulatorConfiguration.NodeGroup] {
        try (nodes.isEmpty && config == nil ? ["sim-:3"] : nodes).map { spec in
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
        let config = try configuration()
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-node-simulator")
        let simulator = NodeSimulator(client: client, configuration: config)
        try await simulator.run()
    }
}


