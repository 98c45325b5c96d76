import Foundation

/// CPU (millicores) and memory (bytes): what pods request and nodes offer.
public struct Resources: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var cpuMillis: Int64
    public var memoryBytes: Int64

    public init(cpuMillis: Int64, memoryBytes: Int64) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
    }

    public static let zero = Resources(cpuMillis: 0, memoryBytes: 0)
    public static func + (a: Resources, b: Resources) -> Resources { Resources(cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes) }
    public static func - (a: Resources, b: Resources) -> Resources { Resources(cpuMillis: a.cpuMillis - b.cpuMillis, memoryBytes: a.memoryBytes - b.memoryBytes) }
    public static func * (a: Resources, n: Int) -> Resources { Resources(cpuMillis: a.cpuMillis * Int64(n), memoryBytes: a.memoryBytes * Int64(n)) }
    public var isZero: Bool { cpuMillis <= 0 && memoryBytes <= 0 }
    public var description: String { "\(cpuMillis)m CPU, \(memoryBytes / 1_048_576) MiB" }

    /// How many of `unit` fit in this (the tighter of CPU and memory); unlimited when `unit` asks nothing.
    public func count(of unit: Resources) -> Int {
        var n = Int.max
        if unit.cpuMillis > 0 { n = min(n, Int(max(0, cpuMillis) / unit.cpuMillis)) }
        if unit.memoryBytes > 0 { n = min(n, Int(max(0, memoryBytes) / unit.memoryBytes)) }
        return n
    }
}

/// What to do when even the largest node pool cannot hold every zone's requirement.
public enum OverflowPolicy: String, Sendable, Equatable, CaseIterable {
    /// Highest priority first; the lowest priority is cut first.
    case strict = "Strict"
    /// Every zone gets the same share of what it asked for beyond its minimum.
    case proportional = "Proportional"
    /// Each zone is granted in full with a probability that grows with its priority (a seeded,
    /// reproducible draw); zones not granted keep their minimum.
    case probabilistic = "Probabilistic"
}

/// One zone as the partitioner sees it.
public struct ZoneDemand: Sendable, Equatable {
    public var name: String
    public var priority: Int
    /// Replicas the zone requires (after sizing and stabilisation).
    public var required: Int
    /// Replicas it must keep whatever happens (its `minReplicas`).
    public var minimum: Int
    /// Replicas it may grow to when it receives leftover capacity (general-purpose zone).
    public var maximum: Int
    /// What one replica requests.
    public var perReplica: Resources

    public init(name: String, priority: Int, required: Int, minimum: Int = 0, maximum: Int = Int.max, perReplica: Resources) {
        self.name = name
        self.priority = priority
        self.required = max(0, required)
        self.minimum = max(0, min(minimum, self.required))
        self.maximum = max(self.required, maximum)
        self.perReplica = perReplica
    }
}

/// A node pool as the partitioner sees it.
public struct NodePoolCapacity: Sendable, Equatable {
    public var name: String
    /// Allocatable resources of one node, minus what DaemonSets take on it.
    public var perNode: Resources
    public var minNodes: Int
    public var maxNodes: Int
    public var currentNodes: Int

    public init(name: String, perNode: Resources, minNodes: Int, maxNodes: Int, currentNodes: Int) {
        self.name = name
        self.perNode = perNode
        self.minNodes = max(0, minNodes)
        self.maxNodes = max(self.minNodes, maxNodes)
        self.currentNodes = currentNodes
    }
}

/// The partition: replicas allocated per zone, the pool size, and whether demand fitted.
public struct Partition: Sendable, Equatable {
    public struct ZoneGrant: Sendable, Equatable {
        public var name: String
        public var required: Int
        public var allocated: Int
        /// allocated ÷ required (1 when nothing was required).
        public var grantRatio: Double
    }
    public var zones: [ZoneGrant]
    public var desiredNodes: Int
    /// False when even `maxNodes` could not hold every requirement (the overflow policy decided).
    public var capacitySufficient: Bool
    /// Nodes the requirements alone would need (may exceed `maxNodes`).
    public var nodesNeeded: Int

    public func grant(_ zone: String) -> ZoneGrant? { zones.first { $0.name == zone } }
}

