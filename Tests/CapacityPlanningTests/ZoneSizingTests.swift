@testable import CapacityPlanning
import Foundation
import Testing
import TestSupport

@Suite struct ZoneSizingTests {
    let rule = ZoneSizingRule(perReplica: 50, buffer: .percent(20), minReplicas: 2, maxReplicas: 200)

    @Test func predictedPeakPlusBufferDividedByPerReplicaRoundedUp() {
        #expect(rule.requirement(predictedPeak: 1000, observedLoad: nil).replicas == 24)  // 1200 / 50
        #expect(rule.requirement(predictedPeak: 1001, observedLoad: nil).replicas == 25)  // 1201.2 / 50 = 24.02
        #expect(rule.requirement(predictedPeak: 1000, observedLoad: nil).basis == .predicted)
    }

    @Test func roundingEdges() {
        let r = ZoneSizingRule(perReplica: 0.1)
        #expect(r.replicas(forLoad: 0.3) == 3, "0.3 / 0.1 is 2.9999999999999996 in floating point: still 3")
        #expect(r.replicas(forLoad: 0.30001) == 4)
        #expect(ZoneSizingRule(perReplica: 3).replicas(forLoad: 9) == 3)
        #expect(ZoneSizingRule(perReplica: 3).replicas(forLoad: 9.0001) == 4)
        #expect(ZoneSizingRule(perReplica: 50).replicas(forLoad: 0) == 0)
        #expect(ZoneSizingRule(perReplica: 50).replicas(forLoad: -5) == 0)
        #expect(ZoneSizingRule(perReplica: 50).replicas(forLoad: .nan) == 0)
        #expect(ZoneSizingRule(perReplica: 50).replicas(forLoad: .infinity) == 0)
    }

    @Test func theObservedLoadIsAFloorUnderThePrediction() {
        let r = rule.requirement(predictedPeak: 100, observedLoad: 2000)
        #expect(r.replicas == 40)
        #expect(r.basis == .observed)
        #expect(r.predictedReplicas == 3 && r.observedReplicas == 40)
    }

    @Test func minimumsAndMaximumsBound() {
        #expect(rule.requirement(predictedPeak: 0, observedLoad: 0) == ZoneRequirement(replicas: 2, basis: .minimum, predictedReplicas: 0, observedReplicas: 0))
        #expect(rule.requirement(predictedPeak: nil, observedLoad: nil).replicas == 2)
        let huge = rule.requirement(predictedPeak: 1e300, observedLoad: 1e12)
        #expect(huge.replicas == 200 && huge.basis == .maximum)
        #expect(rule.requirement(predictedPeak: .nan, observedLoad: 120).replicas == 3, "a NaN forecast is no candidate")
    }

    @Test func bufferInWholeReplicas() {
        let r = ZoneSizingRule(perReplica: 10, buffer: .replicas(3))
        #expect(r.requirement(predictedPeak: 95, observedLoad: nil).replicas == 13)
        #expect(r.requirement(predictedPeak: 0, observedLoad: nil).replicas == 3)
    }
}

@Suite struct ScaleDownPolicyTests {
    typealias R = ScaleDownPolicy.Recommendation

    @Test func scaleUpIsImmediate() {
        let p = ScaleDownPolicy(window: 600, maxStepPercent: 20)
        let d = p.decide(required: 30, current: 10, now: 1000, history: [R(time: 900, replicas: 50)], lastScaleDown: nil)
        #expect(d.replicas == 30 && !d.scaledDown)
    }

