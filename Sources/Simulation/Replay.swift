import CapacityPlanning
import Forecasting
import ForesightAPI
import Foundation
import Reconcilers
import UpdatePlanning

/// The policies a scenario is replayed under, side by side.
public enum Policy: String, Sendable, CaseIterable, Codable {
    /// Forecast-sized zones (the ZonePlan planner), node pool sized to their partition,
    /// updates in predicted-load order and timing (the UpdateWindow planner), make-before-break.
    case foresight
    /// The Kubernetes HPA's algorithm plus a cluster autoscaler that adds nodes for pending pods.
    case reactive
    /// AWS EC2 predictive scaling as documented: hourly forecast from the last 14 days, scale-out
    /// only, launched ahead by the lead time; reactive for scale-in.
    case predictiveAWS = "predictive-aws"
    /// `reactive`, with updates one node at a time in arbitrary order and no surge.
    case kured
    /// Fixed replicas sized to the previous week's peak.
    case `static`

    var updatesNodes: Bool { self == .foresight || self == .kured }
}

/// What one policy did over the replay.
public struct PolicyFigures: Sendable, Codable, Equatable {
    public var name: String
    /// Load above ready capacity, as a share of all load.
    public var unservedShare: Double
    /// Minutes with any unserved load.
    public var unservedMinutes: Double
    /// The same share, counted only while an update window is open (nil without windows).
    public var windowUnservedShare: Double?
    public var nodeHours: Double
    public var replicaHours: Double
    /// The largest share, while a window is open, of the Ready replicas the policy wants that
    /// evictions and removed nodes have taken and that are not replaced by Ready pods yet (0:
    /// capacity never dipped). Replicas still starting for a scale-up do not count: that lag is
    /// the policy's sizing, measured by the unserved load, not a dip.
    public var maxWindowCapacityDip: Double?
    /// The part of that dip the update's evictions took (removed nodes' pods taken as still there):
    /// what draining nodes cost, apart from the pool's own scale-down (nil without windows).
    public var maxUpdateCapacityDip: Double?
    /// From the first node's update start to the last node's finish, in hours (nil: none updated).
    public var updateMakespanHours: Double?
    /// Nodes present at the end that do not carry the update (nil for policies that do not update).
    public var nodesNotUpdated: Int?
    /// Evictions over distinct pods evicted (1: no pod moved twice; nil without evictions).
    public var evictionsPerPod: Double?
    /// The unserved figures of each zone.
    public var zones: [ZoneFigures]
}

public struct ZoneFigures: Sendable, Codable, Equatable {
    public var name: String
    public var unservedShare: Double
    public var unservedMinutes: Double
}

/// One moment of a replay: the load and ready capacity of all zones (in load units), the nodes,
/// and each zone's load, Ready replicas and the replicas the policy wanted (in scenario order).
public struct TimelineSample: Sendable {
    public var time: Int64
    public var load: Double
    public var capacity: Double
    public var nodes: Int
    public var nodesOut: Int
    public var zoneLoad: [Double]
    public var zoneReady: [Int]
    public var zoneDesired: [Int]
}

public struct PolicyRun: Sendable {
    public var figures: PolicyFigures
    public var timeline: [TimelineSample]
    /// (start, end) of every node update, seconds.
    public var updates: [(node: Int, start: Double, end: Double)]
    /// Foresight's forecast of the whole load (all zones) as it was made during the replay.
    public var band: ForecastBand?
}

/// Foresight's forecast of each zone during a replay, for the picture: time → (mean, quantile).
public struct ForecastBand: Sendable {
    public var times: [Int64] = []
    public var mean: [Double] = []
    public var upper: [Double] = []
}

/// Replays a scenario under each policy, in virtual time; the same scenario gives the same figures.
public struct Replay: Sendable {
    public var scenario: Scenario
    /// Seconds between the timeline's samples; nil: about 2,000 over the replay (a picture's worth).
    public var timelineEvery: Int64?
    public init(scenario: Scenario, timelineEvery: Int64? = nil) {
        self.scenario = scenario
        self.timelineEvery = timelineEvery
    }