/// Shares a node pool's capacity among zones by priority. Pure.
///
/// - Capacity is counted in whole replicas per node (a replica does not straddle two nodes): a
///   node holds as many replicas of each zone as fit in what is left of it, zones highest priority
///   first, first fit — so fragmentation is counted, not averaged away.
/// - The pool is sized to the fewest nodes that hold every zone's requirement, within
///   `minNodes`…`maxNodes`.
/// - When `maxNodes` cannot hold them, `policy` decides who gets what; zones keep their minimum
///   first whenever the minimums fit.
/// - Leftover capacity of the chosen size goes to `generalPurpose` (up to its maximum).
/// - `seed` makes the probabilistic draw reproducible: the same inputs and seed give the same answer.
public func partition(zones: [ZoneDemand], pool: NodePoolCapacity, policy: OverflowPolicy, generalPurpose: String? = nil, seed: UInt64 = 0) -> Partition {
    let ordered = zones.enumerated().sorted { a, b in
        a.element.priority != b.element.priority ? a.element.priority > b.element.priority : a.offset < b.offset
    }.map(\.element)
    // Nodes the requirements need, by first-fit packing of whole replicas.
    var needed = 0
    if ordered.contains(where: { $0.required > 0 }) {
        needed = nodesToHold(ordered.map { ($0.perReplica, $0.required) }, perNode: pool.perNode, limit: max(pool.maxNodes, 1) * 4 + 1000)
    }
    let desired = min(max(needed, pool.minNodes), pool.maxNodes)
    var allocated = [String: Int]()
    let sufficient = needed <= pool.maxNodes
    if sufficient {
        for z in ordered { allocated[z.name] = z.required }
    } else {
        allocated = overflow(ordered, pool: pool, nodes: desired, policy: policy, seed: seed)
    }
    // Leftover capacity goes to the general-purpose zone.
    if let gp = generalPurpose, let z = ordered.first(where: { $0.name == gp }), !z.perReplica.isZero {
        let others = allocated
        let upper = min(z.maximum, (allocated[gp] ?? 0) + pool.perNode.count(of: z.perReplica).clampedProduct(desired))
        allocated[gp] = largestFitting(from: allocated[gp] ?? 0, to: upper) { n in
            fits(ordered.map { ($0.perReplica, $0.name == gp ? n : others[$0.name] ?? 0) }, perNode: pool.perNode, nodes: desired)
        }
    }
    let grants = zones.map { z -> Partition.ZoneGrant in
        let a = allocated[z.name] ?? 0
        return Partition.ZoneGrant(name: z.name, required: z.required, allocated: a,
                                   grantRatio: z.required == 0 ? 1 : min(1, Double(a) / Double(z.required)))
    }
    return Partition(zones: grants, desiredNodes: desired, capacitySufficient: sufficient, nodesNeeded: needed)
}

/// One zone as a shrinking pool sees it.
public struct ShrinkExposure: Sendable, Equatable {
    public var name: String
    /// Replicas the zone runs under the plan.
    public var replicas: Int
    /// Replicas an UpdateWindow's surge runs on top of `replicas`; while any zone has some (a node
    /// is being drained), the pool gives no node back.
    public var extra: Int
    /// Replicas that serve the zone's observed load now.
    public var serving: Int
    /// Ready replicas now, every pod of the zone counted.
    public var ready: Int
    /// What one replica requests.
    public var perReplica: Resources
    /// Its pods are not coming: every Deployment of the zone is past its progress deadline.
    public var stalled: Bool
    /// Stalled with no replica Ready: a removed node takes nothing from it that serves, so the pool
    /// neither waits for it nor surges it.
    public var servesNothing: Bool { stalled && ready == 0 }

    public init(name: String, replicas: Int, extra: Int = 0, serving: Int, ready: Int, perReplica: Resources, stalled: Bool = false) {
        self.stalled = stalled
        self.name = name
        self.replicas = replicas
        self.extra = extra
        self.serving = serving
        self.ready = ready
        self.perReplica = perReplica
    }
}

/// What a pool that holds more nodes than its zones need does now.
public struct ShrinkStep: Sendable, Equatable {
    /// The node count to ask for.
    public var nodes: Int
    /// Replicas added to zones (by name) so that the pods of the node given back are covered.
    public var surge: [String: Int]
    /// Zones whose surge is not Ready yet: the node waits for them.
    public var waitingFor: [String]
    /// The surge does not fit on the nodes there are: the pool keeps them.
    public var surgeDoesNotFit: Bool

    public init(nodes: Int, surge: [String: Int], waitingFor: [String], surgeDoesNotFit: Bool) {
        self.nodes = nodes
        self.surge = surge
        self.waitingFor = waitingFor
        self.surgeDoesNotFit = surgeDoesNotFit
    }
}

