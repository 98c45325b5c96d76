import ArgumentParser
import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import NodeSimulator

/// `foresight-bench simulator`: how many nodes and pods one simulator keeps up with.
struct SimulatorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulator", abstract: "Register N simulated nodes, run M pods on them, and watch heartbeats and readiness.")

    @Option(help: "Admin kubeconfig.") var kubeconfig: String
    @Option(help: "Simulated nodes.") var nodes = 1000
    @Option(help: "Pods (in Deployments of 1000 replicas).") var pods = 20_000
    @Option(help: "Seconds to observe after every pod is Ready.") var observe = 120
    @Option(help: "Seconds between lease renewals.") var heartbeatSeconds = 10
    @Option(help: "Lease renewals in flight at once.") var leaseConcurrency = 64

    func run() async throws {
        let client = try KubernetesClient(kubeconfig: kubeconfig, userAgent: "foresight-bench")
        var config = SimulatorConfiguration(groups: [.init(namePrefix: "cap-", count: nodes, labels: ["bench": "capacity"], cpu: "64", memory: "256Gi", pods: 250)])
        config.heartbeatInterval = .seconds(heartbeatSeconds)
        config.leaseConcurrency = leaseConcurrency
        config.statusInterval = .seconds(60)
        config.podStartDelay = .milliseconds(500)
        let simulator = NodeSimulator(client: client, configuration: config)
        let t0 = Date()
        let simulation = Task { try await simulator.run() }
        defer { simulation.cancel() }

        // Nodes Ready.
        var readyAt = Date()
        while true {
            let list = try await client.listAll(Node.self, options: ListOptions(labelSelector: "bench=capacity"))
            if list.items.filter(\.isReady).count >= nodes { readyAt = Date(); break }
            try await Task.sleep(for: .seconds(1))
        }
        let registration = readyAt.timeIntervalSince(t0)
        let leaseTimeBeforePods = await apiserverLeasePatchTime(client)
        FileHandle.standardError.write(Data(String(format: "[bench] %d nodes Ready after %.1f s\n", nodes, registration).utf8))

        // Pods: Deployments of up to 1000 replicas each.
        let ns = "capacity"
        if try await client.getIfExists(Namespace.self, name: ns) == nil {
            try await client.create(Namespace.self, body: ["metadata": ["name": .string(ns)]])
        }
        while (try await client.getIfExists(ServiceAccountLite.self, namespace: ns, name: "default"))?.secrets?.isEmpty ?? true {
            try await Task.sleep(for: .milliseconds(250))
        }
        let deployments = (pods + 999) / 1000
        for d in 0..<deployments {
            let replicas = min(1000, pods - d * 1000)
            let name = "load-\(d)"
            if try await client.getIfExists(Deployment.self, namespace: ns, name: name) != nil { continue }
            try await client.create(Deployment.self, namespace: ns, body: [
                "metadata": ["name": .string(name)],
                "spec": ["replicas": .int(replicas), "selector": ["matchLabels": ["app": .string(name)]],
                         "template": ["metadata": ["labels": ["app": .string(name)]],
                                      "spec": ["nodeSelector": ["bench": "capacity"], "terminationGracePeriodSeconds": 1,
                                               "containers": [["name": "c", "image": "nginx", "resources": ["requests": ["cpu": "10m", "memory": "16Mi"]]]]]]],
            ])
        }
        let podsStart = Date()
        var lastReport = Date()
        while true {
            let list = try await client.list(Deployment.self, namespace: ns)
            let available = list.items.reduce(0) { $0 + ($1.status?.availableReplicas ?? 0) }
            if available >= pods { break }
            if Date().timeIntervalSince(lastReport) > 15 {
                FileHandle.standardError.write(Data("[bench] \(available)/\(pods) pods available\n".utf8))
                lastReport = Date()
            }
            try await Task.sleep(for: .seconds(2))
        }
        let podsReady = Date().timeIntervalSince(podsStart)
        let stormBeats = await simulator.heartbeats
        let leaseTimeAfterPods = await apiserverLeasePatchTime(client)
        FileHandle.standardError.write(Data(String(format: "[bench] %d pods available after %.1f s\n", pods, podsReady).utf8))

        // Observe: every node stays Ready, heartbeats on time.
        var notReadySeen = Set<String>()
        let until = Date().addingTimeInterval(Double(observe))
        while Date() < until {
            let list = try await client.listAll(Node.self, options: ListOptions(labelSelector: "bench=capacity"))
            for n in list.items where !n.isReady { notReadySeen.insert(n.name) }
            try await Task.sleep(for: .seconds(5))
        }
        let beats = await simulator.heartbeats
        let leaseTimeAtEnd = await apiserverLeasePatchTime(client)
        let started = await simulator.podsStarted
        print("machine: \(machineDescription())")
        print("control plane: kube-apiserver, etcd, controller-manager and scheduler on the same machine")
        print("")
        print("| figure | value |")
        print("| --- | --- |")
        print(String(format: "| nodes registered and Ready | %d in %.1f s |", nodes, registration))
        print(String(format: "| pods scheduled, started by the simulator and available | %d in %.1f s (%d started) |", pods, podsReady, started))
        print(String(format: "| heartbeat interval | %d s (Lease renewals, at most %d in flight) |", heartbeatSeconds, leaseConcurrency))
        print("| Lease renewals | \(beats.renewals) |")
        print(String(format: "| longest gap between two renewals of one node | %.2f s |", beats.worstGap.inSeconds))
        print("| renewals more than 1 s later than the interval | \(beats.late) |")
        print("| renewals after the lease had expired (gap over \(config.leaseDurationSeconds) s) | \(beats.afterExpiry) |")
        print("| of which late during registration and pod start | \(stormBeats.late) |")
        print("| nodes seen NotReady during \(observe) s of observation | \(notReadySeen.count) |")
        // The apiserver's own time per renewal, so slow renewals can be told from a slow simulator.
        func meanMilliseconds(_ from: (seconds: Double, count: Double)?, _ to: (seconds: Double, count: Double)?) -> String {
            guard let from, let to else { return "metrics not readable" }
            guard to.count > from.count else { return "no renewal in that time" }
            return String(format: "%.0f ms (mean of %.0f)", 1000 * (to.seconds - from.seconds) / (to.count - from.count), to.count - from.count)
        }
        print("| apiserver time per Lease PATCH while pods start | \(meanMilliseconds(leaseTimeBeforePods, leaseTimeAfterPods)) |")
        print("| apiserver time per Lease PATCH during observation | \(meanMilliseconds(leaseTimeAfterPods, leaseTimeAtEnd)) |")
        print(String(format: "| simulator peak RSS | %.0f MiB |", Double(selfPeakRSSKiB()) / 1024))
    }
}

/// The apiserver's running totals for Lease PATCH requests from its `/metrics`
/// (`apiserver_request_duration_seconds` sum and count), or nil when they cannot be read.
func apiserverLeasePatchTime(_ client: KubernetesClient) async -> (seconds: Double, count: Double)? {
    guard let data = try? await client.send(APIRequest(method: "GET", path: "/metrics")) else { return nil }
    var seconds = 0.0, count = 0.0, seen = false
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n")
    where line.contains("resource=\"leases\"") && line.contains("verb=\"PATCH\"") {
        guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
        if line.hasPrefix("apiserver_request_duration_seconds_sum{") { seconds += value; seen = true }
        if line.hasPrefix("apiserver_request_duration_seconds_count{") { count += value }
    }
    return seen ? (seconds, count) : (0, 0)
}