    public func run(_ policy: Policy) -> PolicyRun {
        let s = scenario
        let zoneCount = s.zones.count
        var cursors = s.zones.map { LoadCursor(series: $0.load, step: Scenario.typicalStep($0.load), calendar: $0.calendar) }
        let start = Double(s.start)
        let tick = Double(s.tick)

        // A warm start: every policy begins with what serves the load at the start at the
        // reactive target, on enough nodes (static: its own week-peak sizing).
        var initial = (0..<zoneCount).map { z -> Int in
            let z0 = s.zones[z]
            return clamp(Int((cursors[z].value(at: s.start) / (z0.perReplica * z0.targetUtilization)).rounded(.up)), z0)
        }
        if policy == .static { initial = staticReplicas() }
        let cpuNeeded = zip(initial, s.zones).reduce(Int64(0)) { $0 + Int64($1.0) * $1.1.cpuMillisPerReplica }
        let initialNodes = min(s.pool.maxNodes, max(s.pool.initialNodes, Int((Double(cpuNeeded) / Double(s.pool.cpuMillisPerNode) * 1.25).rounded(.up))))
        var cluster = VirtualCluster(cpuPerReplica: s.zones.map(\.cpuMillisPerReplica), podStartDelay: s.zones.map(\.podStartDelay),
                                     nodes: initialNodes, cpuPerNode: s.pool.cpuMillisPerNode)
        cluster.reconcile(desired: initial, now: start - 3600)
        cluster.schedule(now: start - 3600)

        var hpa = (0..<zoneCount).map { _ in HPAState() }
        var foresightState = ForesightState()
        var aws = PredictiveAWSState()
        var updater = UpdaterState(seed: s.seed)
        var rng = SeededGenerator(seed: s.seed &+ 7)

        var totalLoad = 0.0, unserved = 0.0, unservedMinutes = 0.0, windowLoad = 0.0, windowUnserved = 0.0, maxDip = 0.0, maxUpdateDip = 0.0
        var zoneLoad = [Double](repeating: 0, count: zoneCount), zoneUnserved = zoneLoad, zoneUnservedMinutes = zoneLoad
        var sawWindow = false
        var timeline: [TimelineSample] = []
        let sampleEvery = timelineEvery.map { max(1, Int((Double($0) / tick).rounded())) } ?? max(1, Int((Double(s.end - s.start) / tick / 2000).rounded(.up)))
        var tickIndex = 0
        // The window occurrences of the replay, once (cron evaluated per occurrence, not per step).
        let windows = s.update?.schedule.occurrences(from: Date(timeIntervalSince1970: start), to: Date(timeIntervalSince1970: Double(s.end))) ?? []
        var nextWindow = 0
        // The update is released when its first window opens: nodes the pool adds from then on come
        // with it (their image has it); nodes added before come without it, like those at the start.
        let released = windows.first.map { $0.start.timeIntervalSince1970 } ?? .infinity

        var t = s.start
        while t < s.end {
            let now = Double(t)
            let loads = (0..<zoneCount).map { cursors[$0].value(at: t) }
            while nextWindow < windows.count && windows[nextWindow].end.timeIntervalSince1970 <= now { nextWindow += 1 }
            let window = nextWindow < windows.count && windows[nextWindow].start.timeIntervalSince1970 <= now ? windows[nextWindow] : nil
            let before = cluster.census(at: now)
            if window != nil { sawWindow = true }

            // What each zone should run now, and what the node pool should have.
            var desired: [Int]
            var shrinkSurge = [Int](repeating: 0, count: zoneCount)
            var desiredNodes: Int?
            switch policy {
            case .static:
                desired = staticReplicas()
                desiredNodes = nil
            case .reactive, .kured:
                desired = (0..<zoneCount).map { hpa[$0].decide(zone: s.zones[$0], load: loads[$0], ready: before.ready[$0], current: before.regular[$0], now: now) }
            case .predictiveAWS:
                let reactive = (0..<zoneCount).map { hpa[$0].decide(zone: s.zones[$0], load: loads[$0], ready: before.ready[$0], current: before.regular[$0], now: now) }
                desired = (0..<zoneCount).map { z in max(reactive[z], aws.scheduled(zone: z, scenario: s, at: t)) }
            case .foresight:
                let decision = foresightState.decide(scenario: s, cluster: cluster, regular: before.regular, surge: before.surge,
                                                     surgeForCordonedNodes: updater.surgeForCordonedNodes(cluster, zones: zoneCount),
                                                     ready: before.ready, loads: loads, inWindow: window != nil, now: t)
                desired = decision.replicas
                desiredNodes = decision.nodes
                shrinkSurge = decision.shrinkSurge
            }
            cluster.reconcile(desired: desired, now: now)

            // Node updates (inside windows only for starts; nodes in flight finish).
            if policy.updatesNodes, let update = s.update {
                // Foresight plans each occurrence when it opens, from the cluster and forecasts then.
                let plan = policy == .foresight && window != nil && updater.planFor != window!.start
                    ? foresightState.updatePlan(scenario: s, cluster: cluster, window: window!, now: now) : nil
                updater.step(policy: policy, update: update, window: window, cluster: &cluster, now: now, rng: &rng, plan: plan)
            }

            // Scheduling, then the node pool.
            let avoid: Set<Int> = (policy == .foresight && window != nil) ? Set(cluster.nodes.values.filter { !$0.updated }.map(\.id)) : []
            let pending = cluster.schedule(now: now, avoid: avoid)
            switch policy {
            case .static:
                break
            case .foresight:
                scalePool(to: desiredNodes, cluster: &cluster, now: now, pendingLeft: pending, newNodesUpdated: now >= released)
            case .reactive, .kured, .predictiveAWS:
                clusterAutoscaler(cluster: &cluster, now: now, pendingLeft: pending, newNodesUpdated: now >= released)
            }

            // The figures.
            var served = 0.0, short = 0.0, capacity = 0.0
            let after = cluster.census(at: now)
            for z in 0..<zoneCount {
                let cap = Double(after.ready[z]) * s.zones[z].perReplica
                capacity += cap
                served += loads[z]
                short += max(0, loads[z] - cap)
                zoneLoad[z] += loads[z] * tick
                zoneUnserved[z] += max(0, loads[z] - cap) * tick
                if loads[z] - cap > 1e-9 { zoneUnservedMinutes[z] += tick / 60 }
            }
            totalLoad += served * tick
            unserved += short * tick
            if short > 1e-9 { unservedMinutes += tick / 60 }
            if window != nil {
                windowLoad += served * tick
                windowUnserved += short * tick
                // Ready replicas the policy wants, against what they would be had no eviction or
                // removed node taken any: a replica still starting for a scale-up is no dip, nor is
                // the surge that covers a node given back (it goes with the node's pods).
                let wanted = (0..<zoneCount).map { desired[$0] - shrinkSurge[$0] }
                let have = (0..<zoneCount).reduce(0) { $0 + min(wanted[$1], after.ready[$1]) }
                let undisturbed = (0..<zoneCount).reduce(0) { $0 + min(wanted[$1], after.ready[$1] + after.displaced[$1]) }
                if undisturbed > 0 { maxDip = max(maxDip, 1 - Double(have) / Double(undisturbed)) }
                let haveButEvicted = (0..<zoneCount).reduce(0) { $0 + min(wanted[$1], after.ready[$1] + after.displaced[$1] - after.evicted[$1]) }
                if undisturbed > 0 { maxUpdateDip = max(maxUpdateDip, 1 - Double(haveButEvicted) / Double(undisturbed)) }
            }
            cluster.account(dt: tick, now: now)
            if tickIndex % sampleEvery == 0 {
                timeline.append(TimelineSample(time: t, load: served, capacity: capacity, nodes: cluster.nodeCount,
                                               nodesOut: cluster.nodes.values.filter { $0.outUntil != nil }.count,
                                               zoneLoad: loads, zoneReady: after.ready, zoneDesired: desired))
            }
            tickIndex += 1
            t += s.tick
        }

        let evicted = cluster.evictions
        let figures = PolicyFigures(
            name: policy.rawValue,
            unservedShare: totalLoad > 0 ? unserved / totalLoad : 0,
            unservedMinutes: unservedMinutes,
            windowUnservedShare: sawWindow ? (windowLoad > 0 ? windowUnserved / windowLoad : 0) : nil,
            nodeHours: cluster.nodeSeconds / 3600,
            replicaHours: cluster.replicaSeconds / 3600,
            maxWindowCapacityDip: sawWindow ? maxDip : nil,
            maxUpdateCapacityDip: sawWindow ? maxUpdateDip : nil,
            updateMakespanHours: updater.firstStart.flatMap { f in updater.lastEnd.map { ($0 - f) / 3600 } },
            nodesNotUpdated: policy.updatesNodes && s.update != nil ? cluster.nodes.values.filter { !$0.updated }.count : nil,
            evictionsPerPod: evicted.isEmpty ? nil : Double(evicted.values.reduce(0, +)) / Double(evicted.count),
            zones: s.zones.indices.map { ZoneFigures(name: s.zones[$0].name, unservedShare: zoneLoad[$0] > 0 ? zoneUnserved[$0] / zoneLoad[$0] : 0,
                                                     unservedMinutes: zoneUnservedMinutes[$0]) })
        return PolicyRun(figures: figures, timeline: timeline, updates: updater.history, band: policy == .foresight ? foresightState.band : nil)
    }

