import ControllerRuntime
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import UpdatePlanning

/// How the simulated fleet looks and behaves.
public struct SimulatorConfiguration: Sendable {
    public struct NodeGroup: Sendable {
        public var namePrefix: String
        public var count: Int
        public var labels: [String: String]
        public var cpu: String
        public var memory: String
        public var pods: Int
        public init(namePrefix: String, count: Int, labels: [String: String] = [:], cpu: String = "8", memory: String = "32Gi", pods: Int = 110) {
            self.namePrefix = namePrefix
            self.count = count
            self.labels = labels
            self.cpu = cpu
            self.memory = memory
            self.pods = pods
        }
    }

    public var groups: [NodeGroup]
    /// Lease renewal period; the node lifecycle controller reads leases as heartbeats.
    public var heartbeatInterval: Duration = .seconds(10)
    /// How often the Ready condition's heartbeat time is refreshed.
    public var statusInterval: Duration = .seconds(30)
    /// How long after binding a pod turns Running and Ready.
    public var podStartDelay: Duration = .seconds(1)
    /// Longest a terminating pod lingers (its grace period, capped by this).
    public var maxTerminationDelay: Duration = .seconds(2)
    /// How long a simulated OS update (reboot) takes.
    public var updateDelay: Duration = .seconds(3)
    /// Share of updates that fail (0…1); decided per node name so a run is reproducible.
    public var updateFailureShare: Double = 0
    /// Nodes whose every update fails (on top of the share).
    public var failingUpdates: Set<String> = []
    /// Nodes whose update handshake a real agent answers (`foresight node-agent`), each with the
    /// file that stands for its kernel's boot ID: the simulated kubelet reports what it holds, so
    /// an agent's faked reboot (a new ID in the file) shows in the node's status.
    public var externalAgents: [String: String] = [:]
    public var osImage = "Debian GNU/Linux 12 (bookworm)"
    public var kernelVersion = "6.1.0-27-amd64"
    /// Used when the node carries no target annotations.
    public var updateTargetOSImage: String?
    public var updateTargetKernel: String?
    /// How long a node pool takes to provide a new node.
    public var provisioningDelay: Duration = .seconds(3)
    public var poolNamespace = "default"
    /// Pod status writes and deletions in flight at once. They also wait while any node's
    /// heartbeat is overdue: a kubelet's lease must never queue behind its pods.
    public var podWriteConcurrency = 32
    /// Lease renewals in flight at once.
    public var leaseConcurrency = 64
    /// The lease duration written into each Lease (the node lifecycle controller's grace is similar).
    public var leaseDurationSeconds = 40

    public init(groups: [NodeGroup]) { self.groups = groups }
}

