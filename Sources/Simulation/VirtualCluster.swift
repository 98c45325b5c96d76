import Foundation

/// The cluster a policy runs in during a replay: nodes of one pool, pods of each zone, and what a
/// scheduler, a ReplicaSet controller and a kubelet would do with them, in virtual time.
/// Deterministic: the same calls give the same cluster.
public struct VirtualCluster: Sendable {
    public struct Node: Sendable {
        public var id: Int
        public var cpuMillis: Int64
        /// When it is Ready (it was asked for earlier; it costs from then).
        public var readyAt: Double
        public var requestedAt: Double
        public var cordoned = false
        /// Out for its update until then.
        public var outUntil: Double?
        /// Carries the update (it was updated, or came up after the update began).
        public var updated = false
        public var failedAttempts = 0
        /// Still to be updated: not updated, and not given up on (a failed update is retried once).
        public var awaitsUpdate: Bool { !updated && failedAttempts < 2 }
        /// Since when its pods have requested less than half of it (for the autoscaler's scale-down).
        public var underusedSince: Double?
        public var usedMillis: Int64 = 0
    }

    public struct Pod: Sendable {
        public var id: Int
        public var zone: Int
        /// Its node, or nil while pending.
        public var node: Int?
        public var readyAt: Double = .infinity
        /// Added ahead of a drain (make-before-break); given back after the node is done.
        public var surge = false
        /// Stands in for a Ready replica that an eviction or a removed node took: until it is Ready,
        /// that replica is missing (see `census`).
        public var replacing = false
        /// Of those, one an eviction took (an update's drain), not a removed node.
        public var replacingEvicted = false
    }

    public let cpuPerReplica: [Int64]
    public let podStartDelay: [Double]
    public private(set) var nodes: [Int: Node] = [:]
    public private(set) var pods: [Int: Pod] = [:]
    private var nextNode = 0, nextPod = 0
    /// Evictions per pod id (a replacement is a new pod: a moved replica counts once per move).
    public private(set) var evictions: [Int: Int] = [:]
    /// Per zone, Ready replicas evicted whose replacement the next `reconcile` has still to make.
    private var replacementsOwed: [Int]
    /// Of those, the ones an eviction (not a removed node) took.
    private var evictedReplacementsOwed: [Int]
    /// Node-seconds and replica-seconds so far (nodes from request to removal, pods while placed or pending).
    public private(set) var nodeSeconds = 0.0, replicaSeconds = 0.0

    public init(cpuPerReplica: [Int64], podStartDelay: [Double], nodes: Int, cpuPerNode: Int64) {
        self.cpuPerReplica = cpuPerReplica
        self.podStartDelay = podStartDelay
        self.replacementsOwed = Array(repeating: 0, count: cpuPerReplica.count)
        self.evictedReplacementsOwed = replacementsOwed
        for _ in 0..<nodes { _ = addNode(cpuMillis: cpuPerNode, now: -.infinity, delay: 0) }
    }

    // MARK: nodes

    @discardableResult
    public mutating func addNode(cpuMillis: Int64, now: Double, delay: Double, updated: Bool = false) -> Int {
        let id = nextNode
        nextNode += 1
        nodes[id] = Node(id: id, cpuMillis: cpuMillis, readyAt: now + delay, requestedAt: now, updated: updated)
        return id
    }

    /// Removes a node; its pods go back to pending (their ReplicaSet makes new ones), each one that
    /// was Ready (or stood in for one) now replacing a Ready replica.
    public mutating func removeNode(_ id: Int, now: Double) {
        for p in podIDs(on: id) {
            guard var pod = pods[p] else { continue }
            // A Ready pod is taken by the removal now, whatever it once replaced.
            pod.replacingEvicted = pod.readyAt > now && pod.replacingEvicted
            pod.replacing = pod.readyAt <= now || pod.replacing
            pod.node = nil
            pod.readyAt = .infinity
            pods[p] = pod
        }
        nodes[id] = nil
    }

    public mutating func setCordoned(_ id: Int, _ value: Bool) { nodes[id]?.cordoned = value }
    public mutating func setOut(_ id: Int, until: Double?) { nodes[id]?.outUntil = until }
    public mutating func markUpdated(_ id: Int, _ ok: Bool) {
        if ok { nodes[id]?.updated = true } else { nodes[id]?.failedAttempts += 1 }
    }
    public mutating func setUnderused(_ id: Int, since: Double?) { nodes[id]?.underusedSince = since }

    public func isSchedulable(_ n: Node, at now: Double) -> Bool { n.readyAt <= now && !n.cordoned && n.outUntil == nil }
    public func podIDs(on node: Int) -> [Int] { pods.values.filter { $0.node == node }.map(\.id).sorted() }
    public var nodeCount: Int { nodes.count }
    public func freeMillis(_ n: Node) -> Int64 { n.cpuMillis - n.usedMillis }

    // MARK: pods

