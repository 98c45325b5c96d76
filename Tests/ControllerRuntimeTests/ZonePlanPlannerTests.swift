import CapacityPlanning
import ControllerRuntime
import Forecasting
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
@testable import Reconcilers
import Testing

@Suite struct ZonePlanPlannerTests {
    func zone(_ name: String, priority: Int, perReplica: Double = 50, min: Int = 1, max: Int = 100, buffer: IntOrString? = .string("0%")) -> ZonePlan.Zone {
        var z = ZonePlan.Zone()
        z.name = name
        z.priority = priority
        z.load = ZonePlan.Zone.Load()
        z.load?.perReplica = perReplica
        z.minReplicas = min
        z.maxReplicas = max
        z.buffer = buffer
        return z
    }

    func workload(_ name: String, replicas: Int, cpu: Int64 = 500, hpaMax: Int? = nil) -> ZoneWorkload {
        ZoneWorkload(namespace: "shop", name: name, replicas: replicas, perPod: Resources(cpuMillis: cpu, memoryBytes: 0), priorityClassName: nil,
                     hpa: hpaMax.map { ZoneWorkload.HPA(name: name, minReplicas: 1, maxReplicas: $0, userMinReplicas: nil) })
    }

    func outlook(peak: Double, mase: Double = 0.5) -> ZoneOutlook {
        ZoneOutlook(peakQuantile: peak, peakMean: peak * 0.9, peakAt: Date(timeIntervalSince1970: 1000), model: "m",
                    accuracy: Forecast.Accuracy(mase: mase, mape: 0.1, intervalCoverage: 0.9, origins: 10), fittedAt: Date(timeIntervalSince1970: 0))
    }

    func planner(_ zones: [ZonePlan.Zone], minimumAccuracy: Double = 1.0, policy: String = "Strict") -> ZonePlanPlanner {
        var spec = ZonePlan.Spec()
        spec.zones = zones
        spec.forecast = ZonePlan.Forecast()
        spec.forecast?.minimumAccuracy = minimumAccuracy
        spec.overflow = ZonePlan.Overflow(policy: policy)
        return ZonePlanPlanner(spec: spec)
    }

    @Test func splitsByCurrentShareWithLargestRemainders() {
        let p = planner([zone("web", priority: 1)])
        let ws = [workload("a", replicas: 1), workload("b", replicas: 2), workload("c", replicas: 1)]
        #expect(p.split(10, over: ws) == ["shop/a": 3, "shop/b": 5, "shop/c": 2] || p.split(10, over: ws) == ["shop/a": 2, "shop/b": 5, "shop/c": 3])
        #expect(p.split(10, over: ws).values.reduce(0, +) == 10)
        #expect(p.split(7, over: [workload("x", replicas: 0), workload("y", replicas: 0)]).values.sorted() == [3, 4], "equal shares from zero")
        #expect(p.split(9, over: [workload("h", replicas: 1, hpaMax: 4), workload("i", replicas: 1)]) == ["shop/h": 4, "shop/i": 4], "an HPA's maximum caps")
        #expect(p.split(5, over: []).isEmpty)
    }

    @Test func aForecastWorseThanTheThresholdFallsBackToTheObservedLoad() {
        let p = planner([zone("web", priority: 1)], minimumAccuracy: 0.8)
        let good = ZoneSnapshot(name: "web", outlook: outlook(peak: 1000, mase: 0.5), observedLoad: 100, forecastProblem: nil, workloads: [workload("a", replicas: 2)], blockers: [])
        let d1 = p.plan(snapshots: [good], pool: nil, memory: [:], now: Date(timeIntervalSince1970: 0), seed: 1)
        #expect(d1.zones[0].required == 20 && d1.zones[0].degraded == nil)
        var bad = good
        bad.outlook = outlook(peak: 1000, mase: 1.3)
        let d2 = p.plan(snapshots: [bad], pool: nil, memory: [:], now: Date(timeIntervalSince1970: 0), seed: 1)
        #expect(d2.zones[0].degraded?.contains("MASE 1.30") == true)
        #expect(d2.zones[0].requirement.replicas == 2, "100 ÷ 50: sized by what is observed")
    }

