import Foundation

/// How an UpdateWindow orders its nodes.
public enum NodeOrder: Sendable, Equatable {
    /// By forecast: the busiest node goes when the cluster's predicted spare capacity is largest.
    case predictedLoad
    /// By name.
    case name
    /// As listed in `spec.nodes`.
    case given([String])
}

/// A node to update, as the planner sees it.
public struct NodeToUpdate: Sendable, Equatable {
    public var name: String
    /// The load its pods carry over the window (their share of their zones' forecasts, or their
    /// requests without a ZonePlan): what the rest of the cluster must absorb while it is out.
    public var predictedLoad: Double
    public init(name: String, predictedLoad: Double) {
        self.name = name
        self.predictedLoad = predictedLoad
    }
}

/// One node's place in the plan: its slot (0-based), when it starts and when it should be done.
public struct PlannedNode: Sendable, Equatable {
    public var node: String
    public var slot: Int
    public var predictedLoad: Double
    public var start: Date
    public var eta: Date
    /// The cluster's predicted spare capacity, lowest over the node's time out, minus its load:
    /// below zero, capacity would dip.
    public var margin: Double
}

/// The plan of a window, or why it cannot be carried out safely.
public struct UpdatePlan: Sendable, Equatable {
    public var nodes: [PlannedNode]
    /// Nodes that do not fit before the window closes.
    public var unplaced: [String]
    /// Nodes whose time out would take capacity below the predicted load.
    public var wouldDip: [String]
    public var fits: Bool { unplaced.isEmpty }
}

/// The predicted spare capacity of the cluster over a window: one value per step from `start`.
public struct SpareCapacity: Sendable, Equatable {
    public var start: Date
    public var step: TimeInterval
    public var values: [Double]
    public init(start: Date, step: TimeInterval, values: [Double]) {
        self.start = start
        self.step = step
        self.values = values
    }
    /// Unknown spare capacity (no forecast): every step equally good.
    public static func flat(start: Date, end: Date, step: TimeInterval) -> SpareCapacity {
        SpareCapacity(start: start, step: step, values: Array(repeating: .infinity, count: max(1, Int((end.timeIntervalSince(start) / step).rounded(.up)))))
    }
}

/// Plans a window: which node goes when, at most `maxUnavailable` at once, each out for
/// `perNode` seconds, all done before `end`. Pure.
///
/// - `name` and `given` orders fill slots in that order, as early as the concurrency allows.
/// - `predictedLoad` places the busiest node first, each at the start where the spare capacity
///   left over its time out (spare minus the load of nodes already out then, minus its own) is
///   largest, earliest on ties: the heavy nodes go in the quiet hours.
public func planUpdate(_ nodes: [NodeToUpdate], order: NodeOrder, spare: SpareCapacity, perNode: TimeInterval, maxUnavailable: Int, end: Date) -> UpdatePlan {
    let steps = spare.values.count
    let length = max(1, Int((perNode / spare.step).rounded(.up)))
    var outLoad = Array(repeating: 0.0, count: steps)
    var outCount = Array(repeating: 0, count: steps)
    let lastStart = min(steps - length, Int((end.timeIntervalSince(spare.start) - perNode) / spare.step))
    var placed: [PlannedNode] = [], unplaced: [String] = [], dips: [String] = []

    let sequence: [NodeToUpdate]
    switch order {
    case .name: sequence = nodes.sorted { $0.name < $1.name }
    case .given(let names):
        let rank = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        sequence = nodes.sorted { (rank[$0.name] ?? Int.max, $0.name) < (rank[$1.name] ?? Int.max, $1.name) }
    case .predictedLoad: sequence = nodes.sorted { ($0.predictedLoad, $1.name) > ($1.predictedLoad, $0.name) }
    }
    var earliest = 0
    let cap = max(1, maxUnavailable)
    // Over each possible time out [s, s + length): the least room left and the most nodes out, by
    // sliding windows; a placement changes only the windows that overlap it, which are redone.
    var room = slidingExtreme(spare.values, length: length, by: <)
    var busiest = slidingExtreme(outCount, length: length, by: >)
    for node in sequence {
        var best: (start: Int, margin: Double)?
        if lastStart >= 0 {
            let from = order == .predictedLoad ? 0 : earliest
            for s in stride(from: from, through: lastStart, by: 1) where busiest[s] < cap {
                let margin = room[s] - node.predictedLoad
                if order != .predictedLoad { best = (s, margin); break }
                if best == nil || margin > best!.margin { best = (s, margin) }
            }
        }
        guard let chosen = best else { unplaced.append(node.name); continue }
        for i in chosen.start..<(chosen.start + length) { outLoad[i] += node.predictedLoad; outCount[i] += 1 }
        let lo = max(0, chosen.start - length + 1), hi = min(room.count - 1, chosen.start + length - 1)
        if lo <= hi {
            let left = (lo..<(hi + length)).map { spare.values[$0] - outLoad[$0] }
            room.replaceSubrange(lo...hi, with: slidingExtreme(left, length: length, by: <))
            busiest.replaceSubrange(lo...hi, with: slidingExtreme(Array(outCount[lo..<(hi + length)]), length: length, by: >))
        }
        if order != .predictedLoad { earliest = chosen.start }
        let start = spare.start.addingTimeInterval(Double(chosen.start) * spare.step)
        placed.append(PlannedNode(node: node.name, slot: 0, predictedLoad: node.predictedLoad, start: start, eta: start.addingTimeInterval(perNode),
                                  margin: chosen.margin))
        if chosen.margin < 0 { dips.append(node.name) }
    }
    placed.sort { ($0.start, $0.node) < ($1.start, $1.node) }
    for i in placed.indices { placed[i].slot = i }
    return UpdatePlan(nodes: placed, unplaced: unplaced, wouldDip: dips)
}

/// The extreme (least under `<`, greatest under `>`) of every window of `length` consecutive
/// values: element `s` covers `values[s..<s + length]`. A monotonic queue makes it linear.
public func slidingExtreme<T: Comparable>(_ values: [T], length: Int, by better: (T, T) -> Bool) -> [T] {
    guard length > 0, values.count >= length else { return [] }
    var out: [T] = []
    out.reserveCapacity(values.count - length + 1)
    var queue: [Int] = [], head = 0
    for i in values.indices {
        while queue.count > head, !better(values[queue[queue.count - 1]], values[i]) { queue.removeLast() }
        queue.append(i)
        if queue[head] <= i - length { head += 1 }
        if i >= length - 1 { out.append(values[queue[head]]) }
    }
    return out
}
