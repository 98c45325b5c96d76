import Foundation
import KubernetesClient
import KubernetesCore
import Testing
import TestSupport

/// Every end-to-end suite nests in this one, so they run one test at a time (one of them
/// restarts the apiserver) and each test has a time limit: a hang fails with a name.
@Suite(.serialized, .timeLimit(.minutes(4)), .enabled(if: Cluster.available, "needs the control plane of hack/test.sh"))
struct EndToEnd {}

/// The real control plane a test run brought up (`hack/test.sh` starts it and sets
/// `FORESIGHT_E2E_DIR`). Tests that need it are enabled only when it is there; `hack/test.sh`
/// also sets `FORESIGHT_REQUIRE_E2E=1`, which makes a missing control plane a failure.
enum Cluster {
    static let environment = ProcessInfo.processInfo.environment
    static let directory = environment["FORESIGHT_E2E_DIR"]
    static var available: Bool {
        if let d = directory, FileManager.default.fileExists(atPath: "\(d)/admin.kubeconfig") { return true }
        if environment["FORESIGHT_REQUIRE_E2E"] == "1" {
            fatalError("FORESIGHT_REQUIRE_E2E=1 but no control plane at FORESIGHT_E2E_DIR=\(directory ?? "(unset)")")
        }
        return false
    }

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var adminKubeconfig: String { "\(directory!)/admin.kubeconfig" }
    static var controllerKubeconfig: String { "\(directory!)/controller.kubeconfig" }
    /// The node agent's service account (foresight-system/foresight-node-agent).
    static var agentKubeconfig: String { "\(directory!)/agent.kubeconfig" }

    static func admin() throws -> KubernetesClient { try KubernetesClient(kubeconfig: adminKubeconfig, userAgent: "foresight-e2e") }
    static func controller() throws -> KubernetesClient { try KubernetesClient(kubeconfig: controllerKubeconfig, userAgent: "foresight-e2e-controller") }

    static func binary(_ name: String) -> String {
        let dir = environment["FORESIGHT_BIN_DIR"] ?? "\(packageRoot)/.build/debug"
        return "\(dir)/\(name)"
    }

    struct CommandResult { var status: Int32; var out: String; var err: String }

    /// Runs a command to completion and returns what it printed.
    @discardableResult
    static func run(_ executable: String, _ args: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        let (status, out, err) = try runCommand([executable] + args, stdin: stdin, environment: env, directory: packageRoot)
        return CommandResult(status: status, out: out, err: err)
    }

    /// kubectl as the admin (or another kubeconfig); fails the test on a non-zero exit unless `allowFailure`.
    @discardableResult
    static func kubectl(_ args: [String], stdin: String? = nil, kubeconfig: String? = nil, allowFailure: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        let r = try run("kubectl", args, stdin: stdin, environment: ["KUBECONFIG": kubeconfig ?? adminKubeconfig])
        if !allowFailure && r.status != 0 {
            Issue.record("kubectl \(args.joined(separator: " ")) exited \(r.status): \(r.err)", sourceLocation: sourceLocation)
        }
        return r
    }

    /// Installs the CRDs and manifests (idempotent), as a user would.
    static func installManifests() throws {
        try kubectl(["apply", "-k", "manifests/"])
        // The tests run the controller as a process. The manifests' own Deployment would put its
        // (system-cluster-critical) pods on the simulated nodes, where they preempt the tests'
        // workloads; it stays at zero replicas here.
        try kubectl(["scale", "deployment/foresight-controller", "-n", "foresight-system", "--replicas=0"])
        try kubectl(["apply", "-f", "hack/simulator/nodepool-crd.yaml"])
        try kubectl(["wait", "--for=condition=Established", "crd/zoneplans.foresight.dev", "crd/updatewindows.foresight.dev",
                     "crd/nodepools.simulator.foresight.dev", "--timeout=60s"])
    }

