import ControllerRuntime
import ForesightAPI
import Forecasting
import Foundation
import KubernetesCore
import UpdatePlanning

/// The schedule of an UpdateWindow spec (nil with the reason when it cannot be read).
public func windowSchedule(_ spec: UpdateWindow.Spec) -> (WindowSchedule?, String?) {
    guard let s = spec.schedule, let duration = s.duration.flatMap(DurationParser.seconds) else { return (nil, "spec.schedule.duration is missing") }
    if let start = s.start.flatMap(Timestamp.parse) { return (.once(start: start, duration: TimeInterval(duration)), nil) }
    guard let cron = s.cron else { return (nil, "spec.schedule needs start or cron") }
    do {
        let tz = TimeZone(identifier: s.timeZone ?? "UTC") ?? TimeZone(identifier: "UTC")!
        return (.recurring(try CronSchedule(cron), timeZone: tz, duration: TimeInterval(duration)), nil)
    } catch {
        return (nil, "spec.schedule.cron: \(error)")
    }
}

/// A ZonePlan zone's forecast, as an UpdateWindow orders nodes by it: the replicas its load needs
/// at each forecast time, what one replica requests, and the Deployments (`namespace/name`) of the zone.
public struct ZoneLoadOutlook: Sendable, Equatable {
    public var zone: String
    public var times: [Int64]
    public var replicasNeeded: [Double]
    public var cpuMillisPerReplica: Double
    public var deployments: Set<String>
    public init(zone: String, times: [Int64], replicasNeeded: [Double], cpuMillisPerReplica: Double, deployments: Set<String>) {
        self.zone = zone
        self.times = times
        self.replicasNeeded = replicasNeeded
        self.cpuMillisPerReplica = cpuMillisPerReplica
        self.deployments = deployments
    }

    /// Replicas needed at `t`: the forecast step holding it; past the forecast's end, the largest
    /// value it gives (unknown, so assumed busy); nil without a forecast.
    public func needed(at t: Int64) -> Double? {
        guard let first = times.first, !replicasNeeded.isEmpty, replicasNeeded.count == times.count else { return nil }
        if t < first { return replicasNeeded[0] }
        // The last step at or before t (the times are sorted).
        var lo = 0, hi = times.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if times[mid] <= t { lo = mid } else { hi = mid - 1 }
        }
        let step = times.count > 1 ? times[1] - times[0] : 0
        if lo == times.count - 1 && t - times[lo] > step { return replicasNeeded.max() }
        return replicasNeeded[lo]
    }
}

/// What an UpdateWindow's status says this version: when it opens, and the plan it would follow.
public struct UpdateWindowPreview: Sendable, Equatable {
    public var phase: String
    public var window: WindowSchedule.Occurrence?
    public var plan: UpdatePlan?
    public var nodeCount: Int
    public var problem: String?
}