    func clamp(_ n: Int, _ z: Scenario.Zone) -> Int { min(z.maxReplicas, max(z.minReplicas, n)) }

    /// Static sizing: the peak of the week before the replay, at full use of each replica.
    func staticReplicas() -> [Int] {
        scenario.zones.map { z in
            var peak = 0.0
            for (t, v) in zip(z.load.times, z.load.values) where t >= scenario.start - 7 * 86400 && t < scenario.start { peak = max(peak, v) }
            return clamp(Int((peak / z.perReplica).rounded(.up)), z)
        }
    }

    /// A cluster autoscaler: nodes for pods that cannot be placed (Ready after the provisioning
    /// delay); a node whose pods request under half of it for 10 minutes, and fit elsewhere, is
    /// removed (one per step; its pods are rescheduled).
    func clusterAutoscaler(cluster: inout VirtualCluster, now: Double, pendingLeft: Int, newNodesUpdated: Bool) {
        let s = scenario
        if pendingLeft > 0 {
            let coming = cluster.nodes.values.filter { $0.readyAt > now }.reduce(Int64(0)) { $0 + $1.cpuMillis }
            let short = cluster.pendingMillis - coming
            if short > 0 {
                let add = min(s.pool.maxNodes - cluster.nodeCount, Int((Double(short) / Double(s.pool.cpuMillisPerNode)).rounded(.up)))
                for _ in 0..<max(0, add) { cluster.addNode(cpuMillis: s.pool.cpuMillisPerNode, now: now, delay: s.pool.provisioningDelay, updated: newNodesUpdated) }
            }
            return
        }
        var removed = false
        for n in cluster.nodes.values.sorted(by: { $0.id < $1.id }) where cluster.isSchedulable(n, at: now) {
            let underused = Double(n.usedMillis) < 0.5 * Double(n.cpuMillis)
            if !underused { cluster.setUnderused(n.id, since: nil); continue }
            guard let since = n.underusedSince else { cluster.setUnderused(n.id, since: now); continue }
            if !removed, now - since >= 600, cluster.nodeCount > s.pool.minNodes, cluster.podsFitElsewhere(n.id, now: now) {
                cluster.removeNode(n.id, now: now)
                removed = true
            }
        }
        if removed { cluster.schedule(now: now) }
    }