    /// A namespace of its own for one test, deleted afterwards by `deleteNamespace`.
    static func makeNamespace(_ prefix: String) throws -> String {
        let name = "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())"
        try kubectl(["create", "namespace", name])
        // The token controller must give the namespace's default service account a token before pods are admitted.
        _ = try eventually(timeout: 30) {
            let r = try kubectl(["get", "serviceaccount", "default", "-n", name, "-o", "jsonpath={.secrets[0].name}"], allowFailure: true)
            return r.status == 0 && !r.out.isEmpty ? true : nil
        }
        return name
    }

    static func deleteNamespace(_ name: String) {
        _ = try? kubectl(["delete", "namespace", name, "--wait=false"], allowFailure: true)
    }

    /// Polls `check` every 0.25 s until it returns a value or `timeout` seconds pass.
    static func eventually<T>(timeout: Double, _ check: () throws -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let v = try check() { return v }
            if Date() > deadline { throw TimeoutError(seconds: timeout) }
            usleep(250_000)
        }
    }

    static func eventually<T>(timeout: Double, _ check: () async throws -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let v = try await check() { return v }
            if Date() > deadline { throw TimeoutError(seconds: timeout) }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    struct TimeoutError: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "condition not met within \(seconds) s" }
    }
}

/// A background process (the node simulator, the controller) stopped when the test ends.
final class BackgroundProcess: @unchecked Sendable {
    let child: Spawned
    let logPath: String
    private var stopped = false

    init(_ executable: String, _ args: [String], kubeconfig: String, name: String) throws {
        logPath = "\(Cluster.directory!)/\(name)-\(UUID().uuidString.prefix(4)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = kubeconfig
        let log = open(logPath, O_WRONLY | O_APPEND)
        let null = open("/dev/null", O_RDONLY)
        defer { close(log); close(null) }
        child = try Spawned.start([executable] + args, environment: env, directory: Cluster.packageRoot, stdin: null, stdout: log, stderr: log)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { child.isRunning }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status.
    @discardableResult
    func stop(grace: Double = 10) -> Int32 {
        guard !stopped else { return 0 }
        stopped = true
        child.signal(SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while child.isRunning && Date() < deadline { usleep(50_000) }
        if child.isRunning { child.signal(SIGKILL) }
        return child.wait()
    }

    /// SIGKILL, as a node losing power or the OOM killer would: no clean-up runs.
    func kill() {
        guard !stopped else { return }
        stopped = true
        child.signal(SIGKILL)
        _ = child.wait()
    }

    deinit { stop(grace: 2) }
}

/// Records, every second, each Deployment's available replicas and each node's schedulability
/// in a namespace and node set, so a scenario can assert that capacity never dipped.
final class CapacityRecorder: @unchecked Sendable {
    struct Sample { var time: Date; var available: [String: Int]; var unschedulable: Set<String>; var ready: Set<String> }
    private let lock = NSLock()
    private var samples: [Sample] = []
    private var task: Task<Void, Never>?

    init(client: KubernetesClient, namespace: String, nodeLabelSelector: String) {
        task = Task { [weak self] in
            while !Task.isCancelled {
                if let deployments = try? await client.list(Deployment.self, namespace: namespace),
                   let nodes = try? await client.list(Node.self, options: ListOptions(labelSelector: nodeLabelSelector)) {
                    let s = Sample(time: Date(),
                                   available: Dictionary(uniqueKeysWithValues: deployments.items.map { ($0.name, $0.status?.availableReplicas ?? 0) }),
                                   unschedulable: Set(nodes.items.filter(\.isUnschedulable).map(\.name)),
                                   ready: Set(nodes.items.filter(\.isReady).map(\.name)))
                    self?.append(s)
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func append(_ s: Sample) { lock.lock(); samples.append(s); lock.unlock() }

    func stop() -> [Sample] {
        task?.cancel()
        lock.lock(); defer { lock.unlock() }
        return samples
    }

    /// The lowest available count seen for a Deployment.
    static func minimumAvailable(_ samples: [Sample], deployment: String) -> Int? {
        samples.compactMap { $0.available[deployment] }.min()
    }
}