/// Plays the kubelets and node agents of a fleet of nodes against a real API server, like KWOK:
/// registers nodes and keeps their heartbeats fresh, runs pods bound to them (Running and Ready
/// after a delay), finishes graceful deletions, performs the node-update handshake, and follows
/// `NodePool` scale targets by adding and removing nodes.
public actor NodeSimulator {
    public let client: KubernetesClient
    public let configuration: SimulatorConfiguration
    let logger: Logger
    /// Nodes this simulator plays, by name.
    private var owned: Set<String> = []
    private var labelsOf: [String: [String: String]] = [:]
    private var groupOf: [String: SimulatorConfiguration.NodeGroup] = [:]
    private var bootIDs: [String: String] = [:]
    private var nodeInfo: [String: (os: String, kernel: String)] = [:]
    private var rebooting: Set<String> = []
    /// Each node's Ready status as last posted and when it last changed (`lastTransitionTime`
    /// moves only on a change, as a kubelet's does; heartbeats move `lastHeartbeatTime`).
    private var readyTransitions: [String: (ready: Bool, at: String)] = [:]
    private var startedPods: Set<String> = []
    private var finishingPods: Set<String> = []
    private var pendingPools: [String: Int] = [:]
    public private(set) var podsStarted = 0

    /// Heartbeats: each node renews its Lease on its own clock, `heartbeatInterval` after its last
    /// renewal, over a client of its own so renewals never wait behind pod writes.
    private let leaseClient: KubernetesClient
    private var leases: LeaseSchedule
    private var leaseCreated: Set<String> = []
    /// True while some node's last renewal is older than the interval plus a second.
    private var heartbeatsBehind = false
    private var podWrites: PodWriteGate<CheckedContinuation<Void, Never>>
    public var heartbeats: HeartbeatStatistics { leases.statistics }

    public static let poolResource = APIResource(group: "simulator.foresight.dev", version: "v1alpha1", plural: "nodepools", kind: "NodePool", namespaced: true)
    public static let poolLabel = "simulator.foresight.dev/node-pool"
    public static let simulatedLabel = "simulator.foresight.dev/simulated"
    /// A pod annotated `"true"` runs but never becomes Ready, as one whose readiness probe never passes.
    public static let neverReadyAnnotation = "simulator.foresight.dev/never-ready"

    public init(client: KubernetesClient, configuration: SimulatorConfiguration, logger: Logger = Logger(label: "foresight.nodesim")) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.leaseClient = KubernetesClient(connection: client.connection, userAgent: client.userAgent + " (heartbeats)")
        self.leases = LeaseSchedule(interval: configuration.heartbeatInterval, leaseDuration: .seconds(configuration.leaseDurationSeconds))
        self.podWrites = PodWriteGate(capacity: configuration.podWriteConcurrency, patience: configuration.heartbeatInterval)
    }

    /// Registers the configured nodes, then runs every loop until cancelled.
    public func run() async throws {
        let wanted = configuration.groups.flatMap { g in (0..<g.count).map { ("\(g.namePrefix)\($0)", g) } }
        let failures = FailureCounter()
        await forEachConcurrently(wanted, width: 16) { name, group in
            do { try await self.register(name: name, group: group, extraLabels: [:]) } catch {
                self.logger.error("registering \(name): \(error)")
                failures.add()
            }
        }
        if failures.count > 0 { throw SimulatorError(message: "\(failures.count) nodes could not be registered") }
        logger.info("registered \(owned.count) nodes")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeatLoop() }
            group.addTask { await self.statusLoop() }
            group.addTask { await self.podLoop() }
            group.addTask { await self.nodeLoop() }
            group.addTask { await self.poolLoop() }
            if !self.configuration.externalAgents.isEmpty { group.addTask { await self.externalBootLoop() } }
            await group.waitForAll()
        }
    }

    // MARK: nodes

    func register(name: String, group: SimulatorConfiguration.NodeGroup, extraLabels: [String: String]) async throws {
        var labels = group.labels.merging(extraLabels) { $1 }
        labels["kubernetes.io/hostname"] = name
        labels["kubernetes.io/os"] = "linux"
        labels[Self.simulatedLabel] = "true"
        let existing = try await client.getIfExists(Node.self, name: name)
        let boot = externalBootID(name) ?? existing?.status?.nodeInfo?.bootID ?? UUID().uuidString.lowercased()
        let os = existing?.status?.nodeInfo?.osImage ?? configuration.osImage
        let kernel = existing?.status?.nodeInfo?.kernelVersion ?? configuration.kernelVersion
        owned.insert(name)
        leases.add(name, now: .now)
        labelsOf[name] = labels
        groupOf[name] = group
        bootIDs[name] = boot
        nodeInfo[name] = (os, kernel)
        if existing == nil {
            let body: JSONValue = [
                "apiVersion": "v1", "kind": "Node",
                "metadata": ["name": .string(name), "labels": .object(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })],
                "spec": ["providerID": .string("simulated://\(name)")],
                "status": statusBody(name: name, ready: true),
            ]
            do { try await client.create(Node.self, body: body) } catch let e as ClientError where e.apiError?.isAlreadyExists == true {}
        }
        _ = try? await client.patchStatus(Node.self, name: name, status: statusBody(name: name, ready: !rebooting.contains(name)))
    }

    func statusBody(name: String, ready: Bool) -> JSONValue {
        let now = Timestamp.format(Date())
        let transition: String
        if let last = readyTransitions[name], last.ready == ready {
            transition = last.at
        } else {
            transition = now
            readyTransitions[name] = (ready, now)
        }
        let g = groupOf[name]!
        let info = nodeInfo[name]!
        let resources: JSONValue = ["cpu": .string(g.cpu), "memory": .string(g.memory), "pods": .string(String(g.pods))]
        return [
            "capacity": resources, "allocatable": resources,
            "conditions": [[
                "type": "Ready", "status": .string(ready ? "True" : "False"),
                "reason": .string(ready ? "KubeletReady" : "KubeletNotReady"),
                "message": .string(ready ? "simulated kubelet is posting ready status" : "simulated node is rebooting"),
                "lastHeartbeatTime": .string(now), "lastTransitionTime": .string(transition),
            ]],
            "nodeInfo": [
                "bootID": .string(bootIDs[name]!), "osImage": .string(info.os), "kernelVersion": .string(info.kernel),
                "machineID": .string(name), "systemUUID": .string(name), "kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
                "containerRuntimeVersion": "simulated://1", "operatingSystem": "linux", "architecture": "amd64",
            ],
            "addresses": [["type": "InternalIP", "address": "10.0.0.1"], ["type": "Hostname", "address": .string(name)]],
        ]
    }

    /// Dispatches Lease renewals as they fall due, each node on its own clock: a renewal is due
    /// `heartbeatInterval` after the start of the node's last successful one (1 s after a failure).
    /// The Lease is created once by server-side apply; renewals are merge patches of `renewTime`
    /// alone, the cheapest write for the apiserver.
    func heartbeatLoop() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            heartbeatsBehind = leases.behind(now: now)
            admitPodWrites()
            // The most overdue first, at most `leaseConcurrency` in flight: a burst of new
            // connections would time out in the TLS handshake and make every lease later.
            for name in leases.start(now: now, limit: configuration.leaseConcurrency) {
                Task { await self.renewLease(name) }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func renewLease(_ name: String) async {
        let started = ContinuousClock.now
        let now = Timestamp.formatMicro(Date())
        var succeeded = false
        do {
            if !leaseCreated.contains(name) {
                let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                       "metadata": ["name": .string(name), "namespace": "kube-node-lease"],
                                       "spec": ["holderIdentity": .string(name), "leaseDurationSeconds": .int(configuration.leaseDurationSeconds), "renewTime": .string(now)]]
                try await leaseClient.apply(Lease.self, namespace: "kube-node-lease", name: name, body: body, fieldManager: "foresight-node-simulator")
                leaseCreated.insert(name)
            } else {
                try await leaseClient.patch(Lease.self, namespace: "kube-node-lease", name: name, body: ["spec": ["renewTime": .string(now)]])
            }
            succeeded = true
        } catch {
            logger.warning("lease of \(name): \(error)")
        }
        leases.finished(name, started: started, now: .now, succeeded: succeeded)
    }

    /// Waits for a pod write slot: fewer than `podWriteConcurrency` in flight, and no heartbeat
    /// overdue (for at most one heartbeat interval, so pods are slowed, never starved). Waiters
    /// are served first come, first served.
    func acquirePodWrite() async {
        if podWrites.tryAcquire(heartbeatsBehind: heartbeatsBehind) { return }
        await withCheckedContinuation { podWrites.wait($0, since: .now) }
    }

    func releasePodWrite() {
        podWrites.release()
        admitPodWrites()
    }

    /// Runs one pod write (or node status write) in a slot of `acquirePodWrite`.
    @discardableResult
    func withPodWrite<T>(_ write: () async throws -> T) async rethrows -> T {
        await acquirePodWrite()
        defer { releasePodWrite() }
        return try await write()
    }

    /// Lets waiting pod writes go while there is room, and heartbeats are on time or the oldest
    /// waiter has given way for a whole interval.
    func admitPodWrites() {
        for waiter in podWrites.admit(now: .now, heartbeatsBehind: heartbeatsBehind) { waiter.resume() }
    }

    func statusLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.statusInterval)
            let names = owned.sorted()
            await forEachConcurrently(names, width: 16) { name in
                await self.postStatus(name)
            }
        }
    }

    func postStatus(_ name: String) async {
        guard owned.contains(name) else { return }
        let ready = !rebooting.contains(name)
        let status = statusBody(name: name, ready: ready)
        do { try await withPodWrite { try await client.patchStatus(Node.self, name: name, status: status) } } catch {
            logger.warning("status of \(name): \(error)")
        }
    }

    // MARK: pods

    func podLoop() async {
        let watcher = Watcher<Pod>(client: client, fieldSelector: "spec.nodeName!=", logger: logger)
        for await event in watcher.events() {
            switch event {
            case .restarted(let pods): for p in pods { handle(p) }
            case .applied(let p): handle(p)
            case .deleted(let p): startedPods.remove(p.metadata.uid ?? ""); finishingPods.remove(p.metadata.uid ?? "")
            }
        }
    }

    func handle(_ pod: Pod) {
        guard let node = pod.spec?.nodeName, owned.contains(node), let uid = pod.metadata.uid else { return }
        if pod.metadata.deletionTimestamp != nil {
            guard !finishingPods.contains(uid) else { return }
            finishingPods.insert(uid)
            let grace = Double(pod.metadata.deletionGracePeriodSeconds ?? 30)
            let delay = min(grace, configuration.maxTerminationDelay.inSeconds)
            Task {
                try? await Task.sleep(for: .seconds(delay))
                do {
                    try await self.withPodWrite {
                        try await self.client.delete(Pod.resource, namespace: pod.namespace, name: pod.name, options: DeleteOptions(gracePeriodSeconds: 0, preconditionUID: uid))
                    }
                } catch let e as ClientError where e.apiError?.isNotFound == true || e.apiError?.isConflict == true {
                } catch {
                    self.logger.warning("finishing deletion of \(pod.key): \(error)")
                    self.forgetFinishing(uid)
                }
            }
            return
        }
        guard !pod.isReady, !pod.isFinished, !rebooting.contains(node) else { return }
        if startedPods.contains(uid) {
            // Started, yet not Ready: the node lifecycle controller marked it so while the node
            // looked unreachable. A kubelet re-reports its pods; so does the simulator.
            guard pod.status?.phase == "Running", pod.status?.conditions?.contains(where: { $0.type == "ContainersReady" && $0.status == "True" }) == true else { return }
            Task { await self.markRunning(pod, ready: true) }
            return
        }
        startedPods.insert(uid)
        let ready = pod.metadata.annotations?[Self.neverReadyAnnotation] != "true"
        Task {
            try? await Task.sleep(for: self.configuration.podStartDelay)
            await self.markRunning(pod, ready: ready)
        }
    }

    func forgetFinishing(_ uid: String) { finishingPods.remove(uid) }

    /// Reports the pod Running (and Ready or not), retrying a failed write with backoff so that
    /// no pod is left unstarted by a dropped connection.
    func markRunning(_ pod: Pod, ready: Bool) async {
        let flag: JSONValue = .string(ready ? "True" : "False")
        var delay = 0.5
        for attempt in 1...6 {
            let now = Timestamp.format(Date())
            let status: JSONValue = [
                "phase": "Running", "podIP": "10.244.0.10", "hostIP": "10.0.0.1", "startTime": .string(pod.status?.startTime ?? now),
                "conditions": [
                    ["type": "Initialized", "status": "True", "lastTransitionTime": .string(now)],
                    ["type": "Ready", "status": flag, "lastTransitionTime": .string(now)],
                    ["type": "ContainersReady", "status": flag, "lastTransitionTime": .string(now)],
                    ["type": "PodScheduled", "status": "True", "lastTransitionTime": .string(now)],
                ],
            ]
            do {
                try await withPodWrite { try await client.patchStatus(Pod.self, namespace: pod.namespace, name: pod.name, status: status) }
                if ready { podsStarted += 1 }
                return
            } catch let e as ClientError where e.apiError?.isNotFound == true {
                return
            } catch {
                if attempt == 6 {
                    logger.warning("starting \(pod.key) failed \(attempt) times, giving up until its next change: \(error)")
                    startedPods.remove(pod.metadata.uid ?? "")
                    return
                }
                try? await Task.sleep(for: .seconds(delay))
                delay *= 2
            }
        }
    }

    // MARK: the update agent

    func nodeLoop() async {
        let watcher = Watcher<Node>(client: client, labelSelector: "\(Self.simulatedLabel)=true", logger: logger)
        for await event in watcher.events() {
            switch event {
            case .restarted(let nodes): for n in nodes { observe(n) }
            case .applied(let n): observe(n)
            case .deleted: break
            }
        }
    }

    func externalBootID(_ name: String) -> String? {
        guard let path = configuration.externalAgents[name], let data = FileManager.default.contents(atPath: path) else { return nil }
        let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// Reports a new boot of a node served by an external agent as soon as its boot-ID file changes.
    func externalBootLoop() async {
        while !Task.isCancelled {
            for name in configuration.externalAgents.keys where owned.contains(name) {
                if let id = externalBootID(name), id != bootIDs[name] {
                    bootIDs[name] = id
                    logger.info("\(name) rebooted (boot \(id))")
                    await postStatus(name)
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func observe(_ node: Node) {
        guard owned.contains(node.name), configuration.externalAgents[node.name] == nil, node.metadata.annotations?[UpdateHandshake.state] == UpdateHandshake.requested,
              !rebooting.contains(node.name) else { return }
        rebooting.insert(node.name)
        Task { await self.performUpdate(node) }
    }

    /// The agent's side of the handshake: in-progress, go NotReady, reboot into the target, come back, done (or failed).
    func performUpdate(_ node: Node) async {
        let name = node.name
        let annotations = node.metadata.annotations ?? [:]
        let fails = configuration.failingUpdates.contains(name) || Self.decides(name: name, share: configuration.updateFailureShare)
        do {
            try await client.patch(Node.self, name: name, body: ["metadata": ["annotations": [UpdateHandshake.state: .string(UpdateHandshake.inProgress)]]])
            await postStatus(name)
            try await Task.sleep(for: configuration.updateDelay)
            if fails {
                rebooting.remove(name)
                await postStatus(name)
                try await client.patch(Node.self, name: name, body: ["metadata": ["annotations": [
                    UpdateHandshake.state: .string(UpdateHandshake.failed), UpdateHandshake.message: "simulated update failure"]]])
                logger.info("update of \(name) failed (simulated)")
                return
            }
            let os = annotations[UpdateHandshake.targetOSImage] ?? configuration.updateTargetOSImage ?? nodeInfo[name]!.os
            let kernel = annotations[UpdateHandshake.targetKernel] ?? configuration.updateTargetKernel ?? nodeInfo[name]!.kernel
            bootIDs[name] = UUID().uuidString.lowercased()
            nodeInfo[name] = (os, kernel)
            rebooting.remove(name)
            await postStatus(name)
            // Pods that stayed on the node (DaemonSets) restart with it.
            if let pods = try? await client.listAll(Pod.self, options: ListOptions(fieldSelector: "spec.nodeName=\(name)")) {
                for p in pods.items where p.metadata.deletionTimestamp == nil && !p.isFinished { await markRunning(p, ready: true) }
            }
            try await client.patch(Node.self, name: name, body: ["metadata": ["annotations": [UpdateHandshake.state: .string(UpdateHandshake.done), UpdateHandshake.message: nil]]])
            logger.info("updated \(name) to \(os) / \(kernel)")
        } catch {
            rebooting.remove(name)
            logger.warning("update of \(name): \(error)")
        }
    }

    /// A reproducible draw per node name.
    static func decides(name: String, share: Double) -> Bool {
        guard share > 0 else { return false }
        var h: UInt64 = 1469598103934665603
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return Double(h % 10_000) / 10_000 < share
    }

    // MARK: node pools

    struct NodePool: KubernetesResource {
        static let resource = NodeSimulator.poolResource
        var metadata: ObjectMeta
        var spec: Spec?
        struct Spec: Codable { var replicas: Int?; var labels: [String: String]? }
    }

    func poolLoop() async {
        let watcher = Watcher<NodePool>(client: client, namespace: configuration.poolNamespace, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in watcher.events() { await self.poolEvent(event) }
            }
            // A resync every few seconds as well: pools follow their spec even if a watch event
            // was missed (one once went missing right after the pool CRD was first used).
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    if let list = try? await self.client.list(NodePool.self, namespace: self.configuration.poolNamespace) {
                        await self.poolEvent(.restarted(list.items))
                    }
                }
            }
            await group.waitForAll()
        }
    }

    private var pools: [String: NodePool] = [:]

    func poolEvent(_ event: WatcherEvent<NodePool>) async {
        switch event {
        case .restarted(let all): pools = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
        case .applied(let p): pools[p.name] = p
        case .deleted(let p): pools[p.name] = nil
        }
        for pool in pools.values { await reconcilePool(pool) }
    }

    func reconcilePool(_ pool: NodePool) async {
        let desired = pool.spec?.replicas ?? 0
        let members = owned.filter { labelsOf[$0]?[Self.poolLabel] == pool.name }.sorted()
        let pending = pendingPools[pool.name] ?? 0
        if members.count + pending < desired {
            let missing = desired - members.count - pending
            pendingPools[pool.name] = pending + missing
            let group = SimulatorConfiguration.NodeGroup(namePrefix: "\(pool.name)-", count: 0, labels: (pool.spec?.labels ?? [:]).merging([Self.poolLabel: pool.name]) { $1 })
            Task {
                try? await Task.sleep(for: self.configuration.provisioningDelay)
                await self.provision(pool: pool, count: missing, group: group)
            }
        } else if members.count > desired {
            // Remove the newest nodes first, preferring cordoned ones.
            for name in members.reversed().prefix(members.count - desired) {
                owned.remove(name)
                readyTransitions[name] = nil
                leases.remove(name); leaseCreated.remove(name)
                _ = try? await client.deleteIfExists(Node.resource, name: name)
                _ = try? await client.deleteIfExists(Lease.resource, namespace: "kube-node-lease", name: name)
            }
        }
        await postPoolStatus(pool.name)
    }

    func provision(pool: NodePool, count: Int, group: SimulatorConfiguration.NodeGroup) async {
        for _ in 0..<count {
            let name = "\(pool.name)-\(UUID().uuidString.prefix(5).lowercased())"
            do { try await register(name: name, group: group, extraLabels: [:]) } catch { logger.warning("provisioning \(name): \(error)") }
        }
        pendingPools[pool.name, default: 0] -= count
        await postPoolStatus(pool.name)
    }

    func postPoolStatus(_ pool: String) async {
        let members = owned.filter { labelsOf[$0]?[Self.poolLabel] == pool }
        let status: JSONValue = ["replicas": .int(members.count), "readyReplicas": .int(members.filter { !rebooting.contains($0) }.count),
                                 "selector": .string("\(Self.poolLabel)=\(pool)")]
        _ = try? await client.send(RequestBuilder.patch(Self.poolResource, namespace: configuration.poolNamespace, name: pool, subresource: "status",
                                                        type: .merge, body: JSONValue.object([("status", status)]).serialized()))
    }
}

extension Duration {
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// How punctual the Lease renewals were: the gap between two successful renewals of one node.
public struct HeartbeatStatistics: Sendable {
    public private(set) var renewals = 0
    /// How much later than the interval a renewal may come and still be on time.
    public static let lateness: Duration = .seconds(1)
    /// Renewals more than `lateness` later than the interval after the node's previous one.
    public private(set) var late = 0
    /// Renewals that came after the previous one had expired (gap over the lease duration).
    public private(set) var afterExpiry = 0
    public private(set) var worstGap: Duration = .zero

    mutating func record(gap: Duration, interval: Duration, leaseDuration: Duration) {
        renewals += 1
        if gap > interval + Self.lateness { late += 1 }
        if gap > leaseDuration { afterExpiry += 1 }
        worstGap = max(worstGap, gap)
    }
}

struct SimulatorError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A first-in, first-out queue with constant-time removal at the front.
struct FIFO<Element> {
    private var items: [Element] = []
    private var head = 0
    var isEmpty: Bool { head == items.count }
    var first: Element? { isEmpty ? nil : items[head] }
    mutating func append(_ x: Element) { items.append(x) }
    mutating func removeFirst() {
        head += 1
        if head > 1024 && head * 2 > items.count { items.removeFirst(head); head = 0 }
    }
}

final class FailureCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}

/// Runs `body` for every element with at most `width` at once.
func forEachConcurrently<T: Sendable>(_ items: [T], width: Int, _ body: @escaping @Sendable (T) async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<width { if let x = iterator.next() { group.addTask { await body(x) } } }
        while await group.next() != nil { if let x = iterator.next() { group.addTask { await body(x) } } }
    }
}