    /// Foresight's pool: the partition's desired nodes (Ready after the provisioning delay, asked for
    /// the lead time ahead by the forecast), emptiest surplus node removed when its pods fit
    /// elsewhere (the plan holds the pool while a window has nodes still to update).
    func scalePool(to desired: Int?, cluster: inout VirtualCluster, now: Double, pendingLeft: Int, newNodesUpdated: Bool) {
        let s = scenario
        guard let desired else { return }
        let target = min(s.pool.maxNodes, max(s.pool.minNodes, desired))
        if target > cluster.nodeCount {
            for _ in cluster.nodeCount..<target { cluster.addNode(cpuMillis: s.pool.cpuMillisPerNode, now: now, delay: s.pool.provisioningDelay, updated: newNodesUpdated) }
        } else if target < cluster.nodeCount, pendingLeft == 0 {
            let candidates = cluster.nodes.values.filter { cluster.isSchedulable($0, at: now) }.sorted { ($0.usedMillis, $0.id) < ($1.usedMillis, $1.id) }
            if let n = candidates.first, cluster.podsFitElsewhere(n.id, now: now) {
                cluster.removeNode(n.id, now: now)
                cluster.schedule(now: now)
            }
        }
    }
}

/// The HPA's algorithm for one zone: desired = ceil(ready × utilisation ÷ target) outside a 10 %
/// tolerance; scale-up at most ×2 or +4 pods per 15 s period; scale-down to the highest
/// recommendation of the last 5 minutes.
struct HPAState {
    var recommendations: [(time: Double, replicas: Int)] = []

    mutating func decide(zone: Scenario.Zone, load: Double, ready: Int, current: Int, now: Double) -> Int {
        var desired = current
        if ready > 0 {
            let ratio = load / (Double(ready) * zone.perReplica) / zone.targetUtilization
            if abs(ratio - 1) > 0.1 { desired = Int((Double(ready) * ratio).rounded(.up)) }
        } else if current == 0 && load > 0 {
            desired = 1
        }
        // Scale-up limit over the 60 s step: four 15 s periods of max(×2, +4).
        var limit = max(current, 1)
        for _ in 0..<4 { limit = max(limit * 2, limit + 4) }
        desired = min(desired, limit)
        desired = min(zone.maxReplicas, max(zone.minReplicas, desired))
        recommendations.append((now, desired))
        recommendations.removeAll { now - $0.time > 300 }
        if desired < current { desired = min(current, recommendations.map(\.replicas).max() ?? desired) }
        return desired
    }
}