    /// With neither a forecast nor an observation (the load's source is down), nothing says the
    /// load fell: the zone keeps what it has, as an HPA without metrics does, and says why. Once
    /// an observation comes back, it is sized by it again.
    @Test func aZoneWithNoSignalAtAllKeepsItsReplicas() {
        let p = planner([zone("web", priority: 1, min: 2)])
        var memory: [String: ZoneMemory] = [:]
        let running = ZoneSnapshot(name: "web", outlook: outlook(peak: 1000), observedLoad: 900, forecastProblem: nil, workloads: [workload("a", replicas: 20)], blockers: [])
        let first = p.plan(snapshots: [running], pool: nil, memory: memory, now: Date(timeIntervalSince1970: 0), seed: 1)
        #expect(first.zones[0].required == 20)
        memory["web"] = first.zones[0].memory
        // The source goes down for two hours, far past the stabilisation window, reconciled every 30 s.
        let dark = ZoneSnapshot(name: "web", outlook: nil, observedLoad: nil, forecastProblem: "prometheus: connection refused",
                                workloads: [workload("a", replicas: 20)], blockers: [])
        var last = first
        for t in stride(from: 30.0, through: 7200, by: 30) {
            last = p.plan(snapshots: [dark], pool: nil, memory: memory, now: Date(timeIntervalSince1970: t), seed: 1)
            memory["web"] = last.zones[0].memory
            if last.zones[0].required != 20 { break }
        }
        #expect(last.zones[0].required == 20, "no signal is no reason to shed replicas: \(last.zones[0].required)")
        #expect(last.zones[0].requirement.basis == .held && last.zones[0].degraded?.contains("connection refused") == true)
        // The load is observed again (the forecast still missing): sized by the observation, stepped down as usual.
        let back = ZoneSnapshot(name: "web", outlook: nil, observedLoad: 100, forecastProblem: "no forecast", workloads: [workload("a", replicas: 20)], blockers: [])
        let later = p.plan(snapshots: [back], pool: nil, memory: memory, now: Date(timeIntervalSince1970: 7230), seed: 1)
        #expect(later.zones[0].requirement.replicas == 2 && later.zones[0].requirement.basis == .observed)
    }