    /// Per zone, in one pass: pods Ready at `now` (surge included: they serve load too), regular
    /// pods (what the zone's Deployment counts, surge excluded), surge pods, and `displaced`: Ready
    /// replicas that evictions and removed nodes took and that are not replaced by a Ready pod yet
    /// (new replicas still starting are not displaced ones: a scale-up's lag is not a dip); `evicted`
    /// is the part of it that evictions took.
    public func census(at now: Double) -> (ready: [Int], regular: [Int], surge: [Int], displaced: [Int], evicted: [Int]) {
        var ready = [Int](repeating: 0, count: cpuPerReplica.count), regular = ready, surge = ready, displaced = replacementsOwed
        var evicted = evictedReplacementsOwed
        for p in pods.values {
            if p.readyAt <= now { ready[p.zone] += 1 } else if p.replacing {
                displaced[p.zone] += 1
                if p.replacingEvicted { evicted[p.zone] += 1 }
            }
            if p.surge { surge[p.zone] += 1 } else { regular[p.zone] += 1 }
        }
        return (ready, regular, surge, displaced, evicted)
    }

    @discardableResult
    public mutating func addPod(zone: Int, surge: Bool = false) -> Int {
        let id = nextPod
        nextPod += 1
        pods[id] = Pod(id: id, zone: zone, node: nil, surge: surge)
        return id
    }

    public mutating func deletePod(_ id: Int) {
        guard let p = pods.removeValue(forKey: id) else { return }
        if let n = p.node { nodes[n]?.usedMillis -= cpuPerReplica[p.zone] }
    }

    /// Evicts a pod: it is gone, and its ReplicaSet (the next `reconcile`) makes a pending
    /// replacement, which replaces a Ready replica when this pod was one (or stood in for one).
    /// A surge pod has no replacement: it was extra.
    public mutating func evict(_ id: Int, now: Double) {
        guard let pod = pods[id] else { return }
        evictions[id, default: 0] += 1
        if !pod.surge && (pod.readyAt <= now || pod.replacing) {
            replacementsOwed[pod.zone] += 1
            evictedReplacementsOwed[pod.zone] += 1
        }
        deletePod(id)
    }

    /// Brings each zone's regular pods to `desired`: new ones pending; extra ones removed pending
    /// first, then not yet Ready, then the newest (as a ReplicaSet scales down).
    public mutating func reconcile(desired: [Int], now: Double) {
        for z in desired.indices {
            let mine = pods.values.filter { $0.zone == z && !$0.surge }
            if mine.count < desired[z] {
                for _ in mine.count..<desired[z] {
                    let id = addPod(zone: z)
                    if replacementsOwed[z] > 0 { replacementsOwed[z] -= 1; pods[id]?.replacing = true }
                    if evictedReplacementsOwed[z] > 0 { evictedReplacementsOwed[z] -= 1; pods[id]?.replacingEvicted = true }
                }
            } else if mine.count > desired[z] {
                let order = mine.sorted { a, b in
                    let ra = a.node == nil ? 0 : (a.readyAt > now ? 1 : 2), rb = b.node == nil ? 0 : (b.readyAt > now ? 1 : 2)
                    return ra != rb ? ra < rb : a.id > b.id
                }
                for p in order.prefix(mine.count - desired[z]) { deletePod(p.id) }
            }
            replacementsOwed[z] = 0  // what this pass did not make, the ReplicaSet no longer wants
            evictedReplacementsOwed[z] = 0
        }
    }

    /// Places pending pods (oldest first) on schedulable nodes with room, most free CPU first (as the
    /// default scheduler spreads); `avoid` are nodes placed on only when nothing else fits (the
    /// `PreferNoSchedule` taint of nodes still to be updated). Returns the pods left pending.
    @discardableResult
    public mutating func schedule(now: Double, avoid: Set<Int> = []) -> Int {
        var pending = pods.values.filter { $0.node == nil }.map(\.id).sorted()
        guard !pending.isEmpty else { return 0 }
        var candidates = nodes.values.filter { isSchedulable($0, at: now) }.map(\.id).sorted()
        var left = 0
        while let id = pending.first {
            pending.removeFirst()
            let need = cpuPerReplica[pods[id]!.zone]
            var best: Int?, bestKey: (Int, Int64) = (0, .min)
            for n in candidates {
                let free = freeMillis(nodes[n]!)
                guard free >= need else { continue }
                let key = (avoid.contains(n) ? 0 : 1, free)
                if best == nil || key > bestKey { best = n; bestKey = key }
            }
            guard let n = best else { left += 1; continue }
            nodes[n]!.usedMillis += need
            pods[id]!.node = n
            pods[id]!.readyAt = now + podStartDelay[pods[id]!.zone]
            if freeMillis(nodes[n]!) < (cpuPerReplica.min() ?? 1) { candidates.removeAll { $0 == n } }
        }
        return left
    }

    /// CPU the pending pods ask for.
    public var pendingMillis: Int64 { pods.values.reduce(0) { $0 + ($1.node == nil ? cpuPerReplica[$1.zone] : 0) } }

    /// Accrues node and replica time over `dt` seconds.
    public mutating func account(dt: Double, now: Double) {
        nodeSeconds += Double(nodes.count) * dt
        replicaSeconds += Double(pods.count) * dt
    }

    /// Whether the pods of `node` would fit on the other schedulable nodes (for a scale-down).
    public func podsFitElsewhere(_ node: Int, now: Double) -> Bool {
        var free = nodes.values.filter { $0.id != node && isSchedulable($0, at: now) }.map { freeMillis($0) }.sorted(by: >)
        for p in podIDs(on: node).map({ cpuPerReplica[pods[$0]!.zone] }).sorted(by: >) {
            guard let i = free.firstIndex(where: { $0 >= p }) else { return false }
            free[i] -= p
        }
        return true
    }
}
