import CapacityPlanning
import Forecasting
import ForesightAPI
import Foundation
import KubernetesCore

/// What the forecast of one zone says about the coming lead window.
public struct ZoneOutlook: Sendable, Equatable {
    /// The chosen quantile of the peak over the window (now … now + horizon + lead time).
    public var peakQuantile: Double
    /// The mean forecast at that peak.
    public var peakMean: Double
    public var peakAt: Date
    public var model: String
    /// The engine's own backtest of this fit: MASE, MAPE, coverage of its 90 % interval.
    public var accuracy: Forecast.Accuracy
    public var fittedAt: Date
    /// The newest observation the forecast has taken (its fit's, or an update's since); nil when
    /// the forecast is not moved between fits.
    public var updatedThrough: Date?
    public init(peakQuantile: Double, peakMean: Double, peakAt: Date, model: String, accuracy: Forecast.Accuracy, fittedAt: Date) {
        self.peakQuantile = peakQuantile
        self.peakMean = peakMean
        self.peakAt = peakAt
        self.model = model
        self.accuracy = accuracy
        self.fittedAt = fittedAt
    }
}

/// One Deployment of a zone, as the planner sees it.
public struct ZoneWorkload: Sendable, Equatable {
    public var namespace: String
    public var name: String
    /// Its replicas, less any surge an UpdateWindow holds on it (what the zone's sizing moves).
    public var replicas: Int
    /// Replicas an UpdateWindow added for a node it drains (its `foresight.dev/surge` ledger):
    /// kept on top of whatever the plan writes, and given back by the window.
    public var surge: Int = 0
    /// Of `surge`, what covers nodes cordoned now: it stands in for those nodes' pods (their
    /// replacements wait for the node), where a surge still held for a node back in service adds to them.
    public var surgeForCordonedNodes: Int = 0
    /// What one pod of it requests.
    public var perPod: Resources
    /// Its Ready pods now (nil: not known, taken as none).
    public var readyReplicas: Int?
    /// Past its progress deadline (`Deployment.progressDeadlineExceeded`): its pods not Ready are not coming.
    public var stalled = false
    public var priorityClassName: String?
    /// The HPA scaling it, if any: its name, its minReplicas now, and the user's own minReplicas
    /// when Foresight raised it (from the HPA's annotation).
    public var hpa: HPA?

    public struct HPA: Sendable, Equatable {
        public var name: String
        public var minReplicas: Int
        public var maxReplicas: Int
        public var userMinReplicas: Int?
        /// An UpdateWindow's surge holds its minReplicas now; the plan leaves it until given back.
        public var heldBySurge = false
    }

    public var key: String { "\(namespace)/\(name)" }

    public init(namespace: String, name: String, replicas: Int, surge: Int = 0, surgeForCordonedNodes: Int = 0, perPod: Resources,
                readyReplicas: Int? = nil, priorityClassName: String? = nil, hpa: HPA? = nil) {
        self.readyReplicas = readyReplicas
        self.surgeForCordonedNodes = surgeForCordonedNodes
        self.namespace = namespace
        self.name = name
        self.replicas = replicas
        self.surge = surge
        self.perPod = perPod
        self.priorityClassName = priorityClassName
        self.hpa = hpa
    }
}

/// Everything the planner needs about one zone this reconcile.
public struct ZoneSnapshot: Sendable, Equatable {
    public var name: String
    public var outlook: ZoneOutlook?
    /// The latest observed load, when it is recent.
    public var observedLoad: Double?
    /// Why there is no usable forecast, or why it is not trusted (empty when it is).
    public var forecastProblem: String?
    public var workloads: [ZoneWorkload]
    /// Problems that forbid scaling this zone (a Deployment claimed by two zones, ...).
    public var blockers: [String]
    public init(name: String, outlook: ZoneOutlook?, observedLoad: Double?, forecastProblem: String?, workloads: [ZoneWorkload], blockers: [String] = []) {
        self.name = name
        self.outlook = outlook
        self.observedLoad = observedLoad
        self.forecastProblem = forecastProblem
        self.workloads = workloads
        self.blockers = blockers
    }
}