    @Test func scaleDownWaitsForTheWindowsMaximum() {
        let p = ScaleDownPolicy(window: 600, maxStepPercent: 100)
        let history = [R(time: 500, replicas: 20), R(time: 800, replicas: 15)]
        #expect(p.decide(required: 5, current: 20, now: 1000, history: history, lastScaleDown: nil).replicas == 20, "the 20 at t=500 is in the window")
        #expect(p.decide(required: 5, current: 20, now: 1101, history: history, lastScaleDown: nil).replicas == 15,
                "the 20 at t=500 left the window (600 s); the 15 at t=800 holds")
        #expect(p.decide(required: 5, current: 20, now: 1399, history: history, lastScaleDown: nil).replicas == 15)
        #expect(p.decide(required: 5, current: 20, now: 1401, history: history, lastScaleDown: nil).replicas == 5)
    }

    @Test func scaleDownIsStepped() {
        let p = ScaleDownPolicy(window: 0, maxStepPercent: 20, stepPeriod: 60)
        let first = p.decide(required: 10, current: 100, now: 0, history: [], lastScaleDown: nil)
        #expect(first.replicas == 80 && first.scaledDown)
        #expect(p.decide(required: 10, current: 80, now: 30, history: [], lastScaleDown: 0).replicas == 80, "one step per period")
        #expect(p.decide(required: 10, current: 80, now: 60, history: [], lastScaleDown: 0).replicas == 64)
        #expect(p.decide(required: 0, current: 3, now: 0, history: [], lastScaleDown: nil).replicas == 2, "at least one replica per step")
        #expect(p.decide(required: 75, current: 80, now: 100, history: [], lastScaleDown: nil).replicas == 75, "never below the target")
    }

    @Test func historyKeepsOnlyWhatCanBeAMaximum() {
        let p = ScaleDownPolicy(window: 1000)
        var history: [R] = []
        var current = 50
        for (t, r) in [(0.0, 50), (10, 40), (20, 45), (30, 30), (40, 35)] {
            let d = p.decide(required: r, current: current, now: t, history: history, lastScaleDown: nil)
            history = d.history
            current = d.replicas
        }
        #expect(history.map(\.replicas) == [50, 45, 35], "each kept one is larger than every later one")
        #expect(current == 50)
    }

    @Test func randomisedAgainstTheDefinition() {
        var rng = SplitMix(seed: 11)
        let p = ScaleDownPolicy(window: 300, maxStepPercent: 100)
        var all: [R] = [], kept: [R] = []
        var current = 10
        for step in 0..<500 {
            let now = Double(step * 30)
            let required = rng.next(40)
            let d = p.decide(required: required, current: current, now: now, history: kept, lastScaleDown: nil)
            all.append(R(time: now, replicas: required))
            let windowMax = all.filter { now - $0.time < 300 }.map(\.replicas).max()!
            let expected = required >= current ? required : min(current, windowMax)
            #expect(d.replicas == expected, "step \(step)")
            kept = d.history
            current = d.replicas
        }
    }
}

@Suite struct PartitioningTests {
    let pod = Resources(cpuMillis: 500, memoryBytes: 512 << 20)
    let node = Resources(cpuMillis: 2000, memoryBytes: 4 << 30)  // 4 pods by CPU

    func pool(max: Int, current: Int = 2) -> NodePoolCapacity { NodePoolCapacity(name: "general", perNode: node, minNodes: 1, maxNodes: max, currentNodes: current) }

    @Test func thePoolIsSizedToHoldEveryZone() {
        let zones = [ZoneDemand(name: "a", priority: 10, required: 6, perReplica: pod), ZoneDemand(name: "b", priority: 5, required: 5, perReplica: pod)]
        let p = partition(zones: zones, pool: pool(max: 10), policy: .strict)
        #expect(p.desiredNodes == 3)
        #expect(p.capacitySufficient)
        #expect(p.zones.map(\.allocated) == [6, 5])
        #expect(p.zones.allSatisfy { $0.grantRatio == 1 })
    }

    @Test func fragmentationIsCountedInWholeReplicas() {
        // 3 replicas of 800m: two fit on a 2000m node (1600m), so 3 need 2 nodes, not ceil(2400/2000) = 2... and 5 need 3.
        let big = Resources(cpuMillis: 800, memoryBytes: 0)
        #expect(partition(zones: [ZoneDemand(name: "x", priority: 1, required: 5, perReplica: big)], pool: pool(max: 10), policy: .strict).desiredNodes == 3)
    }