/// AWS EC2 predictive scaling, as its documentation describes it: every 6 hours a forecast of the
/// next 48 hours, hourly, from up to 14 days of the load metric; capacity for each hour set at
/// least to what the hour's forecast needs at the target utilisation, launched ahead by the
/// scheduling buffer (here: the pod start delay plus the provisioning delay); never used to scale
/// in. The forecast model itself is not published: here, each hour is the mean of the same hour of
/// the week over the last two weeks (the same hour of the day over 14 days when a weekly season is
/// not among the scenario's).
struct PredictiveAWSState {
    var madeAt: Int64?
    var hourly: [[Int64: Double]] = []

    mutating func scheduled(zone z: Int, scenario s: Scenario, at t: Int64) -> Int {
        if madeAt.map({ t - $0 >= 6 * 3600 }) ?? true { refresh(s, at: t) }
        let zone = s.zones[z]
        let lead = Int64(zone.podStartDelay + s.pool.provisioningDelay)
        let hour = (t + lead) / 3600 * 3600
        guard let forecast = hourly[z][hour] else { return 0 }
        return min(zone.maxReplicas, Int((forecast / (zone.perReplica * zone.targetUtilization)).rounded(.up)))
    }

    mutating func refresh(_ s: Scenario, at t: Int64) {
        madeAt = t
        let weekly = s.seasons.contains(604800)
        hourly = s.zones.map { zone in
            // Hourly means of the last 14 days.
            var sums: [Int64: (Double, Int)] = [:]
            for (time, v) in zip(zone.load.times, zone.load.values) where time >= t - 14 * 86400 && time < t {
                let h = time / 3600 * 3600
                sums[h, default: (0, 0)].0 += v
                sums[h, default: (0, 0)].1 += 1
            }
            let means = sums.mapValues { $0.0 / Double($0.1) }
            var out: [Int64: Double] = [:]
            let first = t / 3600 * 3600
            for k in 0..<48 {
                let h = first + Int64(k) * 3600
                let past: [Double] = weekly ? [1, 2].compactMap { means[h - Int64($0) * 604800] }
                                            : (1...14).compactMap { means[h - Int64($0) * 86400] }
                if !past.isEmpty { out[h] = past.reduce(0, +) / Double(past.count) }
            }
            return out
        }
    }
}

/// Foresight's side of a replay: the ZonePlan planner on each zone's forecast (fitted every
/// `refitEvery` and updated by each new observation in between, by `ForecastCadence` as the
/// controller does), and the UpdateWindow planner's order and times.
struct ForesightState {
    var forecasts: [Forecast?] = []
    var fittedAt: [Int64?] = []
    var cadences: [ForecastCadence] = []
    var memory: [String: ZoneMemory] = [:]
    var band = ForecastBand()
    var planner: ZonePlanPlanner?

    struct Decision {
        var replicas: [Int]
        var nodes: Int?
        /// Of `replicas`, those covering the pods of a node the pool is giving back.
        var shrinkSurge: [Int]
    }

    func spec(_ s: Scenario) -> ZonePlan.Spec {
        let zones: [[String: Any]] = s.zones.map { z in
            ["name": z.name, "priority": z.priority, "load": ["perReplica": z.perReplica], "buffer": z.buffer,
             "minReplicas": z.minReplicas, "maxReplicas": z.maxReplicas]
        }
        let json: [String: Any] = ["zones": zones, "overflow": ["policy": "Strict"],
                                   "scaleDown": ["stabilizationWindow": "10m", "maxStepPercent": 100]]
        // Built from plain values: it cannot fail to decode.
        let data = try! JSONSerialization.data(withJSONObject: json)
        return try! JSONDecoder().decode(ZonePlan.Spec.self, from: data)
    }

    /// The cadence of zone `z`'s forecast: the scenario's settings as a ZonePlan's.
    static func cadence(_ s: Scenario, zone z: Int) -> ForecastCadence {
        let lead = Int64(s.pool.provisioningDelay + (s.zones.map(\.podStartDelay).max() ?? 0))
        return ForecastCadence(step: Scenario.typicalStep(s.zones[z].load), refitEvery: s.refitEvery, reach: s.horizon + lead,
                               seasons: s.seasons, quantiles: [s.zones[z].quantile])
    }