/// The node pool the zones share (the plan's first pool).
public struct PoolSnapshot: Sendable, Equatable {
    public var name: String
    public var currentNodes: Int
    /// Allocatable of one node minus what DaemonSets take there; nil when no node exists to measure.
    public var perNode: Resources?
    public var minNodes: Int
    public var maxNodes: Int
    /// Of `currentNodes`, those cordoned (an UpdateWindow's node out for its update, an operator's
    /// cordon): they take no new pod, so the pool asks for the nodes they take away.
    public var unschedulableNodes: Int
    /// Of `currentNodes`, those an UpdateWindow still has to update (its `update-pending` taint):
    /// while there are any, the pool gives no node back.
    public var nodesAwaitingUpdate: Int
    public init(name: String, currentNodes: Int, perNode: Resources?, minNodes: Int, maxNodes: Int, unschedulableNodes: Int = 0,
                nodesAwaitingUpdate: Int = 0) {
        self.name = name
        self.currentNodes = currentNodes
        self.perNode = perNode
        self.minNodes = minNodes
        self.maxNodes = maxNodes
        self.unschedulableNodes = unschedulableNodes
        self.nodesAwaitingUpdate = nodesAwaitingUpdate
    }
}

/// What the planner remembers between reconciles (kept in the plan's status, so a restarted
/// controller resumes): per zone, the stabilisation history and the last scale-down.
public struct ZoneMemory: Sendable, Equatable, Codable {
    public var recommendations: [ScaleDownPolicy.Recommendation]
    public var lastScaleDown: Double?
    /// The zone's own requirement after stabilisation last time: what stabilisation steps down
    /// from (not the Deployments' replicas, which may hold leftover capacity of a general-purpose
    /// zone or an overflow cut).
    public var lastRequired: Int?
    public init(recommendations: [ScaleDownPolicy.Recommendation] = [], lastScaleDown: Double? = nil, lastRequired: Int? = nil) {
        self.recommendations = recommendations
        self.lastScaleDown = lastScaleDown
        self.lastRequired = lastRequired
    }
}

/// The planner's decision for one zone.
public struct ZoneDecision: Sendable, Equatable {
    public var name: String
    public var requirement: ZoneRequirement
    /// After stabilisation and stepping.
    public var required: Int
    public var allocated: Int
    /// Of `allocated`, replicas that cover the pods of a node the pool is giving back; they go
    /// with the node (`shrinkStep`).
    public var shrinkSurge: Int = 0
    public var grantRatio: Double
    public var memory: ZoneMemory
    /// Replicas per Deployment (`namespace/name`); a Deployment with an HPA gets them as the HPA's minReplicas.
    public var replicas: [String: Int]
    /// Why the zone is sized reactively (forecast missing, stale, or not accurate enough), if it is.
    public var degraded: String?
    /// Why the zone is not scaled at all, if it is not.
    public var blocked: String?
}

/// The whole decision of one reconcile. Pure data: the reconciler applies it.
public struct ZonePlanDecision: Sendable, Equatable {
    public var zones: [ZoneDecision]
    public var partition: Partition?
    public var pool: PoolSnapshot?
    /// The partition's node count, or more while nodes are given back one by one behind a surge
    /// (`shrinkStep`).
    public var desiredNodes: Int?
    /// How the pool gives nodes back, when it takes a surge or a wait; or why it asks for more
    /// nodes than its zones need (cordoned ones).
    public var shrink: String?
    /// The pool is above the partition's node count: its next step waits on pods becoming Ready
    /// (a surge, or the replacements of a node's pods), so readiness changes should wake the plan.
    public var shrinking = false
}

/// Sizes and partitions a ZonePlan from a snapshot of the world. Pure: the same function serves
/// the controller and `foresight simulate`.
public struct ZonePlanPlanner: Sendable {
    public var zones: [ZonePlan.Zone]
    public var policy: OverflowPolicy
    public var scaleDown: ScaleDownPolicy
    public var generalPurpose: String?
    public var maximumMASE: Double