    @Test func minNodesHoldsThePoolUp() {
        let p = partition(zones: [ZoneDemand(name: "a", priority: 1, required: 0, perReplica: pod)],
                          pool: NodePoolCapacity(name: "g", perNode: node, minNodes: 3, maxNodes: 9, currentNodes: 5), policy: .strict)
        #expect(p.desiredNodes == 3)
    }

    @Test func strictCutsTheLowestPriorityFirst() {
        let zones = [ZoneDemand(name: "batch", priority: 10, required: 8, minimum: 1, perReplica: pod),
                     ZoneDemand(name: "checkout", priority: 1000, required: 8, minimum: 2, perReplica: pod)]
        let p = partition(zones: zones, pool: pool(max: 3), policy: .strict)  // 12 slots for 16
        #expect(!p.capacitySufficient)
        #expect(p.desiredNodes == 3)
        #expect(p.grant("checkout")?.allocated == 8)
        #expect(p.grant("batch")?.allocated == 4)
        #expect(p.grant("batch")?.grantRatio == 0.5)
    }

    @Test func proportionalSharesTheShortfall() {
        let zones = [ZoneDemand(name: "a", priority: 100, required: 10, perReplica: pod), ZoneDemand(name: "b", priority: 1, required: 10, perReplica: pod)]
        let p = partition(zones: zones, pool: pool(max: 3), policy: .proportional)  // 12 slots for 20
        #expect(p.grant("a")?.allocated == 6 && p.grant("b")?.allocated == 6)
    }

    @Test func probabilisticIsReproducibleAndFavoursPriority() {
        let zones = (0..<4).map { ZoneDemand(name: "z\($0)", priority: $0 * 10, required: 8, minimum: 1, perReplica: pod) }
        let a = partition(zones: zones, pool: pool(max: 4), policy: .probabilistic, seed: 42)
        let b = partition(zones: zones, pool: pool(max: 4), policy: .probabilistic, seed: 42)
        #expect(a == b, "the same inputs and seed give the same answer")
        // Over many seeds (6 nodes hold 24 of the 32 replicas asked): the top zone is always served
        // in full, and the more priority, the more a zone gets on average.
        var total = [Int](repeating: 0, count: 4)
        var topFull = 0
        for seed in 0..<400 {
            let p = partition(zones: zones, pool: pool(max: 6), policy: .probabilistic, seed: UInt64(seed))
            #expect(p.zones.map(\.allocated).reduce(0, +) == 24, "capacity is never left idle")
            #expect(p.zones.allSatisfy { $0.allocated >= 1 }, "minimums first")
            for (i, z) in p.zones.enumerated() { total[i] += z.allocated }
            if p.zones[3].allocated == 8 { topFull += 1 }
        }
        #expect(topFull == 400)
        #expect(total[0] < total[1] && total[1] < total[2] && total[2] <= total[3], "replicas granted by priority over 400 draws: \(total)")
    }

    @Test func tiesInPriorityKeepSpecOrder() {
        let zones = [ZoneDemand(name: "first", priority: 5, required: 8, perReplica: pod), ZoneDemand(name: "second", priority: 5, required: 8, perReplica: pod)]
        let p = partition(zones: zones, pool: pool(max: 3), policy: .strict)
        #expect(p.grant("first")?.allocated == 8 && p.grant("second")?.allocated == 4)
    }

    @Test func leftoverCapacityGoesToTheGeneralPurposeZone() {
        let zones = [ZoneDemand(name: "web", priority: 100, required: 5, perReplica: pod),
                     ZoneDemand(name: "batch", priority: 1, required: 1, maximum: 20, perReplica: pod)]
        let p = partition(zones: zones, pool: NodePoolCapacity(name: "g", perNode: node, minNodes: 3, maxNodes: 5, currentNodes: 3), policy: .strict, generalPurpose: "batch")
        #expect(p.desiredNodes == 3)
        #expect(p.grant("batch")?.allocated == 7, "3 nodes hold 12; web takes 5")
        #expect(p.grant("batch")?.grantRatio == 1)
    }