    /// Each zone's forecast at `t` from the observations before it: moved along by the new ones,
    /// or fitted again on the last `history` when the cadence says so.
    mutating func advance(_ s: Scenario, at t: Int64) {
        if forecasts.isEmpty {
            forecasts = s.zones.map { _ in nil }
            fittedAt = s.zones.map { _ in nil }
            cadences = s.zones.indices.map { Self.cadence(s, zone: $0) }
        }
        var changed = false
        for (i, z) in s.zones.enumerated() {
            let cadence = cadences[i]
            let to = z.load.index(atOrAfter: t)
            if let f = forecasts[i], let at = fittedAt[i] {
                let through = f.updater?.observedThrough ?? t
                let recent = z.load.slice(min(z.load.index(atOrAfter: through + 1), to)..<to)
                if let moved = cadence.advance(f, fittedAt: at, now: t, recent: recent) {
                    if moved.times.first != f.times.first { forecasts[i] = moved; changed = true }
                    continue
                }
            }
            let from = z.load.index(atOrAfter: t - s.history)
            fittedAt[i] = t
            changed = true
            guard to - from >= 2 else { forecasts[i] = nil; continue }
            // A history the engine cannot fit leaves the zone without a forecast: the planner
            // then sizes it to the observed load (Degraded), as the controller does.
            let history = z.load.slice(from..<to)
            forecasts[i] = try? Forecaster(concurrent: false).forecast(history, request: cadence.request(historyEnd: history.times.last ?? t, now: t))
        }
        if changed { extendBand(s) }
    }

    /// The band of the whole load: every zone's forecast summed at the times all of them give.
    /// Each new forecast replaces what the band held from its first time on, so past times keep
    /// the newest forecast made before them.
    mutating func extendBand(_ s: Scenario) {
        var sums: [Int64: (mean: Double, upper: Double, zones: Int)] = [:]
        for (z, forecast) in forecasts.enumerated() {
            guard let f = forecast else { continue }
            let q = f.quantile(s.zones[z].quantile) ?? f.mean
            for (i, time) in f.times.enumerated() {
                sums[time, default: (0, 0, 0)].mean += f.mean[i]
                sums[time, default: (0, 0, 0)].upper += q[i]
                sums[time, default: (0, 0, 0)].zones += 1
            }
        }
        let times = sums.keys.filter { sums[$0]!.zones == s.zones.count }.sorted()
        guard let first = times.first else { return }
        let keep = band.times.firstIndex { $0 >= first } ?? band.times.count
        band.times.removeSubrange(keep...)
        band.mean.removeSubrange(keep...)
        band.upper.removeSubrange(keep...)
        for time in times {
            band.times.append(time)
            band.mean.append(sums[time]!.mean)
            band.upper.append(sums[time]!.upper)
        }
    }

    mutating func decide(scenario s: Scenario, cluster: VirtualCluster, regular: [Int], surge: [Int], surgeForCordonedNodes: [Int], ready: [Int],
                         loads: [Double], inWindow: Bool, now t: Int64) -> Decision {
        advance(s, at: t)
        let lead = s.pool.provisioningDelay + (s.zones.map(\.podStartDelay).max() ?? 0)
        let now = Date(timeIntervalSince1970: Double(t))
        let snapshots = s.zones.enumerated().map { i, z -> ZoneSnapshot in
            let outlook = forecasts[i].flatMap {
                ZonePlanPlanner.outlook(of: $0, quantile: z.quantile, now: now, window: Double(s.horizon) + lead,
                                        fittedAt: Date(timeIntervalSince1970: Double(fittedAt[i] ?? t)))
            }
            let workload = ZoneWorkload(namespace: "sim", name: z.name, replicas: regular[i], surge: surge[i], surgeForCordonedNodes: surgeForCordonedNodes[i],
                                        perPod: Resources(cpuMillis: z.cpuMillisPerReplica, memoryBytes: 0), readyReplicas: ready[i])
            return ZoneSnapshot(name: z.name, outlook: outlook, observedLoad: loads[i],
                                forecastProblem: forecasts[i] == nil ? "no forecast" : (outlook == nil ? "the forecast does not cover the lead window" : nil),
                                workloads: [workload])
        }
        // As the controller's: cordoned nodes take no new pod, and while a window has nodes still to
        // update (those its `update-pending` taint marks there) the plan gives no node back.
        let pool = PoolSnapshot(name: "pool", currentNodes: cluster.nodeCount, perNode: Resources(cpuMillis: s.pool.cpuMillisPerNode, memoryBytes: 0),
                                minNodes: s.pool.minNodes, maxNodes: s.pool.maxNodes,
                                unschedulableNodes: cluster.nodes.values.filter(\.cordoned).count,
                                nodesAwaitingUpdate: inWindow ? cluster.nodes.values.filter(\.awaitsUpdate).count : 0)
        if planner == nil { planner = ZonePlanPlanner(spec: spec(s)) }
        let decision = planner!.plan(snapshots: snapshots, pool: pool, memory: memory, now: now, seed: s.seed)
        for z in decision.zones { memory[z.name] = z.memory }
        return Decision(replicas: decision.zones.map(\.allocated), nodes: decision.desiredNodes, shrinkSurge: decision.zones.map(\.shrinkSurge))
    }