    public init(spec: ZonePlan.Spec) {
        zones = spec.zones ?? []
        policy = OverflowPolicy(rawValue: spec.overflow?.policy ?? "Strict") ?? .strict
        scaleDown = ScaleDownPolicy(window: spec.scaleDown?.stabilizationWindow.flatMap(DurationParser.seconds).map(Double.init) ?? 300,
                                    maxStepPercent: Double(spec.scaleDown?.maxStepPercent ?? 100))
        generalPurpose = spec.generalPurpose?.zone
        maximumMASE = spec.forecast?.minimumAccuracy ?? 1.0
    }

    static func buffer(_ b: IntOrString?) -> Buffer {
        switch b {
        case .int(let n)?: return .replicas(n)
        case .string(let s)? where s.hasSuffix("%"): return .percent(Double(s.dropLast()) ?? 20)
        case .string(let s)?: return Int(s).map { .replicas($0) } ?? .percent(20)
        case nil: return .percent(20)
        }
    }

    public func plan(snapshots: [ZoneSnapshot], pool: PoolSnapshot?, memory: [String: ZoneMemory], now: Date, seed: UInt64) -> ZonePlanDecision {
        let t = now.timeIntervalSince1970
        var decisions: [ZoneDecision] = []
        var demands: [ZoneDemand] = []
        var surges: [String: Int] = [:], surgesForCordonedNodes: [String: Int] = [:]
        for zone in zones {
            let name = zone.name ?? ""
            let snap = snapshots.first { $0.name == name } ?? ZoneSnapshot(name: name, outlook: nil, observedLoad: nil, forecastProblem: "no snapshot", workloads: [], blockers: [])
            let rule = ZoneSizingRule(perReplica: zone.load?.perReplica ?? 1, buffer: Self.buffer(zone.buffer),
                                      minReplicas: zone.minReplicas ?? 1, maxReplicas: zone.maxReplicas ?? Int.max)
            var degraded = snap.forecastProblem
            var peak = snap.outlook?.peakQuantile
            if let o = snap.outlook, o.accuracy.mase.isFinite, o.accuracy.mase > maximumMASE {
                degraded = String(format: "forecast MASE %.2f is above the plan's minimumAccuracy %.2f", o.accuracy.mase, maximumMASE)
            }
            if degraded != nil { peak = nil }  // reactive: the observed load alone
            var requirement = rule.requirement(predictedPeak: peak, observedLoad: snap.observedLoad)
            // Without memory (a new plan), what runs now is taken as the last requirement, so a
            // restarted plan never sheds capacity before a full stabilisation window has passed.
            let running = snap.workloads.reduce(0) { $0 + $1.replicas }
            let previous = memory[name] ?? ZoneMemory(recommendations: [ScaleDownPolicy.Recommendation(time: t, replicas: running)], lastRequired: running)
            // No forecast and no observation: nothing says the load fell, so the zone keeps its
            // last requirement (an outage of the load's source must not step it down to its minimum).
            if requirement.predictedReplicas == nil && requirement.observedReplicas == nil {
                let held = min(max(previous.lastRequired ?? running, rule.minReplicas), rule.maxReplicas)
                requirement = ZoneRequirement(replicas: held, basis: .held, predictedReplicas: nil, observedReplicas: nil)
                degraded = (degraded ?? "no forecast") + "; no observation either: keeping \(held) replicas until one returns"
            }
            let stabilised = scaleDown.decide(required: requirement.replicas, current: previous.lastRequired ?? running, now: t,
                                              history: previous.recommendations, lastScaleDown: previous.lastScaleDown)
            let mem = ZoneMemory(recommendations: stabilised.history, lastScaleDown: stabilised.scaledDown ? t : previous.lastScaleDown,
                                 lastRequired: stabilised.replicas)
            let blocked = snap.blockers.isEmpty ? (snap.workloads.isEmpty ? "selects no Deployment" : nil) : snap.blockers.joined(separator: "; ")
            decisions.append(ZoneDecision(name: name, requirement: requirement, required: stabilised.replicas, allocated: stabilised.replicas,
                                          grantRatio: 1, memory: mem, replicas: [:], degraded: degraded, blocked: blocked))
            // Pods of a zone are as large as its largest Deployment's (a safe bound for packing).
            let perReplica = snap.workloads.map(\.perPod).max { ($0.cpuMillis, $0.memoryBytes) < ($1.cpuMillis, $1.memoryBytes) } ?? .zero
            // An UpdateWindow's surge needs room too (its pods run on top of the plan's): the pool
            // is sized for it while it lasts, and the zone's own replicas are granted after it.
            let surge = snap.workloads.reduce(0) { $0 + max(0, $1.surge) }
            let maximum = zone.maxReplicas ?? Int.max
            // A zone's minimum is what serves its load now: when the pool is short, every zone
            // keeps that before any zone gets room for a predicted peak (priority decides the rest).
            let now = max(zone.minReplicas ?? 1, requirement.observedReplicas ?? 0)
            demands.append(ZoneDemand(name: name, priority: zone.priority ?? 0, required: stabilised.replicas + surge,
                                      minimum: min(now, stabilised.replicas) + surge,
                                      maximum: maximum == Int.max ? maximum : maximum + surge, perReplica: perReplica))
            surges[name] = surge
            surgesForCordonedNodes[name] = snap.workloads.reduce(0) { $0 + min(max(0, $1.surge), max(0, $1.surgeForCordonedNodes)) }
        }
        var result = ZonePlanDecision(zones: decisions, partition: nil, pool: pool, desiredNodes: nil)
        if let pool, let perNode = pool.perNode {
            var p = partition(zones: demands, pool: NodePoolCapacity(name: pool.name, perNode: perNode, minNodes: pool.minNodes, maxNodes: pool.maxNodes,
                                                                      currentNodes: pool.currentNodes),
                              policy: policy, generalPurpose: generalPurpose, seed: seed)
            // Cordoned nodes take no new pod. While an UpdateWindow's node is cordoned, its surge
            // must find room on the open nodes, where it stands in for that node's pods (their
            // replacements wait for it to come back): the open nodes must hold the zones' replicas,
            // and the surges still held for nodes already back.
            // The pool asks for what that needs, plus the cordoned nodes, as far as maxNodes
            // allows; the zones' grants are not cut for it (a surge that cannot be placed fails
            // its node, which is safe).
            let cordoned = min(max(0, pool.unschedulableNodes), pool.currentNodes)
            var toppedUp: Int?
            if cordoned > 0 {
                let placed = demands.map { d in
                    let surge = surgesForCordonedNodes[d.name] ?? 0
                    return ZoneDemand(name: d.name, priority: d.priority, required: d.required - surge, minimum: d.minimum - surge,
                                      maximum: d.maximum == Int.max ? d.maximum : d.maximum - surge, perReplica: d.perReplica)
                }
                let open = partition(zones: placed, pool: NodePoolCapacity(name: pool.name, perNode: perNode, minNodes: 0,
                                                                         maxNodes: max(0, pool.maxNodes - cordoned), currentNodes: pool.currentNodes - cordoned),
                                     policy: policy, seed: seed)
                let needed = min(pool.maxNodes, open.desiredNodes + cordoned)
                if needed > p.desiredNodes { toppedUp = p.desiredNodes }
                p.desiredNodes = max(p.desiredNodes, needed)
            }
            result.partition = p
            result.desiredNodes = p.desiredNodes
            for i in result.zones.indices {
                if let g = p.grant(result.zones[i].name) {
                    let surge = surges[result.zones[i].name] ?? 0
                    result.zones[i].allocated = max(0, g.allocated - surge)
                    result.zones[i].grantRatio = surge > 0 && g.required > 0 ? Double(result.zones[i].allocated) / Double(max(1, g.required - surge)) : g.grantRatio
                }
            }
            // Nodes are given back only as their pods can go (`shrinkStep`): a zone that could not
            // lose them is surged first, on the nodes there are, and the surge goes with the node.
            let exposures = result.zones.map { z in
                let workloads = snapshots.first { $0.name == z.name }?.workloads ?? []
                return ShrinkExposure(name: z.name, replicas: z.allocated, extra: surges[z.name] ?? 0, serving: z.requirement.observedReplicas ?? 0,
                                      ready: workloads.reduce(0) { $0 + ($1.readyReplicas ?? 0) },
                                      perReplica: demands.first { $0.name == z.name }?.perReplica ?? .zero,
                                      stalled: !workloads.isEmpty && workloads.allSatisfy(\.stalled))
            }
            // Nor while an UpdateWindow updates the pool's nodes: its surges need the room, and a
            // node given back between two of its nodes would be asked for again at the next.
            let holdForWindow = pool.nodesAwaitingUpdate > 0 && p.desiredNodes < pool.currentNodes && pool.currentNodes <= pool.maxNodes
            var step = shrinkStep(current: pool.currentNodes, target: holdForWindow ? pool.currentNodes : p.desiredNodes, maxNodes: pool.maxNodes,
                                  perNode: perNode, zones: exposures)
            // A surge the zone's HPAs cannot take (their maxReplicas) would never be Ready: the
            // pool keeps its nodes, and says why, instead of waiting for it.
            let beyondMaximum = step.surge.keys.sorted().filter { name in
                guard let zone = result.zones.first(where: { $0.name == name }), let extra = step.surge[name] else { return false }
                let workloads = snapshots.first { $0.name == name }?.workloads ?? []
                func placed(_ n: Int) -> Int { split(n, over: workloads).values.reduce(0, +) }
                return placed(zone.allocated + extra) - placed(zone.allocated) < extra
            }
            if !beyondMaximum.isEmpty { step = ShrinkStep(nodes: pool.currentNodes, surge: [:], waitingFor: [], surgeDoesNotFit: false) }
            result.desiredNodes = step.nodes
            result.shrinking = p.desiredNodes < pool.currentNodes && !holdForWindow
            for i in result.zones.indices {
                result.zones[i].shrinkSurge = step.surge[result.zones[i].name] ?? 0
                result.zones[i].allocated += result.zones[i].shrinkSurge
            }
            let surged = step.surge.sorted { $0.key < $1.key }.map { "\($0.key) +\($0.value)" }.joined(separator: ", ")
            if holdForWindow {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes), while an UpdateWindow updates the pool's nodes "
                    + "(\(pool.nodesAwaitingUpdate) still to go)"
            } else if !beyondMaximum.isEmpty {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes): a node given back would take replicas the load needs now, "
                    + "and the surge that would cover them is beyond the maxReplicas of the HPAs of \(beyondMaximum.joined(separator: ", "))"
            } else if step.surgeDoesNotFit {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes): a node given back would take replicas the load needs now, "
                    + "and the surge that would cover them does not fit on the nodes there are"
            } else if step.waitingFor.contains(where: { (surges[$0] ?? 0) > 0 }) {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes), while an UpdateWindow's surge is in flight (\(step.waitingFor.joined(separator: ", ")))"
            } else if !step.waitingFor.isEmpty && step.surge.isEmpty {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes), until the replicas of \(step.waitingFor.joined(separator: ", ")) are Ready again "
                    + "(a node given back would take replicas the load needs now)"
            } else if !step.waitingFor.isEmpty {
                result.shrink = "kept at \(step.nodes) nodes, not \(p.desiredNodes), until the surge that covers a node's pods is Ready (\(surged))"
            } else if !step.surge.isEmpty {
                result.shrink = "giving back a node, its pods covered by a surge (\(surged)) given back with it"
            } else if let packed = toppedUp {
                result.shrink = "\(p.desiredNodes) nodes, not \(packed): cordoned nodes (\(cordoned)) take no new pod, and the others must hold the zones "
                    + "(an UpdateWindow's surge among them)"
            }
            let notWaitedFor = exposures.filter { $0.servesNothing && $0.serving > 0 }.map(\.name)
            if result.shrinking && !notWaitedFor.isEmpty {
                result.shrink = (result.shrink.map { $0 + "; " } ?? "giving back nodes; ")
                    + "not waiting for the replicas of \(notWaitedFor.joined(separator: ", ")): none is Ready, and their Deployments are past their progress deadline"
            }
        }
        for i in result.zones.indices {
            let snap = snapshots.first { $0.name == result.zones[i].name }
            result.zones[i].replicas = split(result.zones[i].allocated, over: snap?.workloads ?? [])
        }
        return result
    }

    /// Splits a zone's replicas over its Deployments by their share of it now (their current
    /// replicas; equal shares when all are at zero), largest remainder first, each within its
    /// HPA's maxReplicas when it has one.
    public func split(_ total: Int, over workloads: [ZoneWorkload]) -> [String: Int] {
        guard !workloads.isEmpty else { return [:] }
        let sorted = workloads.sorted { $0.key < $1.key }
        let weights = sorted.map { Double(max(0, $0.replicas)) }
        let sum = weights.reduce(0, +)
        let shares = sum > 0 ? weights.map { $0 / sum } : weights.map { _ in 1 / Double(sorted.count) }
        var out = [String: Int]()
        var assigned = 0
        var remainders: [(String, Double)] = []
        for (w, share) in zip(sorted, shares) {
            let exact = Double(total) * share
            let whole = Int(exact.rounded(.down))
            out[w.key] = whole
            assigned += whole
            remainders.append((w.key, exact - Double(whole)))
        }
        for (key, _) in remainders.sorted(by: { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }).prefix(max(0, total - assigned)) { out[key]! += 1 }
        for w in sorted { if let cap = w.hpa?.maxReplicas { out[w.key] = min(out[w.key]!, cap) } }
        return out
    }
}