    @Test func zeroAndHugeDemands() {
        let none = partition(zones: [], pool: pool(max: 5), policy: .strict)
        #expect(none.desiredNodes == 1 && none.capacitySufficient)
        let huge = partition(zones: [ZoneDemand(name: "h", priority: 1, required: 1_000_000, perReplica: pod)], pool: pool(max: 50), policy: .strict)
        #expect(!huge.capacitySufficient && huge.desiredNodes == 50 && huge.grant("h")?.allocated == 200)
        let tooBig = partition(zones: [ZoneDemand(name: "t", priority: 1, required: 1, perReplica: Resources(cpuMillis: 4000, memoryBytes: 0))], pool: pool(max: 5), policy: .strict)
        #expect(!tooBig.capacitySufficient && tooBig.grant("t")?.allocated == 0, "a replica larger than a node never fits")
    }

    /// A pool gives back at once as many nodes as every zone can lose, each node taken to hold as
    /// many of a zone's replicas as fit on it, while keeping what its load needs now.
    @Test func aPoolGivesBackAtOnceTheNodesEveryZoneCanLose() {
        let pod = Resources(cpuMillis: 500, memoryBytes: 0), node = Resources(cpuMillis: 2000, memoryBytes: 0)  // 4 a node
        let quiet = ShrinkExposure(name: "web", replicas: 20, serving: 12, ready: 20, perReplica: pod)
        #expect(shrinkStep(current: 8, target: 5, maxNodes: 24, perNode: node, zones: [quiet])
                == ShrinkStep(nodes: 6, surge: [:], waitingFor: [], surgeDoesNotFit: false), "two nodes leave 12; three would leave 8")
        let requestless = ShrinkExposure(name: "free", replicas: 5, serving: 5, ready: 5, perReplica: .zero)
        #expect(shrinkStep(current: 8, target: 5, maxNodes: 24, perNode: node, zones: [requestless]).nodes == 5)
        // Growth, and a maxNodes cut below the pool, are not this function's to hold.
        let tight = ShrinkExposure(name: "web", replicas: 20, serving: 20, ready: 20, perReplica: pod)
        #expect(shrinkStep(current: 4, target: 6, maxNodes: 10, perNode: node, zones: [tight]).nodes == 6)
        #expect(shrinkStep(current: 8, target: 5, maxNodes: 6, perNode: node, zones: [tight]).nodes == 5, "the user cut maxNodes")
    }

    /// A zone with no Ready replica is waited for while its replicas may still start; once its
    /// Deployments are past their progress deadline (stalled), it neither holds the pool nor is surged.
    @Test func aStalledZoneWithNothingReadyDoesNotHoldThePool() {
        let pod = Resources(cpuMillis: 500, memoryBytes: 0), node = Resources(cpuMillis: 2000, memoryBytes: 0)  // 4 a node
        let web = ShrinkExposure(name: "web", replicas: 24, serving: 20, ready: 24, perReplica: pod)
        var broken = ShrinkExposure(name: "broken", replicas: 6, serving: 6, ready: 0, perReplica: pod)
        #expect(shrinkStep(current: 7, target: 5, maxNodes: 24, perNode: node, zones: [web, broken]).nodes == 7, "starting, as far as anyone knows")
        broken.stalled = true
        #expect(shrinkStep(current: 7, target: 5, maxNodes: 24, perNode: node, zones: [web, broken])
                == ShrinkStep(nodes: 6, surge: [:], waitingFor: [], surgeDoesNotFit: false), "web can lose one node, broken nothing that serves")
        // Beside zones that need a surge: broken gets none, and the node does not wait for it.
        let surged = ShrinkExposure(name: "web", replicas: 24, serving: 22, ready: 26, perReplica: pod)
        var batch = ShrinkExposure(name: "batch", replicas: 2, serving: 1, ready: 2, perReplica: pod)
        let small = ShrinkExposure(name: "broken", replicas: 1, serving: 1, ready: 0, perReplica: pod, stalled: true)
        #expect(shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [surged, batch, small])
                == ShrinkStep(nodes: 8, surge: ["web": 2, "batch": 3], waitingFor: ["batch"], surgeDoesNotFit: false))
        batch.ready = 5
        #expect(shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [surged, batch, small]).nodes == 7)
        // A stalled zone with one replica Ready, short of its load, keeps it.
        broken.ready = 1
        #expect(shrinkStep(current: 7, target: 5, maxNodes: 24, perNode: node, zones: [web, broken]).nodes == 7)
    }

    /// When not even one node can go, the zones it could leave short are surged by what they would
    /// lack; the node waits for the surge to be Ready, then goes with it.
    @Test func aNodeThatWouldLeaveTheLoadShortGoesAfterASurgeIsReady() {
        let pod = Resources(cpuMillis: 500, memoryBytes: 0), node = Resources(cpuMillis: 2000, memoryBytes: 0)
        // 24 replicas on 7 nodes, 6 would hold them; the load needs 22. A node could take 4: surge 2.
        var web = ShrinkExposure(name: "web", replicas: 24, serving: 22, ready: 24, perReplica: pod)
        let batch = ShrinkExposure(name: "batch", replicas: 2, serving: 1, ready: 2, perReplica: pod)
        let starting = shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [web, batch])
        #expect(starting == ShrinkStep(nodes: 8, surge: ["web": 2, "batch": 3], waitingFor: ["web", "batch"], surgeDoesNotFit: false))
        web.ready = 26
        var batchReady = batch
        batchReady.ready = 5
        #expect(shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [web, batchReady]).nodes == 7, "both surges Ready: the node goes")
        #expect(shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [web, batch]).waitingFor == ["batch"])
        // While an UpdateWindow's surge is in flight (a node is being drained), the pool waits, unsurged.
        var updating = web
        updating.extra = 2
        #expect(shrinkStep(current: 8, target: 7, maxNodes: 24, perNode: node, zones: [updating, batchReady])
                == ShrinkStep(nodes: 8, surge: [:], waitingFor: ["web"], surgeDoesNotFit: false))
        // A node went without a surge (24 replicas, 4 a node, the load needs 20) and its 4 pods
        // are not replaced yet: only the 20 Ready ones serve, so the next node waits for them,
        // though the plan's 24 could lose one; once they are Ready, it goes.
        let cut = ShrinkExposure(name: "web", replicas: 24, serving: 20, ready: 20, perReplica: pod)
        #expect(shrinkStep(current: 7, target: 5, maxNodes: 24, perNode: node, zones: [cut])
                == ShrinkStep(nodes: 7, surge: [:], waitingFor: ["web"], surgeDoesNotFit: false))
        var replaced = cut
        replaced.ready = 24
        #expect(shrinkStep(current: 7, target: 5, maxNodes: 24, perNode: node, zones: [replaced]) == ShrinkStep(nodes: 6, surge: [:], waitingFor: [], surgeDoesNotFit: false))
        // A zone whose replicas take no room on a node is never waited for.
        let requestless = ShrinkExposure(name: "free", replicas: 5, serving: 5, ready: 0, perReplica: .zero)
        #expect(shrinkStep(current: 7, target: 6, maxNodes: 24, perNode: node, zones: [replaced, requestless]).nodes == 6)
        // No room on the nodes there are for the surge: the pool keeps them.
        let full = ShrinkExposure(name: "web", replicas: 27, serving: 27, ready: 27, perReplica: pod)
        #expect(shrinkStep(current: 7, target: 6, maxNodes: 24, perNode: node, zones: [full])
                == ShrinkStep(nodes: 7, surge: [:], waitingFor: [], surgeDoesNotFit: true), "27 + 4 do not fit on 28 places")
    }
}