    @Test func blockedZonesAndZonesWithoutDeploymentsSayWhy() {
        let p = planner([zone("web", priority: 1), zone("empty", priority: 2)])
        let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 100), observedLoad: 10, forecastProblem: nil, workloads: [workload("a", replicas: 1)],
                               blockers: ["Deployment shop/a is selected by zones empty, web"])
        let empty = ZoneSnapshot(name: "empty", outlook: outlook(peak: 100), observedLoad: 10, forecastProblem: nil, workloads: [], blockers: [])
        let d = p.plan(snapshots: [web, empty], pool: nil, memory: [:], now: Date(), seed: 1)
        #expect(d.zones[0].blocked?.contains("selected by zones") == true)
        #expect(d.zones[1].blocked == "selects no Deployment")
    }

    @Test func thePoolIsPartitionedAndTheAllocationSplit() {
        let p = planner([zone("hi", priority: 10), zone("lo", priority: 1)])
        let hi = ZoneSnapshot(name: "hi", outlook: outlook(peak: 400), observedLoad: 50, forecastProblem: nil, workloads: [workload("h", replicas: 1)], blockers: [])
        let lo = ZoneSnapshot(name: "lo", outlook: outlook(peak: 400), observedLoad: 50, forecastProblem: nil, workloads: [workload("l", replicas: 1)], blockers: [])
        let pool = PoolSnapshot(name: "g", currentNodes: 1, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1, maxNodes: 3)
        let d = p.plan(snapshots: [hi, lo], pool: pool, memory: [:], now: Date(), seed: 1)
        #expect(d.desiredNodes == 3)
        #expect(d.partition?.capacitySufficient == false, "16 replicas of 500m need 4 nodes of 2 CPU")
        #expect(d.zones[0].allocated == 8 && d.zones[0].replicas == ["shop/h": 8])
        #expect(d.zones[1].allocated == 4 && d.zones[1].grantRatio == 0.5)
    }

    /// The partition would give a node back, but a removed node could take four of the zone's
    /// replicas while its load needs all but two: the zone is surged by two and the pool waits for
    /// them to be Ready, then gives the node back with the surge. Once the load falls far enough, a
    /// node goes without one.
    @Test func aNodeIsGivenBackBehindASurgeWhenItsPodsAreNeeded() {
        let p = planner([zone("web", priority: 1)])
        let pool = PoolSnapshot(name: "g", currentNodes: 7, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1, maxNodes: 24)
        func plan(observed: Double, ready: Int, pool: PoolSnapshot = pool) -> ZonePlanDecision {
            var w = workload("w", replicas: 24)
            w.readyReplicas = ready
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 1200), observedLoad: observed, forecastProblem: nil, workloads: [w], blockers: [])
            return p.plan(snapshots: [web], pool: pool, memory: ["web": ZoneMemory(lastRequired: 24)], now: Date(), seed: 1)
        }
        // 24 replicas of 500m hold on 6 nodes of 2 CPU; 1,100 at 50 a replica needs 22.
        let starting = plan(observed: 1100, ready: 24)
        #expect(starting.partition?.desiredNodes == 6)
        #expect(starting.desiredNodes == 7 && starting.zones[0].allocated == 26 && starting.zones[0].replicas == ["shop/w": 26])
        #expect(starting.zones[0].memory.lastRequired == 24, "the surge is not the zone's requirement")
        #expect(starting.shrink == "kept at 7 nodes, not 6, until the surge that covers a node's pods is Ready (web +2)")
        let going = plan(observed: 1100, ready: 26)
        #expect(going.desiredNodes == 6 && going.zones[0].allocated == 26)
        #expect(going.shrink == "giving back a node, its pods covered by a surge (web +2) given back with it")
        let quiet = plan(observed: 1000, ready: 24)
        #expect(quiet.desiredNodes == 6 && quiet.zones[0].allocated == 24 && quiet.shrink == nil, "20 replicas serve 1,000")
        // While the pool is above the partition, each step waits on readiness: the plan wants
        // readiness changes; once it is there, it does not.
        #expect(starting.shrinking && going.shrinking && quiet.shrinking)
        var settledPool = pool
        settledPool.currentNodes = 6
        let settled = plan(observed: 1100, ready: 24, pool: settledPool)
        #expect(settled.desiredNodes == 6 && settled.shrink == nil && !settled.shrinking)
    }

    /// An UpdateWindow cordoned one of three nodes and surged the zone by the three pods on it.
    /// Counted over all three nodes, 9 replicas and the surge of 3 fit; but the cordoned node's
    /// room takes no pod, and the two open nodes hold 8. The pool asks for a fourth node so the
    /// surge can be placed; the zone's grant is what it was. Once the node is back (uncordoned,
    /// the surge still held), three nodes do again; at maxNodes the zone is not cut for it.
    @Test func aCordonedNodeIsNoRoomForTheSurgeThatCoversIt() {
        let p = planner([zone("web", priority: 1)])
        func plan(cordoned: Int, maxNodes: Int = 10) -> ZonePlanDecision {
            var w = workload("w", replicas: 9)
            w.surge = 3
            w.surgeForCordonedNodes = 3
            w.readyReplicas = 9
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 450), observedLoad: 400, forecastProblem: nil, workloads: [w], blockers: [])
            let pool = PoolSnapshot(name: "g", currentNodes: 3, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1,
                                    maxNodes: maxNodes, unschedulableNodes: cordoned)
            return p.plan(snapshots: [web], pool: pool, memory: ["web": ZoneMemory(lastRequired: 9)], now: Date(), seed: 1)
        }
        let out = plan(cordoned: 1)
        #expect(out.desiredNodes == 4, "9 replicas on the open nodes need 3, and one is cordoned")
        #expect(out.zones[0].allocated == 9 && out.zones[0].required == 9)
        #expect(out.shrink == "4 nodes, not 3: cordoned nodes (1) take no new pod, and the others must hold the zones (an UpdateWindow's surge among them)")
        let back = plan(cordoned: 0)
        #expect(back.desiredNodes == 3, "12 pods of 500m on three nodes of 2 CPU")
        #expect(back.zones[0].allocated == 9 && back.shrink == nil)
        let capped = plan(cordoned: 1, maxNodes: 3)
        #expect(capped.desiredNodes == 3 && capped.zones[0].allocated == 9, "the zone is not cut to make room for the surge")
        #expect(plan(cordoned: 3).desiredNodes == 6, "every node cordoned: the zone's three nodes come on top")
    }

    /// Only the surge that covers a cordoned node stands in for its pods: a surge still held for a
    /// node already back (its replacements starting) needs room on the open nodes besides the zone's replicas.
    @Test func aSurgeForANodeBackInServiceNeedsRoomOfItsOwn() {
        let p = planner([zone("web", priority: 1)])
        func plan(surgeForCordonedNodes: Int) -> ZonePlanDecision {
            var w = workload("w", replicas: 8)
            w.surge = 4
            w.surgeForCordonedNodes = surgeForCordonedNodes
            w.readyReplicas = 8
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 400), observedLoad: 380, forecastProblem: nil, workloads: [w], blockers: [])
            let pool = PoolSnapshot(name: "g", currentNodes: 3, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1,
                                    maxNodes: 10, unschedulableNodes: 1)
            return p.plan(snapshots: [web], pool: pool, memory: ["web": ZoneMemory(lastRequired: 8)], now: Date(), seed: 1)
        }
        let covering = plan(surgeForCordonedNodes: 4)
        #expect(covering.desiredNodes == 3, "8 replicas on two open nodes, the cordoned one beside them")
        #expect(covering.shrink == nil)
        let settling = plan(surgeForCordonedNodes: 0)
        #expect(settling.desiredNodes == 4, "8 replicas and the 4 surge pods fill three open nodes, and one is cordoned")
        #expect(settling.zones[0].allocated == 8)
    }

    /// A pool with four spare nodes, web needing all its 4 Ready replicas (surged by 4 and Ready),
    /// and a zone with none Ready: while that zone may still be starting, the pool waits for it
    /// (and surges it); once its Deployment is past its progress deadline, a node goes, and the
    /// plan says the zone is not waited for.
    @Test func aStalledZoneIsNotWaitedForAndThePlanSaysSo() {
        let p = planner([zone("web", priority: 2), zone("broken", priority: 1, min: 2, max: 2)])
        func plan(stalled: Bool) -> ZonePlanDecision {
            var w = workload("w", replicas: 4)
            w.readyReplicas = 8
            var b = workload("b", replicas: 2)
            b.readyReplicas = 0
            b.stalled = stalled
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 200), observedLoad: 200, forecastProblem: nil, workloads: [w], blockers: [])
            let broken = ZoneSnapshot(name: "broken", outlook: outlook(peak: 100), observedLoad: 100, forecastProblem: nil, workloads: [b], blockers: [])
            let pool = PoolSnapshot(name: "g", currentNodes: 6, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1, maxNodes: 10)
            return p.plan(snapshots: [web, broken], pool: pool, memory: ["web": ZoneMemory(lastRequired: 4), "broken": ZoneMemory(lastRequired: 2)],
                          now: Date(), seed: 1)
        }
        let starting = plan(stalled: false)
        #expect(starting.desiredNodes == 6, "\(String(describing: starting.shrink))")
        #expect(starting.shrink?.contains("broken +") == true, "\(String(describing: starting.shrink))")
        let stalled = plan(stalled: true)
        #expect(stalled.desiredNodes == 5, "\(String(describing: stalled.shrink))")
        #expect(stalled.shrink?.hasSuffix("not waiting for the replicas of broken: none is Ready, and their Deployments are past their progress deadline") == true,
                "\(String(describing: stalled.shrink))")
        #expect(stalled.zones.first { $0.name == "broken" }?.allocated == 2, "no surge for a zone whose pods are not coming")
    }

    /// A pool above its partition gives no node back while an UpdateWindow still has nodes of it to
    /// update, and says so; once none is left, it shrinks as before (behind a surge here).
    @Test func aPoolIsHeldWhileAWindowUpdatesItsNodes() {
        let p = planner([zone("web", priority: 1)])
        func plan(awaiting: Int) -> ZonePlanDecision {
            var w = workload("w", replicas: 24)
            w.readyReplicas = 24
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 1200), observedLoad: 1100, forecastProblem: nil, workloads: [w], blockers: [])
            let pool = PoolSnapshot(name: "g", currentNodes: 7, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1, maxNodes: 24,
                                    nodesAwaitingUpdate: awaiting)
            return p.plan(snapshots: [web], pool: pool, memory: ["web": ZoneMemory(lastRequired: 24)], now: Date(), seed: 1)
        }
        let held = plan(awaiting: 2)
        #expect(held.desiredNodes == 7 && held.zones[0].allocated == 24 && !held.shrinking, "no surge for a node that stays")
        #expect(held.shrink == "kept at 7 nodes, not 6, while an UpdateWindow updates the pool's nodes (2 still to go)")
        let after = plan(awaiting: 0)
        #expect(after.desiredNodes == 7 && after.zones[0].allocated == 26 && after.shrinking)
    }

    /// The same pool, but the Deployment's HPA stops at 24 replicas: the surge could never be
    /// written, so it would never be Ready. The pool keeps its node and says why, instead of
    /// waiting for a surge that cannot come; an HPA with room surges as before.
    @Test func aSurgeBeyondTheHPAsMaximumKeepsTheNodeAndSaysWhy() {
        let p = planner([zone("web", priority: 1)])
        let pool = PoolSnapshot(name: "g", currentNodes: 7, perNode: Resources(cpuMillis: 2000, memoryBytes: 1 << 34), minNodes: 1, maxNodes: 24)
        func plan(hpaMax: Int) -> ZonePlanDecision {
            var w = workload("w", replicas: 24, hpaMax: hpaMax)
            w.readyReplicas = 24
            let web = ZoneSnapshot(name: "web", outlook: outlook(peak: 1200), observedLoad: 1100, forecastProblem: nil, workloads: [w], blockers: [])
            return p.plan(snapshots: [web], pool: pool, memory: ["web": ZoneMemory(lastRequired: 24)], now: Date(), seed: 1)
        }
        let capped = plan(hpaMax: 24)
        #expect(capped.partition?.desiredNodes == 6)
        #expect(capped.desiredNodes == 7 && capped.zones[0].allocated == 24 && capped.zones[0].replicas == ["shop/w": 24])
        #expect(capped.shrink == "kept at 7 nodes, not 6: a node given back would take replicas the load needs now, "
            + "and the surge that would cover them is beyond the maxReplicas of the HPAs of web")
        let room = plan(hpaMax: 30)
        #expect(room.desiredNodes == 7 && room.zones[0].replicas == ["shop/w": 26])
        #expect(room.shrink == "kept at 7 nodes, not 6, until the surge that covers a node's pods is Ready (web +2)")
    }

    @Test func theOutlookIsThePeakOfTheQuantileInTheLeadWindow() {
        var f = Forecast(times: [0, 300, 600, 900, 1200], mean: [1, 5, 3, 9, 2], quantiles: [0.9: [2, 6, 4, 10, 3]], model: "m", weights: [:],
                         accuracy: Forecast.Accuracy(mase: 0.5, mape: 0.1, intervalCoverage: 0.9, origins: 5), notes: [], step: 300)
        let o = ZonePlanPlanner.outlook(of: f, quantile: 0.9, now: Date(timeIntervalSince1970: 300), window: 400, fittedAt: Date())
        #expect(o?.peakQuantile == 6 && o?.peakMean == 5, "900 is beyond now + 400 s")
        let wide = ZonePlanPlanner.outlook(of: f, quantile: 0.9, now: Date(timeIntervalSince1970: 300), window: 900, fittedAt: Date())
        #expect(wide?.peakQuantile == 10 && wide?.peakAt == Date(timeIntervalSince1970: 900))
        f.quantiles = [:]
        #expect(ZonePlanPlanner.outlook(of: f, quantile: 0.9, now: Date(timeIntervalSince1970: 300), window: 900, fittedAt: Date())?.peakQuantile == 9, "the mean without that quantile")
        #expect(ZonePlanPlanner.outlook(of: f, quantile: 0.9, now: Date(timeIntervalSince1970: 5000), window: 100, fittedAt: Date()) == nil, "a forecast that ends before now")
    }

    @Test func aFollowersRatioIsTheMedianOverCommonTimestamps() {
        let leader = TimeSeries(times: Array(0..<20).map { Int64($0 * 300) }, values: Array(0..<20).map { 100 + Double($0) })
        var values = Array(0..<20).map { 0.4 * (100 + Double($0)) }
        values[3] = 5000  // a spike does not move the median
        let follower = TimeSeries(times: Array(0..<20).map { Int64($0 * 300) }, values: values)
        let r = ZonePlanPlanner.learnedRatio(follower: follower, leader: leader)
        #expect(r.map { abs($0 - 0.4) < 1e-9 } == true, "\(String(describing: r))")
        let shifted = TimeSeries(times: Array(0..<20).map { Int64($0 * 300 + 7) }, values: values)
        #expect(ZonePlanPlanner.learnedRatio(follower: shifted, leader: leader) == nil, "no common timestamps")
        let o = ZonePlanPlanner.following(outlook(peak: 1000), ratio: 0.4, leaderName: "front")
        #expect(o.peakQuantile == 400 && o.peakMean == 360 && o.model == "follows front × 0.400")
    }

    @Test func liveAccuracyComparesObservationsWithTheForecastMadeBeforeThem() async {
        let forecasts = ZoneForecasts(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1")))
        let f = Forecast(times: [1200, 1500, 1800, 2100], mean: [100, 100, 100, 100],
                         quantiles: [0.9: [120, 120, 120, 120], 0.05: [95, 95, 95, 95], 0.95: [125, 125, 125, 125]], model: "m", weights: [:],
                         accuracy: Forecast.Accuracy(mase: 0.5, mape: 0.1, intervalCoverage: 0.9, origins: 5), notes: [], step: 300)
        let fit = FittedForecast(fingerprint: "x", fittedAt: 900, forecast: f, fitSeconds: 0, historyEnd: 900,
                                 history: TimeSeries(times: [], values: []))
        // 600 and 900 are in-sample (not counted); 1200…2100 are checked against the forecast.
        let observed = TimeSeries(times: [600, 900, 1200, 1500, 1800, 2100], values: [1, 1, 100, 110, 90, 150])
        await forecasts.record("p/z", fit, series: observed, quantile: 0.9)
        let live = await forecasts.liveAccuracy("p/z")!
        #expect(live.observations == 4 && live.through == 2100)
        // Faded by a day's half-life: the observation at 1200 weighs 2^(-900/86400) of the one at 2100.
        let w = [1200.0, 1500, 1800, 2100].map { pow(2, -(2100 - $0) / 86400) }
        #expect(abs(live.weight - w.reduce(0, +)) < 1e-9)
        #expect(abs(live.mape - (w[0] * 0 + w[1] * 10 / 110 + w[2] * 10 / 90 + w[3] * 50 / 150) / w.reduce(0, +)) < 1e-9)
        #expect(abs(live.quantileCoverage - (w[0] + w[1] + w[2]) / w.reduce(0, +)) < 1e-9, "150 is above the quantile 120")
        #expect(abs(live.intervalCoverage - (w[0] + w[1]) / w.reduce(0, +)) < 1e-9, "90 is below 95 and 150 above 125")
        // A later fit does not judge again what the earlier one was judged on.
        var later = fit
        later.forecast.mean = [0, 0, 0, 0]
        await forecasts.record("p/z", later, series: observed, quantile: 0.9)
        #expect(await forecasts.liveAccuracy("p/z") == live)
        // The record survives a round trip through status, and a malformed one is refused.
        #expect(LiveAccuracy(json: try? JSONDecoder().decode(JSONValue.self, from: live.json.serialized())) == live)
        #expect(LiveAccuracy(json: .object([("observations", .int(3)), ("through", .int(5))])) == nil)
        var tooMany = live
        tooMany.inside = live.weight + 1
        #expect(LiveAccuracy(json: tooMany.json) == nil, "more inside the interval than observed")
        // A process that restarts is handed the record from status and goes on from it.
        let restarted = ZoneForecasts(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1")))
        var zone = ZonePlan.Zone()
        zone.name = "z"
        _ = await restarted.forecast(planUID: "p", plan: ZonePlan.Spec(), zone: zone, input: .none, leadSeconds: 0,
                                     now: Date(timeIntervalSince1970: 2200), restored: live)
        #expect(await restarted.liveAccuracy("p/z") == live)
    }

    /// A forecast that cannot be moved (the engine's short-history fallback) is fitted again once a
    /// step; one that can, once per `refitEvery`.
    @Test func aFitIsDueAfterRefitEveryOrAfterAStepWhenTheForecastCannotBeMoved() throws {
        let cadence = ForecastCadence(step: 300, refitEvery: 3600, reach: 1800, seasons: [86400], quantiles: [0.9])
        let fixed = Forecast(times: [600], mean: [1], quantiles: [0.9: [1]], model: "level", weights: [:],
                             accuracy: Forecast.Accuracy(mase: .nan, mape: .nan, intervalCoverage: .nan, origins: 0), notes: [], step: 300)
        let recent = TimeSeries(times: [], values: [])
        #expect(!cadence.fitDue(fixed, fittedAt: 0, now: 299) && cadence.advance(fixed, fittedAt: 0, now: 299, recent: recent) != nil)
        #expect(cadence.fitDue(fixed, fittedAt: 0, now: 300) && cadence.advance(fixed, fittedAt: 0, now: 300, recent: recent) == nil)
        let start: Int64 = 1_767_571_200
        let history = TimeSeries(times: (0..<(3 * 288)).map { start + Int64($0) * 300 }, values: (0..<(3 * 288)).map { 100 + Double($0 % 288) })
        let movable = try Forecaster().forecast(history, request: cadence.request(historyEnd: history.times.last!, now: history.times.last! + 1))
        #expect(movable.updater != nil)
        #expect(!cadence.fitDue(movable, fittedAt: 0, now: 3599) && cadence.advance(movable, fittedAt: 0, now: 3599, recent: recent) != nil)
        #expect(cadence.fitDue(movable, fittedAt: 0, now: 3600) && cadence.advance(movable, fittedAt: 0, now: 3600, recent: recent) == nil)
    }

    /// A ZonePlan's default history holds what its default seasons need: the weekly models can be
    /// fitted and tested on it. On two weeks (the default before) they could not, and the engine
    /// fell back to repeating a cycle.
    @Test func theDefaultHistoryLetsTheWeeklyModelsBeFittedAndTested() throws {
        let cadence = ForecastCadence(ZonePlan.Forecast(), lead: 300)
        let start: Int64 = 1_767_571_200  // a Monday, 00:00 UTC
        func fitted(days: Int64) throws -> String {
            let n = Int(days * 86400 / cadence.step)
            var values: [Double] = []
            for k in 0..<n {
                let daily = 80 * sin(Double(k % 288) / 288 * 2 * .pi)
                let weekend: Double = k / 288 % 7 >= 5 ? -60 : 0
                values.append(200 + daily + weekend + Double(k % 7))
            }
            let history = TimeSeries(times: (0..<n).map { start + Int64($0) * cadence.step }, values: values)
            var request = cadence.request(historyEnd: history.times.last!, now: history.times.last! + 1)
            request.models = ["decomposition"]
            return try Forecaster().forecast(history, request: request).model
        }
        #expect(ZonePlan.Forecast.defaultHistory == 28 * 86400 && ZonePlan.Forecast().historySeconds == ZonePlan.Forecast.defaultHistory)
        // The CRD's default, which the API server fills in, is the same.
        let crd = try String(contentsOfFile: "\(SpecValidationTests.root)/crds/foresight.dev_zoneplans.yaml", encoding: .utf8)
        let line = crd.split(separator: "\n").first { $0.contains("history: {") }.map(String.init) ?? ""
        let crdDefault = line.range(of: "default: ").map { String(line[$0.upperBound...].prefix { $0 != "," && $0 != "}" }) }
        #expect(crdDefault.flatMap(DurationParser.seconds) == ZonePlan.Forecast.defaultHistory, "the CRD's history line: \(line)")
        #expect(try fitted(days: ZonePlan.Forecast.defaultHistory / 86400) == "decomposition")
        #expect(try fitted(days: 14) != "decomposition", "two weeks were enough after all: the default's reason is gone")
    }

    /// The controller fits a zone once per `refitEvery` and moves the forecast along by each new
    /// observation in between, reading only the recent past.
    @Test func aZoneIsFittedOncePerRefitEveryAndUpdatedInBetween() async throws {
        let forecasts = ZoneForecasts(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1")))
        var spec = ZonePlan.Spec()
        var fc = ZonePlan.Forecast()
        fc.step = "5m"; fc.horizon = "1h"; fc.seasonalities = ["1d"]; fc.history = "7d"; fc.refitEvery = "6h"
        spec.forecast = fc
        var zone = ZonePlan.Zone()
        zone.name = "web"
        let start: Int64 = 1_767_571_200  // a Monday, 00:00 UTC
        func csv(through last: Int) -> String {
            "timestamp,value\n" + (0...last).map { k in "\(start + Int64(k) * 300),\(200 + 80 * sin(Double(k % 288) / 288 * 2 * .pi) + Double(k % 7))" }.joined(separator: "\n")
        }
        func reconcile(through last: Int, version: String) async -> ZoneForecasts.Result {
            await forecasts.forecast(planUID: "p", plan: spec, zone: zone,
                                     input: .configMap(source: "configmap ns/h", resourceVersion: version, data: .success(["web": csv(through: last)])),
                                     leadSeconds: 300, now: Date(timeIntervalSince1970: Double(start + Int64(last + 1) * 300)))
        }
        let n = 6 * 288
        let first = await reconcile(through: n, version: "1")
        #expect(first.refitted && first.problem == nil)
        let fitted = try #require(first.forecast)
        #expect(fitted.times.first == start + Int64(n + 1) * 300)
        // Three new observations: no fit, the forecast starts after the newest of them.
        let second = await reconcile(through: n + 3, version: "2")
        #expect(!second.refitted)
        #expect(second.fittedAt == first.fittedAt)
        #expect(second.forecast?.times.first == start + Int64(n + 4) * 300)
        #expect(second.forecast?.updater?.observationsSinceFit == 3)
        #expect(second.live?.observations == 3, "the three were judged against the fit's forecast")
        // Six hours after the fit, it is fitted again.
        let third = await reconcile(through: n + 72, version: "3")
        #expect(third.refitted)
        #expect(third.forecast?.updater?.observationsSinceFit == 0)
    }
}

/// Which of a Deployment's Ready pods the shrink rule counts as serving.
@Suite struct ServingReplicasTests {
    func object<T: Decodable>(_ type: T.Type, _ json: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(json.utf8)) }

    /// Four Ready pods of `web` (status says 4): one on a Ready node, one terminating there, one on
    /// a node that is not Ready, one on a node that is gone; and a Ready pod of another
    /// Deployment's ReplicaSet of the same name elsewhere. One serves.
    @Test func onlyReadyPodsOnReadyNodesThatExistServe() throws {
        let caches = ZonePlanCaches(plans: Store(), deployments: Store(), autoscalers: Store(), namespaces: Store(), nodes: Store(), daemonSets: Store(),
                                    pods: Store(indexers: CachedPod.indexers), replicaSets: Store(indexers: Indexers.standard()))
        let ready = #"{"conditions":[{"type":"Ready","status":"True"}]}"#
        caches.nodes.apply(.restarted([
            try object(Node.self, #"{"metadata":{"name":"n1"},"status":\#(ready)}"#),
            try object(Node.self, #"{"metadata":{"name":"n2"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}}"#),
        ]))
        caches.replicaSets.apply(.restarted([
            try object(ReplicaSet.self, #"{"metadata":{"name":"web-1","namespace":"shop","uid":"rs1","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d1","controller":true}]}}"#),
            try object(ReplicaSet.self, #"{"metadata":{"name":"web-1","namespace":"other","uid":"rs2","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d2","controller":true}]}}"#),
        ]))
        // Each ReplicaSet is found under its Deployment, namespace and all.
        #expect(caches.replicaSets.byIndex(Indexers.controller, "Deployment/shop/web").map(\.metadata.uid) == ["rs1"])
        #expect(caches.replicaSets.byIndex(Indexers.controller, "Deployment/other/web").map(\.metadata.uid) == ["rs2"])
        func pod(_ name: String, ns: String = "shop", node: String, deleting: Bool = false) throws -> CachedPod {
            try object(CachedPod.self, """
            {"metadata":{"name":"\(name)","namespace":"\(ns)",\(deleting ? #""deletionTimestamp":"2026-01-01T00:00:00Z","# : "")
             "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"\(ns == "shop" ? "rs1" : "rs2")","controller":true}]},
             "spec":{"nodeName":"\(node)"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}
            """)
        }
        caches.pods.apply(.restarted([try pod("a", node: "n1"), try pod("b", node: "n1", deleting: true), try pod("c", node: "n2"),
                                      try pod("d", node: "gone"), try pod("e", ns: "other", node: "n1")]))
        let web = try object(Deployment.self, #"{"metadata":{"name":"web","namespace":"shop","uid":"d1"},"status":{"readyReplicas":4}}"#)
        let readyNodes: Set<String> = ["n1"]
        #expect(caches.servingReplicas(of: web, readyNodes: readyNodes) == 1)
        // Never more than the Deployment's own count, which may lag the pods' in the other direction.
        let lagging = try object(Deployment.self, #"{"metadata":{"name":"web","namespace":"shop","uid":"d1"},"status":{"readyReplicas":0}}"#)
        #expect(caches.servingReplicas(of: lagging, readyNodes: readyNodes) == 0)
        // All four serve once every node is Ready and present and nothing terminates.
        caches.pods.apply(.restarted([try pod("a", node: "n1"), try pod("b", node: "n1"), try pod("c", node: "n1"), try pod("d", node: "n1")]))
        #expect(caches.servingReplicas(of: web, readyNodes: readyNodes) == 4)
    }
}

/// The reconciler's reading of the world from its caches.
@Suite struct ZonePlanWorldTests {
    func decoded<T: Decodable>(_ type: T.Type, _ json: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(json.utf8)) }

    /// Of a Deployment's surge, only what its ledger holds for cordoned nodes stands in for pods
    /// that are away; a surge still held for a node already back in service needs room of its own.
    @Test func onlyTheSurgeForCordonedNodesIsToldApart() throws {
        let caches = ZonePlanCaches(plans: Store(), deployments: Store(), autoscalers: Store(), namespaces: Store(), nodes: Store(), daemonSets: Store(),
                                    pods: Store(indexers: CachedPod.indexers), replicaSets: Store(indexers: Indexers.standard()))
        let reconciler = ZonePlanReconciler(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1")), caches: caches,
                                            events: EventRecorder(client: KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:1"))))
        func node(_ name: String, cordoned: Bool, ready: Bool) throws -> Node {
            try decoded(Node.self, #"{"metadata": {"name": "\#(name)"}, "spec": {"unschedulable": \#(cordoned)}, "status": {"conditions": [{"type": "Ready", "status": "\#(ready ? "True" : "False")"}]}}"#)
        }
        // n1 is back in service, n2 is being drained, n3 is cordoned and rebooting.
        let nodes = [try node("n1", cordoned: false, ready: true), try node("n2", cordoned: true, ready: true), try node("n3", cordoned: true, ready: false)]
        let ledger = #"{\"nightly/n1\": 1, \"nightly/n2\": 2, \"nightly/n3\": 4}"#
        caches.deployments.apply(.restarted([try decoded(Deployment.self, #"""
            {"metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}, "annotations": {"foresight.dev/surge": "\#(ledger)"}},
             "spec": {"replicas": 10, "template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}}}}
            """#)]))
        let spec = try decoded(ZonePlan.Spec.self, #"{"zones": [{"name": "web", "priority": 1, "workloads": {"selector": {"matchLabels": {"app": "web"}}}}]}"#)
        let web = try #require(reconciler.workloadsByZone(spec, nodes: nodes)["web"]?.first)
        #expect(web.surge == 7 && web.replicas == 3, "the ledger's whole surge is above the zone's own replicas")
        #expect(web.surgeForCordonedNodes == 6, "n2's and n3's surges stand in for their pods; n1's does not: \(web.surgeForCordonedNodes)")
        let noneCordoned = try #require(reconciler.workloadsByZone(spec, nodes: [try node("n1", cordoned: false, ready: true)])["web"]?.first)
        #expect(noneCordoned.surgeForCordonedNodes == 0)
    }
}