/// Plans an UpdateWindow from a snapshot: the window now open or next, the selected nodes, each
/// node's predicted load (its pods' CPU requests, in millicores, stand in for load; what the
/// other selected nodes have free is the spare capacity), and the order and times the planner
/// gives them. Pure.
///
/// `excluding` leaves out nodes already started (their place is taken); the rest are then planned
/// from `now` when the window is open, so a plan re-made mid-window places only what is left in the
/// time that is left.
///
/// With `zones` (the forecasts of the window's ZonePlan) and `zoneOf` (the zone of a pod's
/// Deployment, see `PodZoneResolver`), load follows the forecast: a node's predicted load is, for each zone, its
/// share of the zone's pods times the CPU of the replicas the zone's forecast needs, averaged over
/// the window (other pods count their requests), and the spare capacity at each minute grows by
/// what the zones' pods are not predicted to need then. So the busiest nodes go when demand is low.
public func previewWindow(_ spec: UpdateWindow.Spec, nodes: [Node], podsOn: (String, (borrowing CachedPod) -> Void) -> Void, now: Date,
                          excluding started: Set<String> = [], zones: [ZoneLoadOutlook] = [], zoneOf: (borrowing CachedPod) -> String? = { _ in nil },
                          zonePods: [String: Int] = [:]) -> UpdateWindowPreview {
    let (schedule, problem) = windowSchedule(spec)
    guard let schedule else { return UpdateWindowPreview(phase: "Pending", window: nil, plan: nil, nodeCount: 0, problem: problem) }
    let selector = spec.nodeSelector ?? LabelSelector()
    var selected = nodes.filter { selector.matches($0.metadata.labels) }
    if let listed = spec.nodes, !listed.isEmpty, spec.order != "Given" { selected = selected.filter { listed.contains($0.name) } }
    let window = schedule.current(at: now) ?? schedule.next(after: now)
    // This version plans and reports; it does not run updates, so an open window stays Pending.
    var phase = schedule.current(at: now) != nil ? "Pending" : "Waiting"
    if spec.paused == true { phase = "Paused" }
    if window == nil && schedule.hasExpired(at: now) { phase = "Expired" }
    guard let occurrence = window else { return UpdateWindowPreview(phase: phase, window: nil, plan: nil, nodeCount: selected.count, problem: problem) }

    // Load per node: its pods' CPU requests (DaemonSet and mirror pods stay with the node).
    // One visit of each node's pods (in the cache, not copied out): the CPU its movable pods
    // request, and how many of them each forecast zone has there (the rest count their requests).
    let forecastZones = !zones.isEmpty
    var requestsOn: [String: Double] = [:], otherRequestsOn: [String: Double] = [:], zonePodsOn: [String: [String: Int]] = [:]
    withoutActuallyEscaping(zoneOf) { zoneOf in
        for node in selected {
            var all = 0.0, other = 0.0
            var perZone: [String: Int] = [:]
            podsOn(node.name) { pod in
                guard pod.ownerKind != "DaemonSet", !pod.flags.contains(.mirror), !pod.isFinished else { return }
                all += Double(pod.cpuMillis)
                if forecastZones, let z = zoneOf(pod) { perZone[z, default: 0] += 1 } else { other += Double(pod.cpuMillis) }
            }
            requestsOn[node.name] = all
            otherRequestsOn[node.name] = other
            zonePodsOn[node.name] = perZone
        }
    }
    func requests(_ node: Node) -> Double { requestsOn[node.name] ?? 0 }
    let loads = Dictionary(uniqueKeysWithValues: selected.map { ($0.name, requests($0)) })
    // While a node is out the others must hold its pods: the spare capacity is the CPU the
    // selected nodes have free, less the most any one of them has free (the node out offers
    // nothing then); the planner subtracts the load of the nodes out.
    let free = selected.map { Double(Quantity.millis($0.status?.allocatable?["cpu"]) ?? 0) - (loads[$0.name] ?? 0) }
    let spareNow = free.reduce(0, +) - (free.max() ?? 0)
    let step: TimeInterval = 60
    let from = started.isEmpty ? occurrence.start : max(occurrence.start, now)
    let steps = max(1, Int((occurrence.end.timeIntervalSince(from) / step).rounded(.up)))
    var spare = SpareCapacity(start: from, step: step, values: Array(repeating: spareNow, count: steps))
    var predicted = loads
    if forecastZones {
        let minutes = (0..<steps).map { Int64(from.timeIntervalSince1970) + Int64($0) * Int64(step) }
        // Each zone's forecast need at each minute, and its mean over the window, in millicores.
        var needAt: [String: [Double]] = [:], meanNeed: [String: Double] = [:]
        for z in zones {
            let series = minutes.map { (z.needed(at: $0) ?? 0) * z.cpuMillisPerReplica }
            needAt[z.zone] = series
            meanNeed[z.zone] = series.reduce(0, +) / Double(max(1, series.count))
        }
        // Spare capacity grows by what the zones' pods hold but are not predicted to need.
        for z in zones {
            let held = Double(zonePods[z.zone] ?? 0) * z.cpuMillisPerReplica
            for i in 0..<steps { spare.values[i] += max(0, held - (needAt[z.zone]?[i] ?? 0)) }
        }
        for node in selected {
            var load = otherRequestsOn[node.name] ?? 0
            for (zone, count) in zonePodsOn[node.name] ?? [:] {
                if let total = zonePods[zone], total > 0 { load += (meanNeed[zone] ?? 0) * Double(count) / Double(total) }
            }
            predicted[node.name] = load
        }
    }
    let perNode = TimeInterval((spec.update?.nodeTimeout.flatMap(DurationParser.seconds) ?? 1800) + (spec.verify?.settle.flatMap(DurationParser.seconds) ?? 120))
    let maxUnavailable = max(1, spec.maxUnavailable?.resolve(total: selected.count, roundUp: false) ?? 1)
    let order: NodeOrder
    switch spec.order ?? "PredictedLoad" {
    case "Name": order = .name
    case "Given": order = .given(spec.nodes ?? [])
    default: order = .predictedLoad
    }
    let plan = planUpdate(selected.filter { !started.contains($0.name) }.map { NodeToUpdate(name: $0.name, predictedLoad: predicted[$0.name] ?? 0) }, order: order, spare: spare,
                          perNode: perNode, maxUnavailable: maxUnavailable, end: occurrence.end)
    return UpdateWindowPreview(phase: phase, window: occurrence, plan: plan, nodeCount: selected.count, problem: problem)
}

/// The forecast zone of a pod's Deployment, for `previewWindow`: resolved through `deploymentOf`
/// once per owner (by the owner's UID, one cheap lookup per pod after that).
public struct PodZoneResolver {
    let zoneOfDeployment: [String: String]
    let deploymentOf: (borrowing CachedPod) -> String?
    var byOwner: [UUID: String?] = [:]

    /// `deploymentOf` gives a pod's Deployment as `namespace/name` (the slow path).
    public init(zones: [ZoneLoadOutlook], deploymentOf: @escaping (borrowing CachedPod) -> String?) {
        zoneOfDeployment = Dictionary(zones.flatMap { z in z.deployments.map { ($0, z.zone) } }, uniquingKeysWith: { a, _ in a })
        self.deploymentOf = deploymentOf
    }

    public mutating func zone(of pod: borrowing CachedPod) -> String? {
        guard !zoneOfDeployment.isEmpty else { return nil }
        guard let owner = pod.ownerUID else { return deploymentOf(pod).flatMap { zoneOfDeployment[$0] } }
        if let known = byOwner[owner] { return known }
        let zone = deploymentOf(pod).flatMap { zoneOfDeployment[$0] }
        byOwner[owner] = zone
        return zone
    }
}