/// How a pool gives nodes back without taking capacity a zone's load needs now.
///
/// A removed node takes its pods with it: they are evicted, and their replacements serve only once
/// placed and Ready elsewhere. Which node goes is the infrastructure's choice (a cluster
/// autoscaler's, a Cluster API delete policy's), so each removed node is taken to hold as many of
/// a zone's replicas as fit on one node.
/// - As many nodes go at once as every zone can lose and still keep the replicas its observed load
///   needs (`serving`), counting only the replicas that are Ready now.
/// - When not even one can, the zones short of that are surged first, on the nodes there are, by
///   what they would lack; once every zone one node could leave short is Ready again (its surge,
///   or the replacements of the pods of a node that went before), one node goes. The caller adds
///   `surge` to the zones' replicas while the pool is above `target`, and gives it back after.
/// - A stalled zone with no Ready replica (its pods crash, or never pass their probe, past the
///   Deployments' progress deadline) is neither waited for nor surged: a removed node takes nothing
///   from it that serves, and waiting would hold the pool for pods that are not coming. A zone whose
///   replicas are still starting has none Ready either, and is waited for.
/// - A pool above `maxNodes` goes down to it at once (the user cut it), as before.
public func shrinkStep(current: Int, target: Int, maxNodes: Int, perNode: Resources, zones: [ShrinkExposure]) -> ShrinkStep {
    let none = ShrinkStep(nodes: target, surge: [:], waitingFor: [], surgeDoesNotFit: false)
    guard target < current, current <= maxNodes else { return none }
    let holds = zones.map { $0.perReplica.isZero ? 0 : perNode.count(of: $0.perReplica) }
    // Whether zone i, with `standing` replicas Ready, still serves its load after losing `nodes`
    // nodes full of its replicas. Only Ready replicas count: the pods of a node that has just gone
    // serve nothing until replaced, though the plan still counts them.
    func survives(_ i: Int, standing: Int, losing nodes: Int) -> Bool {
        holds[i] == 0 || (standing == 0 && zones[i].stalled) || standing - min(standing, nodes.clampedProduct(holds[i])) >= zones[i].serving
    }
    // The deepest cut every zone survives as it is.
    for nodes in target..<current where zones.indices.allSatisfy({ survives($0, standing: min(zones[$0].replicas, zones[$0].ready), losing: current - nodes) }) {
        return ShrinkStep(nodes: nodes, surge: [:], waitingFor: [], surgeDoesNotFit: false)
    }
    // One node, after a surge that covers its pods; not while an UpdateWindow's surge is in flight
    // (a node of the pool is being drained: the pool waits for it).
    if zones.contains(where: { $0.extra > 0 }) { return ShrinkStep(nodes: current, surge: [:], waitingFor: zones.filter { $0.extra > 0 }.map(\.name), surgeDoesNotFit: false) }
    var surge: [String: Int] = [:]
    for (i, z) in zones.enumerated() where z.serving > 0 && holds[i] > 0 && !z.servesNothing {
        let s = max(0, z.serving + holds[i] - z.replicas)
        if s > 0 { surge[z.name] = s }
    }
    let items = zones.map { ($0.perReplica, $0.replicas + (surge[$0.name] ?? 0)) }
    guard fits(items, perNode: perNode, nodes: current) else {
        return ShrinkStep(nodes: current, surge: [:], waitingFor: [], surgeDoesNotFit: true)
    }
    // The node waits for every zone it could leave short: a surge not Ready yet, or replicas lost
    // with an earlier node and not yet replaced.
    let waiting = zones.indices.filter { i in
        !survives(i, standing: min(zones[i].ready, zones[i].replicas + (surge[zones[i].name] ?? 0)), losing: 1)
    }.map { zones[$0].name }
    return ShrinkStep(nodes: waiting.isEmpty ? current - 1 : current, surge: surge, waitingFor: waiting, surgeDoesNotFit: false)
}

/// The largest n in `from`…`to` for which `fits(n)` holds, given that it holds for `from` and is
/// monotone (if n fits, every smaller count does).
func largestFitting(from: Int, to: Int, _ fits: (Int) -> Bool) -> Int {
    guard to > from else { return from }
    if fits(to) { return to }
    var lo = from, hi = to  // fits(lo), !fits(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2
        if fits(mid) { lo = mid } else { hi = mid }
    }
    return lo
}

extension Int {
    /// self × n, or Int.max when that overflows.
    func clampedProduct(_ n: Int) -> Int {
        let (r, o) = multipliedReportingOverflow(by: n)
        return o ? Int.max : r
    }
}

