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
/// Deployment as an index into `zones`, see `PodZoneResolver`), load follows the forecast: a node's predicted load is, for each zone, its
/// share of the zone's pods times the CPU of the replicas the zone's forecast needs, averaged over
/// the window (other pods count their requests), and the spare capacity at each minute grows by
/// what the zones' pods are not predicted to need then. So the busiest nodes go when demand is low.
public func previewWindow(_ spec: UpdateWindow.Spec, nodes: [Node], podsOn: (String, (UnsafePointer<CachedPod>) -> Void) -> Void, now: Date,
                          excluding started: Set<String> = [], zones: [ZoneLoadOutlook] = [], zoneOf: (UnsafePointer<CachedPod>) -> Int? = { _ in nil },
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
    // Kept in arrays by the node's position and the zone's index: a pass over 100,000 pods
    // hashes no names.
    let zoneCount = zones.count
    var requests = [Double](repeating: 0, count: selected.count), otherRequests = requests
    var zonePodsOn = [Int32](repeating: 0, count: selected.count * zoneCount)
    withoutActuallyEscaping(zoneOf) { zoneOf in
        for (n, node) in selected.enumerated() {
            var all = 0.0, other = 0.0
            podsOn(node.name) { pod in
                guard pod.pointee.ownerKind != "DaemonSet", !pod.pointee.flags.contains(.mirror), !pod.pointee.isFinished else { return }
                let cpu = Double(pod.pointee.cpuMillis)
                all += cpu
                if zoneCount > 0, let z = zoneOf(pod), z >= 0, z < zoneCount { zonePodsOn[n * zoneCount + z] += 1 } else { other += cpu }
            }
            requests[n] = all
            otherRequests[n] = other
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
    let weighed = selected.indices.map { n in
        WindowNode(name: selected[n].name, cpuMillis: Double(Quantity.millis(selected[n].status?.allocatable?["cpu"]) ?? 0), requests: requests[n],
                   otherRequests: otherRequests[n], zonePods: Array(zonePodsOn[(n * zoneCount)..<((n + 1) * zoneCount)]))
    }
    let from = started.isEmpty ? occurrence.start : max(occurrence.start, now)
    let plan = planWindow(weighed, zones: zones, zonePods: zonePods, from: from, end: occurrence.end, excluding: started, order: order,
                          perNode: perNode, maxUnavailable: maxUnavailable)
    return UpdateWindowPreview(phase: phase, window: occurrence, plan: plan, nodeCount: selected.count, problem: problem)
}

/// One node as the window planner weighs it: its CPU, what its movable pods request, the part of
/// that outside any forecast zone, and how many pods of each forecast zone (by index) it runs.
public struct WindowNode: Sendable, Equatable {
    public var name: String
    public var cpuMillis: Double
    public var requests: Double
    public var otherRequests: Double
    public var zonePods: [Int32]
    public init(name: String, cpuMillis: Double, requests: Double, otherRequests: Double, zonePods: [Int32]) {
        self.name = name
        self.cpuMillis = cpuMillis
        self.requests = requests
        self.otherRequests = otherRequests
        self.zonePods = zonePods
    }
}

/// The plan of a window from `from` to `end` over weighed nodes: the one rule the controller
/// (`previewWindow`) and `foresight simulate` share. Pure.
///
/// While a node is out the others must hold its pods: the spare capacity is the CPU the nodes
/// have free, less the most any one of them has free (the node out offers nothing then); the
/// planner subtracts the load of the nodes out. With `zones` (forecasts), a node's predicted load
/// is, for each zone, its share of the zone's pods (`zonePods`, the zone's total) times the CPU of
/// the replicas the zone's forecast needs, averaged over the window (other pods count their
/// requests), and the spare capacity at each minute grows by what the zones' pods hold but are not
/// predicted to need then. Without zones, requests stand in for load.
public func planWindow(_ nodes: [WindowNode], zones: [ZoneLoadOutlook], zonePods: [String: Int], from: Date, end: Date, excluding started: Set<String> = [],
                       order: NodeOrder, perNode: TimeInterval, maxUnavailable: Int) -> UpdatePlan {
    let zoneCount = zones.count
    let free = nodes.map { $0.cpuMillis - $0.requests }
    let spareNow = free.reduce(0, +) - (free.max() ?? 0)
    let step: TimeInterval = 60
    let steps = max(1, Int((end.timeIntervalSince(from) / step).rounded(.up)))
    var spare = SpareCapacity(start: from, step: step, values: Array(repeating: spareNow, count: steps))
    var predicted = nodes.map(\.requests)
    if zoneCount > 0 {
        let minutes = (0..<steps).map { Int64(from.timeIntervalSince1970) + Int64($0) * Int64(step) }
        var meanNeed = [Double](repeating: 0, count: zoneCount)
        for (i, z) in zones.enumerated() {
            let held = Double(zonePods[z.zone] ?? 0) * z.cpuMillisPerReplica
            var sum = 0.0
            for (s, t) in minutes.enumerated() {
                let need = (z.needed(at: t) ?? 0) * z.cpuMillisPerReplica
                sum += need
                spare.values[s] += max(0, held - need)
            }
            meanNeed[i] = sum / Double(steps)
        }
        let perPod = zones.indices.map { i in (zonePods[zones[i].zone] ?? 0) > 0 ? meanNeed[i] / Double(zonePods[zones[i].zone]!) : 0 }
        for n in nodes.indices {
            var load = nodes[n].otherRequests
            for z in 0..<min(zoneCount, nodes[n].zonePods.count) where nodes[n].zonePods[z] > 0 { load += perPod[z] * Double(nodes[n].zonePods[z]) }
            predicted[n] = load
        }
    }
    let toUpdate = nodes.indices.filter { !started.contains(nodes[$0].name) }.map { NodeToUpdate(name: nodes[$0].name, predictedLoad: predicted[$0]) }
    return planUpdate(toUpdate, order: order, spare: spare, perNode: perNode, maxUnavailable: maxUnavailable, end: end)
}

/// The forecast zone of a pod's Deployment, for `previewWindow`, as an index into the zones it was
/// made with: resolved through `deploymentOf` once per owner (by the owner's UID, one cheap
/// lookup per pod after that).
public struct PodZoneResolver {
    let zoneOfDeployment: [String: Int]
    let deploymentOf: (borrowing CachedPod) -> String?
    var byOwner: [UUID: Int] = [:]

    /// `deploymentOf` gives a pod's Deployment as `namespace/name` (the slow path).
    public init(zones: [ZoneLoadOutlook], deploymentOf: @escaping (borrowing CachedPod) -> String?) {
        zoneOfDeployment = Dictionary(zones.enumerated().flatMap { i, z in z.deployments.map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
        self.deploymentOf = deploymentOf
    }

    public mutating func zone(of pod: borrowing CachedPod) -> Int? {
        guard !zoneOfDeployment.isEmpty else { return nil }
        guard let owner = pod.ownerUID else { return deploymentOf(pod).flatMap { zoneOfDeployment[$0] } }
        if let known = byOwner[owner] { return known >= 0 ? known : nil }
        let zone = deploymentOf(pod).flatMap { zoneOfDeployment[$0] }
        byOwner[owner] = zone ?? -1
        return zone
    }

    /// The same, for a pod read in place (`Store.forEachInPlace`): only the owner's UID is read
    /// unless the owner is new.
    public mutating func zone(at pod: UnsafePointer<CachedPod>) -> Int? {
        guard !zoneOfDeployment.isEmpty else { return nil }
        if let owner = pod.pointee.ownerUID, let known = byOwner[owner] { return known >= 0 ? known : nil }
        return zone(of: pod.pointee)
    }
}