    /// The UpdateWindow planner's plan for the nodes still to update: `planWindow`, the function the
    /// controller's `previewWindow` calls, over this cluster's nodes (their CPU, their pods'
    /// requests, their pods per zone) and each zone's forecast as the replicas its sized quantile needs.
    func updatePlan(scenario s: Scenario, cluster: VirtualCluster, window: WindowSchedule.Occurrence, now: Double) -> UpdatePlan {
        let zones = s.zones.enumerated().compactMap { i, z -> ZoneLoadOutlook? in
            guard let f = forecasts[i] else { return nil }
            return ZoneLoadOutlook(zone: z.name, times: f.times, replicasNeeded: (f.quantile(z.quantile) ?? f.mean).map { max(0, $0 / z.perReplica) },
                                   cpuMillisPerReplica: Double(z.cpuMillisPerReplica), deployments: [])
        }
        // Zones without a forecast count their pods' requests (as the controller's do).
        let zoneIndex = Dictionary(uniqueKeysWithValues: zones.enumerated().map { ($1.zone, $0) })
        let forecastIndex = s.zones.map { zoneIndex[$0.name] }
        let census = cluster.census(at: now)
        var zonePods: [String: Int] = [:]
        for (i, z) in s.zones.enumerated() where forecastIndex[i] != nil { zonePods[z.name] = census.regular[i] }
        let weighed = cluster.nodes.values.filter { $0.readyAt <= now }.sorted { $0.id < $1.id }.map { n -> WindowNode in
            var requests = 0.0, other = 0.0
            var counts = [Int32](repeating: 0, count: zones.count)
            for p in cluster.podIDs(on: n.id) {
                let pod = cluster.pods[p]!
                let cpu = Double(s.zones[pod.zone].cpuMillisPerReplica)
                requests += cpu
                if !pod.surge, let zi = forecastIndex[pod.zone] { counts[zi] += 1 } else { other += cpu }
            }
            return WindowNode(name: String(n.id), cpuMillis: Double(n.cpuMillis), requests: requests, otherRequests: other, zonePods: counts)
        }
        // Nodes already updated, or out, are not planned (as nodes already started are not).
        let done = Set(cluster.nodes.values.filter { $0.updated || $0.outUntil != nil }.map { String($0.id) })
        let from = Date(timeIntervalSince1970: max(now, window.start.timeIntervalSince1970))
        return planWindow(weighed, zones: zones, zonePods: zonePods, from: from, end: window.end, excluding: done, order: .predictedLoad,
                          perNode: s.update!.updateTime + 600, maxUnavailable: s.update!.maxUnavailable)
    }
}

/// Carries out node updates: one node at a time in a shuffled order for `kured`; for `foresight`,
/// the planner's order and times with make-before-break (cordon, surge each zone by its pods on
/// the node and wait for them to be Ready, then drain), its surge given back once the node is
/// back and the zones whole again. A failed update leaves the node cordoned; it is retried once.
struct UpdaterState {
    enum Phase { case surging(since: Double, surge: [Int]), out, settling(since: Double, surge: [Int]) }
    var inFlight: [Int: Phase] = [:]
    var order: [Int] = []
    var planFor: Date?
    var planned: [Int: Date] = [:]
    var firstStart: Double?
    var lastEnd: Double?
    var history: [(node: Int, start: Double, end: Double)] = []
    var startedAt: [Int: Double] = [:]
    var seed: UInt64

    init(seed: UInt64) { self.seed = seed }

    /// How long a node's surge may take to be Ready: the controller's default `drain.timeout`.
    static let surgeTimeout: Double = 600