extension ZonePlanPlanner {
    /// The outlook of a forecast for a lead window: the peak of the chosen quantile between `now`
    /// and `now + window` seconds (the forecast's own times; the first step at or after `now`).
    public static func outlook(of forecast: Forecast, quantile: Double, now: Date, window: Double, fittedAt: Date) -> ZoneOutlook? {
        let path = forecast.quantile(quantile) ?? forecast.mean
        let start = now.timeIntervalSince1970, end = start + window
        var best: Int?
        for (i, t) in forecast.times.enumerated() where Double(t) >= start - Double(forecast.step) && Double(t) <= end {
            if path[i].isFinite, best.map({ path[i] > path[$0] }) ?? true { best = i }
        }
        guard let i = best else { return nil }
        var outlook = ZoneOutlook(peakQuantile: path[i], peakMean: forecast.mean[i], peakAt: Date(timeIntervalSince1970: Double(forecast.times[i])),
                                  model: forecast.model, accuracy: forecast.accuracy, fittedAt: fittedAt)
        outlook.updatedThrough = forecast.updater.map { Date(timeIntervalSince1970: Double($0.observedThrough)) }
        return outlook
    }
}

extension ZonePlanPlanner {
    /// How a follower's load relates to its leader's: the median of follower ÷ leader over the
    /// timestamps both histories have (leader above zero), or nil with fewer than `minimumPairs`.
    /// The median, so a spike of either does not move it.
    public static func learnedRatio(follower: TimeSeries, leader: TimeSeries, minimumPairs: Int = 12) -> Double? {
        var byTime: [Int64: Double] = [:]
        for (t, v) in zip(leader.times, leader.values) where v.isFinite && v > 0 { byTime[t] = v }
        var ratios: [Double] = []
        for (t, v) in zip(follower.times, follower.values) where v.isFinite && v >= 0 {
            if let l = byTime[t] { ratios.append(v / l) }
        }
        guard ratios.count >= minimumPairs else { return nil }
        ratios.sort()
        let n = ratios.count
        return n % 2 == 1 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2
    }

    /// A follower's outlook: the leader's, scaled by the ratio.
    public static func following(_ leader: ZoneOutlook, ratio: Double, leaderName: String) -> ZoneOutlook {
        var o = leader
        o.peakQuantile *= ratio
        o.peakMean *= ratio
        o.model = String(format: "follows %@ × %.3f", leaderName, ratio)
        return o
    }
}