/// Whether `items` (replica size, count) fit on `nodes` nodes of `perNode` each, by first fit.
func fits(_ items: [(Resources, Int)], perNode: Resources, nodes: Int) -> Bool {
    guard nodes > 0 else { return items.allSatisfy { $0.1 == 0 || $0.0.isZero } }
    var free = Array(repeating: perNode, count: nodes)
    for (size, count) in items where count > 0 {
        if size.isZero { continue }
        var left = count
        for i in free.indices where left > 0 {
            let n = min(left, free[i].count(of: size))
            if n > 0 { free[i] = free[i] - size * n; left -= n }
        }
        if left > 0 { return false }
    }
    return true
}

/// The fewest nodes of `perNode` that hold `items`, or `limit` when even that many cannot.
func nodesToHold(_ items: [(Resources, Int)], perNode: Resources, limit: Int) -> Int {
    // A lower bound from totals, then grow until first fit succeeds (fragmentation adds few nodes).
    var cpu: Int64 = 0, mem: Int64 = 0
    for (size, count) in items { cpu += size.cpuMillis * Int64(count); mem += size.memoryBytes * Int64(count) }
    var n = 0
    if perNode.cpuMillis > 0 { n = max(n, Int((cpu + perNode.cpuMillis - 1) / perNode.cpuMillis)) }
    if perNode.memoryBytes > 0 { n = max(n, Int((mem + perNode.memoryBytes - 1) / perNode.memoryBytes)) }
    if items.contains(where: { !$0.0.isZero && $0.1 > 0 && perNode.count(of: $0.0) == 0 }) { return limit }  // a replica larger than a node
    n = max(n, 1)
    while n < limit && !fits(items, perNode: perNode, nodes: n) { n += 1 }
    return n
}

/// Grants under overflow: every zone's minimum first (highest priority first while they fit), then
/// the rest by policy.
func overflow(_ ordered: [ZoneDemand], pool: NodePoolCapacity, nodes: Int, policy: OverflowPolicy, seed: UInt64) -> [String: Int] {
    var granted = [String: Int]()
    func fitsWith(_ name: String, _ count: Int) -> Bool {
        fits(ordered.map { ($0.perReplica, $0.name == name ? count : granted[$0.name] ?? 0) }, perNode: pool.perNode, nodes: nodes)
    }
    /// Raises `z` toward `target`, as far as it fits (fitting is monotone in the count: bisection).
    func raise(_ z: ZoneDemand, to target: Int) {
        granted[z.name] = largestFitting(from: granted[z.name] ?? 0, to: target) { fitsWith(z.name, $0) }
    }
    for z in ordered { raise(z, to: z.minimum) }
    switch policy {
    case .strict:
        for z in ordered { raise(z, to: z.required) }
    case .proportional:
        // The largest common share s of (required − minimum) that fits, by bisection on s.
        var lo = 0.0, hi = 1.0
        let base = granted
        func apply(_ s: Double) -> [String: Int] {
            var g = base
            for z in ordered { g[z.name] = (base[z.name] ?? 0) + Int((Double(z.required - (base[z.name] ?? 0)) * s).rounded(.down)) }
            return g
        }
        for _ in 0..<40 {
            let mid = (lo + hi) / 2
            let g = apply(mid)
            if fits(ordered.map { ($0.perReplica, g[$0.name] ?? 0) }, perNode: pool.perNode, nodes: nodes) { lo = mid } else { hi = mid }
        }
        granted = apply(lo)
        // Whole replicas left over by rounding go highest priority first.
        for z in ordered { raise(z, to: z.required) }
    case .probabilistic:
        // Probability by rank: the highest-priority zone 1, then evenly lower, the lowest 1/n.
        let ranks = Dictionary(grouping: ordered.map(\.priority), by: { $0 }).keys.sorted(by: >)
        var rng = SeededGenerator(seed: seed)
        var winners: [ZoneDemand] = [], losers: [ZoneDemand] = []
        for z in ordered {
            let rank = ranks.firstIndex(of: z.priority) ?? 0
            let p = Double(ranks.count - rank) / Double(ranks.count)
            let draw = Double(rng.next() >> 11) / Double(1 << 53)
            if draw < p { winners.append(z) } else { losers.append(z) }
        }
        for z in winners { raise(z, to: z.required) }
        // What the winners leave is not wasted: the others get it, by priority.
        for z in losers { raise(z, to: z.required) }
    }
    return granted
}

/// SplitMix64: a small, fast, reproducible generator for the overflow draw.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