    mutating func step(policy: Policy, update: Scenario.Update, window: WindowSchedule.Occurrence?, cluster: inout VirtualCluster,
                       now: Double, rng: inout SeededGenerator, plan: UpdatePlan?) {
        // Nodes in flight move on, open window or not.
        for (id, phase) in inFlight.sorted(by: { $0.key < $1.key }) {
            guard let node = cluster.nodes[id] else { inFlight[id] = nil; continue }
            switch phase {
            case .surging(let since, let surge):
                let ready = surge.allSatisfy { cluster.pods[$0].map { $0.readyAt <= now } ?? true }
                if ready {
                    drain(id, &cluster, now: now, update: update)
                    inFlight[id] = .out
                } else if now - since > Self.surgeTimeout {
                    // As the controller does: a surge not Ready within the drain timeout fails the
                    // node before any eviction. It stays cordoned, is retried once, and its surge goes.
                    cluster.markUpdated(id, false)
                    if cluster.nodes[id]!.awaitsUpdate { order.append(id) }
                    giveBack(surge, &cluster)
                    pendingSurge[id] = nil
                    inFlight[id] = nil
                }
            case .out:
                guard let until = node.outUntil, now >= until else { continue }
                cluster.setOut(id, until: nil)
                let ok = Double.random(in: 0..<1, using: &rng) >= update.failureShare
                cluster.markUpdated(id, ok)
                history.append((id, startedAt[id] ?? now, now))
                lastEnd = now
                if !ok {
                    // Left cordoned; retried once at the end of the order.
                    if cluster.nodes[id]!.awaitsUpdate { order.append(id) }
                    giveBack(pendingSurge[id] ?? [], &cluster)
                    pendingSurge[id] = nil
                    inFlight[id] = nil
                } else {
                    cluster.setCordoned(id, false)
                    inFlight[id] = policy == .foresight ? .settling(since: now, surge: pendingSurge[id] ?? []) : nil
                }
            case .settling(let since, let surge):
                // The zones are whole again (every regular pod Ready), or the node's timeout passed.
                let whole = cluster.pods.values.allSatisfy { $0.surge || $0.readyAt <= now }
                if whole || now - since > 1800 { giveBack(surge, &cluster); pendingSurge[id] = nil; inFlight[id] = nil }
            }
        }
        guard let window else { planFor = nil; return }
        // The order: once per window occurrence (and for nodes that appear).
        let candidates = cluster.nodes.values.filter { $0.awaitsUpdate && $0.readyAt <= now }.map(\.id)
        if planFor != window.start {
            planFor = window.start
            switch policy {
            case .foresight:
                let p = plan
                planned = Dictionary(p?.nodes.compactMap { n in Int(n.node).map { ($0, n.start) } } ?? [], uniquingKeysWith: { a, _ in a })
                order = (p?.nodes.compactMap { Int($0.node) } ?? []) + (p?.unplaced.compactMap { Int($0) } ?? [])
            default:
                var g = SeededGenerator(seed: seed &+ UInt64(window.start.timeIntervalSince1970))
                order = candidates.sorted().shuffled(using: &g)
            }
        }
        for id in candidates where !order.contains(id) && inFlight[id] == nil { order.append(id) }
        let capacity = policy == .kured ? 1 : update.maxUnavailable
        while inFlight.count < capacity, let next = order.first(where: { id in
            inFlight[id] == nil && cluster.nodes[id]?.awaitsUpdate == true
                && (planned[id].map { $0.timeIntervalSince1970 <= now } ?? true)
        }) {
            order.removeAll { $0 == next }
            begin(next, policy: policy, &cluster, now: now, update: update)
        }
        order.removeAll { id in cluster.nodes[id]?.awaitsUpdate != true }
    }

    var pendingSurge: [Int: [Int]] = [:]

    /// Per zone, the surge pods held for nodes cordoned now (what the controller reads from the
    /// Deployments' surge ledgers and the nodes' cordons).
    func surgeForCordonedNodes(_ cluster: VirtualCluster, zones: Int) -> [Int] {
        var out = [Int](repeating: 0, count: zones)
        for (id, pods) in pendingSurge where cluster.nodes[id]?.cordoned == true {
            for p in pods { if let pod = cluster.pods[p] { out[pod.zone] += 1 } }
        }
        return out
    }

    mutating func begin(_ id: Int, policy: Policy, _ cluster: inout VirtualCluster, now: Double, update: Scenario.Update) {
        firstStart = firstStart ?? now
        startedAt[id] = now
        cluster.setCordoned(id, true)
        if policy == .foresight {
            var surge: [Int] = []
            for p in cluster.podIDs(on: id) where !(cluster.pods[p]!.surge) { surge.append(cluster.addPod(zone: cluster.pods[p]!.zone, surge: true)) }
            pendingSurge[id] = surge
            cluster.schedule(now: now, avoid: Set(cluster.nodes.values.filter { !$0.updated }.map(\.id)))
            inFlight[id] = .surging(since: now, surge: surge)
        } else {
            drain(id, &cluster, now: now, update: update)
            inFlight[id] = .out
        }
    }

    func drain(_ id: Int, _ cluster: inout VirtualCluster, now: Double, update: Scenario.Update) {
        for p in cluster.podIDs(on: id) { cluster.evict(p, now: now) }
        cluster.setOut(id, until: now + update.updateTime)
    }

    func giveBack(_ surge: [Int], _ cluster: inout VirtualCluster) {
        for p in surge { cluster.deletePod(p) }
    }
}
