import Forecasting
import ForesightAPI
import Foundation
@testable import Simulation
import Testing
import TestSupport

/// A scenario of one zone over a flat or stepped trace, written inline (traces supplied in memory).
func scenario(_ yaml: String, trace: TimeSeries) throws -> Scenario {
    try Scenario(yaml: yaml, source: "test", directory: "/nonexistent", traces: ["t": trace])
}

/// The replay of 2026-01-06 (a Tuesday), one day of history before it and a daily season, of the
/// pool, zones and window that `lines` give.
func oneDayReplay(_ lines: String, trace: TimeSeries) throws -> Scenario {
    try scenario(lines + "\nstart: \"2026-01-06 00:00:00\"\ndays: 1\nhistory: 1d\nseasons: [1d]", trace: trace)
}

/// `days` of one-minute rows from 2026-01-05 (a Monday) 00:00, value `f(minute)`.
func minutes(days: Int, _ f: (Int) -> Double) -> TimeSeries {
    let t0 = TimestampParser.parse("2026-01-05 00:00:00")!
    return TimeSeries(times: (0..<(days * 1440)).map { t0 + Int64($0) * 60 }, values: (0..<(days * 1440)).map(f))
}

@Suite struct VirtualClusterTests {
    /// One node of 1 CPU, pods of 500m: two fit, the third waits; Ready after the start delay.
    @Test func podsArePlacedWhereTheyFitAndReadyAfterTheirDelay() {
        var c = VirtualCluster(cpuPerReplica: [500], podStartDelay: [60], nodes: 1, cpuPerNode: 1000)
        c.reconcile(desired: [3], now: 0)
        #expect(c.schedule(now: 0) == 1, "the third does not fit")
        #expect(c.census(at: 59).ready == [0] && c.census(at: 60).ready == [2])
        c.addNode(cpuMillis: 1000, now: 0, delay: 300)
        #expect(c.schedule(now: 299) == 1, "the new node is not Ready before its provisioning delay")
        #expect(c.schedule(now: 300) == 0)
        #expect(c.census(at: 360).ready == [3])
        c.account(dt: 60, now: 360)
        #expect(c.nodeSeconds == 120 && c.replicaSeconds == 180, "two nodes and three pods for a minute")
    }

    /// Scaling down removes pending pods first, then the newest.
    @Test func aScaleDownRemovesPendingPodsFirst() {
        var c = VirtualCluster(cpuPerReplica: [500], podStartDelay: [0], nodes: 1, cpuPerNode: 1000)
        c.reconcile(desired: [3], now: 0)
        c.schedule(now: 0)
        c.reconcile(desired: [2], now: 10)
        #expect(c.pods.values.allSatisfy { $0.node != nil }, "the pending pod went first")
        #expect(c.census(at: 10).regular == [2])
    }

    /// An eviction counts against the pod; its replacement is a new pod, placed elsewhere.
    @Test func anEvictedPodIsReplacedAndCounted() {
        var c = VirtualCluster(cpuPerReplica: [500], podStartDelay: [30], nodes: 2, cpuPerNode: 1000)
        c.reconcile(desired: [2], now: 0)
        c.schedule(now: 0)
        let node = c.pods.values.first!.node!
        c.setCordoned(node, true)
        for p in c.podIDs(on: node) { c.evict(p, now: 100) }
        #expect(c.census(at: 100).displaced == [1], "owed before the ReplicaSet makes the replacement")
        c.reconcile(desired: [2], now: 100)
        c.schedule(now: 100)
        #expect(c.podIDs(on: node).isEmpty)
        #expect(c.census(at: 100).ready == [1] && c.census(at: 130).ready == [2], "the replacement is Ready 30 s later")
        #expect(c.census(at: 100).displaced == [1] && c.census(at: 130).displaced == [0])
        #expect(c.census(at: 100).evicted == [1] && c.census(at: 130).evicted == [0], "an eviction took it, until its replacement is Ready")
        let replacement = c.pods.values.first { $0.node != node }!
        c.removeNode(replacement.node!, now: 200)
        #expect(c.census(at: 200).displaced == [2] && c.census(at: 200).evicted == [0], "the Ready replacement is the removed node's loss, not the eviction's")
        #expect(c.evictions.count == c.evictions.values.reduce(0, +), "one eviction per evicted pod")
    }

    /// Displaced replicas are the Ready ones an eviction or a removed node took, until a
    /// replacement is Ready: not replicas still starting for a scale-up, not a pod evicted before
    /// it was Ready, and not a replacement the ReplicaSet no longer wants.
    @Test func onlyReadyReplicasTakenAreDisplaced() {
        var c = VirtualCluster(cpuPerReplica: [500, 500], podStartDelay: [30, 30], nodes: 3, cpuPerNode: 1000)
        c.reconcile(desired: [2, 1], now: 0)
        c.schedule(now: 0)
        c.reconcile(desired: [4, 1], now: 40)
        c.schedule(now: 40)
        #expect(c.census(at: 40).ready == [2, 1] && c.census(at: 40).displaced == [0, 0], "a scale-up starting is no dip")
        let fresh = c.pods.values.first { $0.zone == 0 && $0.readyAt > 40 }!
        c.evict(fresh.id, now: 41)
        let readyOne = c.pods.values.first { $0.zone == 1 }!
        c.removeNode(readyOne.node!, now: 41)
        let census = c.census(at: 41)
        #expect(census.displaced[1] == 1 && census.evicted[1] == 0, "the zone-1 replica lost with its node, not evicted")
        #expect(census.evicted[0] == 0, "the evicted zone-0 pod was not Ready")
        #expect(census.displaced[0] == c.pods.values.filter { $0.zone == 0 && $0.replacing && $0.readyAt > 41 }.count,
                "zone 0 lost only what the removed node held Ready; the evicted pod was still starting")
        c.reconcile(desired: [0, 1], now: 42)
        #expect(c.census(at: 42).displaced[0] == 0, "a replacement scaled away is owed no more")
        c.schedule(now: 42)
        #expect(c.census(at: 72).displaced == [0, 0] && c.census(at: 72).ready == [0, 1])
    }
}

@Suite(.offThePool) struct ReplayAccountingTests {
    /// One node, one replica, a constant load of half what it serves: nothing unserved; node and
    /// replica hours are the replay's length (static keeps one of each).
    @Test func aConstantLoadOnOneNode() throws {
        let s = try scenario("""
        nodePool: {initialNodes: 1, minNodes: 1, maxNodes: 1, cpuPerNode: "1"}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, minReplicas: 1, maxReplicas: 1}]
        start: "2026-01-06 00:00:00"
        days: 1
        history: 1d
        """, trace: minutes(days: 3) { _ in 5 })
        let run = Replay(scenario: s).run(.static)
        #expect(run.figures.unservedShare == 0 && run.figures.unservedMinutes == 0)
        #expect(abs(run.figures.nodeHours - 24) < 1e-9 && abs(run.figures.replicaHours - 24) < 1e-9)
        #expect(run.figures.windowUnservedShare == nil && run.figures.nodesNotUpdated == nil)
    }

    /// The load steps from 5 to 35 at 12:00; one replica serves 10 and a node holds two. The
    /// reactive policy needs new nodes (10 minutes to provision) and pods (1 minute to start):
    /// unserved from 12:00 until they are Ready. Hand-computed bounds: at least the provisioning
    /// delay, at most it plus the start delay and two controller steps.
    @Test func aScaleUpDelayedByProvisioningIsUnservedMeanwhile() throws {
        let s = try scenario("""
        nodePool: {initialNodes: 1, minNodes: 1, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 10m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 1, maxReplicas: 10, targetUtilization: 1}]
        start: "2026-01-06 00:00:00"
        days: 1
        history: 1d
        """, trace: minutes(days: 3) { m in m % 1440 >= 720 && m % 1440 < 1080 ? 35 : 5 })
        let run = Replay(scenario: s).run(.reactive)
        #expect(run.figures.unservedMinutes >= 10 && run.figures.unservedMinutes <= 14, "\(run.figures.unservedMinutes) minutes")
        #expect(run.figures.unservedShare > 0)
    }

    /// Two nodes of 2 CPU hold five replicas of 500m (three and two). A node's surge (two or three
    /// pods) fits on the pool's CPU counted over both nodes, but not on the open one: Foresight's
    /// pool adds a node while one is cordoned, so each surge is placed and Ready before its node
    /// is drained. Without the node, the surge would wait and its update fail.
    @Test func aSurgeWithNoRoomOnTheOpenNodesGetsANode() throws {
        let s = try oneDayReplay("""
        nodePool: {initialNodes: 2, minNodes: 2, maxNodes: 4, cpuPerNode: "2", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 5, maxReplicas: 5, buffer: "0"}]
        updateWindow: {start: "2026-01-06 10:00:00", duration: 4h, maxUnavailable: 1, updateTime: 10m}
        """, trace: minutes(days: 3) { _ in 40 })
        let run = Replay(scenario: s).run(.foresight)
        #expect(run.figures.nodesNotUpdated == 0, "\(run.figures)")
        #expect(run.figures.maxWindowCapacityDip == 0 && run.figures.windowUnservedShare == 0)
        #expect(run.figures.evictionsPerPod == 1)
    }

    /// Four nodes for three replicas that two hold, and a window opening at once: the pool gives no
    /// node back while the window has nodes still to update (as the controller's plan, told so by
    /// their `update-pending` taints), then shrinks inside the window once they are done, each node
    /// given back behind a surge for its pod (the load needs all three), which is no dip.
    @Test func thePoolIsHeldUntilTheWindowsNodesAreUpdated() throws {
        let s = try oneDayReplay("""
        nodePool: {initialNodes: 4, minNodes: 1, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 3, maxReplicas: 3, buffer: "0"}]
        updateWindow: {start: "2026-01-06 00:00:00", duration: 8h, maxUnavailable: 1, updateTime: 10m}
        """, trace: minutes(days: 3) { _ in 25 })
        let run = Replay(scenario: s).run(.foresight)
        #expect(run.figures.nodesNotUpdated == 0, "\(run.figures)")
        let start = s.start, hours = try #require(run.figures.updateMakespanHours)
        let updating = run.timeline.filter { $0.time >= start && Double($0.time - start) < hours * 3600 }
        #expect(!updating.isEmpty && updating.allSatisfy { $0.nodes == 4 }, "\(updating.map(\.nodes))")
        let windowEnd = start + 8 * 3600
        #expect(run.timeline.contains { $0.time < windowEnd && $0.nodes < 4 }, "the pool shrinks once the window's nodes are done")
        #expect(run.figures.maxWindowCapacityDip == 0 && run.figures.windowUnservedShare == 0, "\(run.figures)")
    }

    /// Four nodes for five replicas that three hold, the load needing one of them: once the
    /// window's nodes are done, the pool gives a node back without a surge (the zone keeps what its
    /// load needs), which takes Ready replicas while the window is open: a dip in the window, none
    /// of it the update's.
    @Test func aNodeGivenBackInAWindowIsADipButNotTheUpdates() throws {
        let s = try oneDayReplay("""
        nodePool: {initialNodes: 4, minNodes: 1, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 5, maxReplicas: 5, buffer: "0"}]
        updateWindow: {start: "2026-01-06 00:00:00", duration: 8h, maxUnavailable: 1, updateTime: 10m}
        """, trace: minutes(days: 3) { _ in 5 })
        let run = Replay(scenario: s).run(.foresight)
        #expect(run.figures.nodesNotUpdated == 0 && run.figures.windowUnservedShare == 0, "\(run.figures)")
        #expect((run.figures.maxWindowCapacityDip ?? 0) > 0 && run.figures.maxUpdateCapacityDip == 0, "\(run.figures)")
    }

    /// The update is released when its first window opens: the nodes a load step at 06:00 adds
    /// (one node to three) come without it, and the 10:00 window updates all three, one at a time,
    /// 10 minutes each. (Nodes added before any window had come with the update already.)
    @Test func nodesAddedBeforeTheFirstWindowNeedTheUpdate() throws {
        let s = try oneDayReplay("""
        nodePool: {initialNodes: 1, minNodes: 1, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 1, maxReplicas: 8, targetUtilization: 1}]
        updateWindow: {start: "2026-01-06 10:00:00", duration: 4h, maxUnavailable: 1, updateTime: 10m}
        """, trace: minutes(days: 3) { m in m % 1440 >= 360 ? 45 : 5 })
        let kured = Replay(scenario: s).run(.kured)
        #expect(kured.figures.nodesNotUpdated == 0, "\(kured.figures)")
        #expect((kured.figures.updateMakespanHours ?? 0) >= 0.5, "three nodes of 10 minutes each, one at a time: \(kured.figures)")
    }

    /// A load step inside a window, with no node to update (the reactive policy updates none): the
    /// replicas starting for it leave load unserved, but nothing was taken, so nothing dipped.
    @Test func aScaleUpInsideAWindowIsNoDip() throws {
        let s = try oneDayReplay("""
        nodePool: {initialNodes: 4, minNodes: 4, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 3m, minReplicas: 1, maxReplicas: 8, targetUtilization: 1}]
        updateWindow: {start: "2026-01-06 10:00:00", duration: 4h}
        """, trace: minutes(days: 3) { m in m % 1440 >= 720 ? 70 : 5 })
        let reactive = Replay(scenario: s).run(.reactive)
        #expect((reactive.figures.windowUnservedShare ?? 0) > 0, "the step is served late")
        #expect(reactive.figures.maxWindowCapacityDip == 0, "\(reactive.figures)")
    }

    /// A drain with and without surge: kured evicts first, so the node's pods are unserved until
    /// their replacements start; Foresight's surge is Ready before the eviction, so nothing is.
    @Test func aDrainWithSurgeKeepsCapacityAndWithoutItDips() throws {
        let yaml = """
        nodePool: {initialNodes: 3, minNodes: 3, maxNodes: 3, cpuPerNode: "1", provisioningDelay: 5m}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 3m, minReplicas: 4, maxReplicas: 4, targetUtilization: 1, buffer: "0"}]
        updateWindow: {start: "2026-01-06 10:00:00", duration: 4h, maxUnavailable: 1, updateTime: 10m}
        """
        let s = try oneDayReplay(yaml, trace: minutes(days: 3) { _ in 40 })
        let kured = Replay(scenario: s).run(.kured)
        let foresight = Replay(scenario: s).run(.foresight)
        #expect(kured.figures.nodesNotUpdated == 0 && foresight.figures.nodesNotUpdated == 0, "every node updated")
        #expect((kured.figures.windowUnservedShare ?? 0) > 0, "evicting first leaves the load short while replacements start")
        #expect(kured.figures.maxWindowCapacityDip ?? 0 > 0)
        #expect(kured.figures.maxUpdateCapacityDip == kured.figures.maxWindowCapacityDip, "kured's dip is all its drains'")
        #expect(foresight.figures.windowUnservedShare == 0, "the surge was Ready before the eviction: \(foresight.figures)")
        #expect(foresight.figures.maxWindowCapacityDip == 0 && foresight.figures.maxUpdateCapacityDip == 0, "nor did capacity dip")
        #expect(foresight.figures.evictionsPerPod == 1, "no pod moved twice")
    }
}

/// What a trace's absent rows mean to the replay's load.
@Suite struct TraceGapTests {
    let pool = """
    nodePool: {initialNodes: 2, minNodes: 1, maxNodes: 4, cpuPerNode: "1"}
    zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, minReplicas: 1, maxReplicas: 10, targetUtilization: 1}]
    """

    func loads(_ s: Scenario, at times: [String]) -> [Double] {
        let z = s.zones[0]
        var cursor = LoadCursor(series: z.load, step: Scenario.typicalStep(z.load), calendar: z.calendar)
        return times.map { cursor.value(at: TimestampParser.parse($0)!) }
    }

    /// Rows absent at times the trace observes are missing data: the load runs straight between
    /// the rows around the gap, and the replay serves it; it did not drop to nothing for the hour.
    @Test func anHourMissingFromATraceIsFilledNotTakenAsNoLoad() throws {
        // 2026-01-06 10:00–10:59 absent; 20 before it, 40 from 11:00.
        let whole = minutes(days: 3) { m in m < 1440 + 660 ? 20 : 40 }
        let gap = (1440 + 600)..<(1440 + 660)
        let keep = whole.times.indices.filter { !gap.contains($0) }
        let trace = TimeSeries(times: keep.map { whole.times[$0] }, values: keep.map { whole.values[$0] })
        let s = try oneDayReplay(pool, trace: trace)
        let v = loads(s, at: ["2026-01-06 09:59:00", "2026-01-06 10:00:00", "2026-01-06 10:30:00", "2026-01-06 10:59:00", "2026-01-06 11:00:00"])
        #expect(v[0] == 20 && v[4] == 40)
        #expect(abs(v[1] - (20 + 20.0 / 61)) < 1e-9 && abs(v[2] - (20 + 20.0 * 31 / 61)) < 1e-9 && abs(v[3] - (20 + 20.0 * 60 / 61)) < 1e-9, "\(v)")
        // On a steady load with the same hour missing, reactive sizing keeps the replicas through
        // the gap, and none of the load is unserved when the rows come back. Read as an hour
        // without load, the gap had it scale down and fall short afterwards.
        let steady = TimeSeries(times: trace.times, values: trace.times.map { _ in 35 })
        let run = Replay(scenario: try oneDayReplay(pool, trace: steady)).run(.reactive)
        #expect(run.figures.unservedMinutes == 0, "\(run.figures.unservedMinutes) minutes unserved")
        #expect(abs(run.figures.replicaHours - 4 * 24) < 0.1, "four replicas all day: \(run.figures.replicaHours)")
    }

    /// Times the trace never observes (business hours only: nothing from 21:00 to 07:00 on any
    /// day) have no load; a missing row inside the hours it keeps is still filled.
    @Test func timesATraceNeverObservesHaveNoLoad() throws {
        let hours = minutes(days: 4) { _ in 30 }
        let keep = hours.times.indices.filter { i in
            let minuteOfDay = i % 1440
            return minuteOfDay >= 420 && minuteOfDay < 1260 && !(i >= 2 * 1440 + 720 && i < 2 * 1440 + 725)  // 2026-01-07 12:00–12:04 absent
        }
        let trace = TimeSeries(times: keep.map { hours.times[$0] }, values: keep.map { i in 10 + Double(i % 1440) / 100 })
        let s = try scenario(pool + "\nstart: \"2026-01-07 00:00:00\"\ndays: 1\nhistory: 1d\nseasons: [1d]", trace: trace)
        #expect(s.zones[0].calendar.stepsPerDay == 840, "fourteen hours a day of one-minute steps")
        let v = loads(s, at: ["2026-01-07 06:59:00", "2026-01-07 07:00:00", "2026-01-07 12:02:00", "2026-01-07 20:59:00", "2026-01-07 23:00:00"])
        #expect(v[0] == 0 && v[4] == 0, "closed: \(v)")
        #expect(v[1] == 14.2 && v[3] == 10 + 1259.0 / 100)
        #expect(abs(v[2] - (10 + 719.0 / 100 + (725.0 - 719) / 100 * 3 / 6)) < 1e-9, "filled between 11:59 and 12:05: \(v[2])")
    }

    /// Random five-minute traces of a week with random holes (single steps, runs of up to three
    /// hours), read minute by minute: at a row's step the load is the row's value; in a hole, at a
    /// step the trace's calendar observes, it lies between the values of the rows around it and,
    /// where every step of the day is observed, moves by equal amounts per step; at a step the
    /// calendar does not observe (a slot of the day absent on every day) there is none.
    @Test func filledLoadStaysBetweenTheRowsAroundAGap() {
        var rng = SplitMix(seed: 20261207)
        let t0 = TimestampParser.parse("2026-01-05 00:00:00")!
        var filled = 0, closed = 0, continuous = 0
        for round in 0..<30 {
            var times: [Int64] = [], values: [Double] = []
            var k = 0
            while k < 7 * 288 {
                if k > 0, rng.next(12) == 0 { k += 1 + rng.next(rng.next(4) == 0 ? 36 : 2); continue }
                times.append(t0 + Int64(k) * 300); values.append(Double(rng.next(1000)) / 10)
                k += 1
            }
            let series = TimeSeries(times: times, values: values)
            guard let calendar = try? ObservationCalendar.infer(times: times) else { Issue.record("round \(round): no calendar"); continue }
            var cursor = LoadCursor(series: series, step: 300, calendar: calendar)
            if calendar.isContinuous { continuous += 1 }
            var i = 0
            for t in stride(from: times[0], to: times.last!, by: 60) {
                while times[i + 1] <= t { i += 1 }
                let v = cursor.value(at: t)
                if t - times[i] < 300 {
                    #expect(v == values[i], "round \(round) at \(t)")
                } else if calendar.position(of: t - (t - t0) % 300) == nil {
                    #expect(v == 0, "round \(round) at \(t): a step the trace never observes")
                    closed += 1
                } else {
                    let low = min(values[i], values[i + 1]), high = max(values[i], values[i + 1])
                    #expect(v >= low - 1e-9 && v <= high + 1e-9, "round \(round) at \(t): \(v) outside \(low)…\(high)")
                    if calendar.isContinuous {
                        let steps = Double((times[i + 1] - times[i]) / 300), done = Double((t - times[i]) / 300)
                        #expect(abs(v - (values[i] + (values[i + 1] - values[i]) * done / steps)) < 1e-9, "round \(round) at \(t)")
                    }
                    filled += 1
                }
            }
        }
        #expect(filled > 10_000 && continuous > 10, "holes were read: \(filled) minutes filled, \(closed) closed, \(continuous) of 30 traces continuous")
    }

    /// Rows of the same time are averaged, as the forecasting engine merges them, whatever their order.
    @Test func rowsOfTheSameTimeAreAveraged() {
        let merged = Scenario.inTimeOrder(TimeSeries(times: [120, 60, 60, 180, 0], values: [3, 1, 2, .nan, 7]))
        #expect(merged.times == [0, 60, 120] && merged.values == [7, 1.5, 3])
    }
}

/// The replay's timeline, sampled every minute when asked, and as CSV.
@Suite struct TimelineTests {
    /// The load steps from 5 to 35 at 12:00 (the reactive test above): a sample every minute, each
    /// zone's load, Ready and wanted replicas in it, and the CSV's rows agree with the samples.
    @Test func everyMinuteOfAReplayAsCSV() throws {
        let s = try scenario("""
        nodePool: {initialNodes: 1, minNodes: 1, maxNodes: 4, cpuPerNode: "1", provisioningDelay: 10m}
        zones: [{name: "api, v2", trace: t, perReplica: 10, cpuPerReplica: 500m, podStartDelay: 1m, minReplicas: 1, maxReplicas: 10, targetUtilization: 1}]
        start: "2026-01-06 00:00:00"
        days: 1
        history: 1d
        """, trace: minutes(days: 3) { m in m % 1440 >= 720 && m % 1440 < 1080 ? 35 : 5 })
        let run = Replay(scenario: s, timelineEvery: 60).run(.reactive)
        #expect(run.timeline.count == 1440)
        #expect(zip(run.timeline, run.timeline.dropFirst()).allSatisfy { $1.time - $0.time == 60 })
        let noon = try #require(run.timeline.first { $0.time == TimestampParser.parse("2026-01-06 12:00:00")! })
        #expect(noon.zoneLoad == [35] && noon.load == 35 && noon.zoneReady[0] < 4, "short at noon: \(noon.zoneReady)")
        let evening = try #require(run.timeline.first { $0.time == TimestampParser.parse("2026-01-06 13:00:00")! })
        #expect(evening.zoneReady == [4] && evening.zoneDesired == [4] && evening.capacity == 40)
        #expect(Replay(scenario: s, timelineEvery: 600).run(.reactive).timeline.count == 144)

        let csv = TimelineCSV.render(scenario: s, runs: [("reactive", run)]).split(separator: "\n").map(String.init)
        #expect(csv.count == 1441)
        #expect(csv[0] == #"time,policy,load,capacity,nodes,nodes_out,"api, v2 load","api, v2 ready","api, v2 desired""#)
        #expect(csv[1 + 13 * 60] == "2026-01-06 13:00:00,reactive,35,40,\(evening.nodes),0,35,4,4")
        #expect(TimelineCSV.number(2.5) == "2.5" && TimelineCSV.number(1 / 3) == "0.3333" && TimelineCSV.number(-0.00001) == "0")
    }
}

@Suite(.offThePool) struct ScenarioErrorTests {
    func problem(_ yaml: String, trace: TimeSeries = minutes(days: 3) { _ in 1 }) -> String {
        do { _ = try scenario(yaml, trace: trace); return "" } catch { return "\(error)" }
    }

    let base = """
    nodePool: {maxNodes: 3, cpuPerNode: "1"}
    zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m}]
    history: 1d
    """

    @Test func badScenariosNameTheField() throws {
        #expect(problem(base.replacingOccurrences(of: "trace: t", with: "trace: missing.csv")).contains("zones[0].trace: no file"))
        #expect(problem(base.replacingOccurrences(of: "500m", with: "2")).contains("zones[0].cpuPerReplica"), "a replica larger than a node")
        #expect(problem(base + "\nupdateWindow: {start: \"2030-01-01 00:00:00\", duration: 1h}").contains("updateWindow never opens"))
        #expect(problem(base + "\nseasons: [1d, 150s]").contains("does not divide the season"))
        #expect(problem(base.replacingOccurrences(of: "perReplica: 10", with: "perReplica: ten")).contains("zones[0].perReplica must be a number"))
        #expect(problem(base + "\nsurprise: 1").contains("unknown key \"surprise\""))
        #expect(problem(base + "\nstart: \"2026-01-05 06:00:00\"").contains("of history is needed"))
        #expect(problem(base.replacingOccurrences(of: "nodePool: {maxNodes: 3, cpuPerNode: \"1\"}\n", with: "")).contains("nodePool is missing"))
        #expect(problem(base + "\ndays: 30").contains("past the traces' end"))
        // More than a day of missing data inside the replay: the load there was never recorded.
        let holed = minutes(days: 4) { _ in 5 }
        let kept = holed.times.indices.filter { $0 < 1440 + 600 || $0 >= 2 * 1440 + 700 }
        let long = problem(base + "\nstart: \"2026-01-06 00:00:00\"\ndays: 2", trace: TimeSeries(times: kept.map { holed.times[$0] }, values: kept.map { holed.values[$0] }))
        #expect(long.contains("zones[0].trace t has no data from 2026-01-06 09:59:00 to 2026-01-07 11:40:00") && long.contains("interpolation"), "\(long)")
        #expect(problem(base + "\nstart: \"2026-01-05 06:00:00\"", trace: TimeSeries(times: [0, 0, 0], values: [1, 2, 3])).contains("zones[0].trace"))
        // A trace file that is not a CSV of timestamp,value rows.
        let dir = NSTemporaryDirectory() + "sim-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "timestamp,value\n2026-01-05 00:00:00,1\nnot a row\n".write(toFile: dir + "/broken.csv", atomically: true, encoding: .utf8)
        do {
            _ = try Scenario(yaml: base.replacingOccurrences(of: "trace: t", with: "trace: broken.csv"), source: "test", directory: dir)
            Issue.record("a broken CSV was accepted")
        } catch {
            #expect("\(error)".contains("zones[0].trace") && "\(error)".contains("broken.csv"), "\(error)")
        }
    }

    /// Foresight's forecasts in a replay follow the controller's cadence: fitted at the start and
    /// again a `refitEvery` later, updated by every new observation of the trace in between.
    @Test(.offThePool) func foresightFitsOncePerRefitEveryAndUpdatesEveryObservation() throws {
        let start = TimestampParser.parse("2026-01-05 00:00:00")!
        let steps = 10 * 288
        let times: [Int64] = (0..<steps).map { start + Int64($0) * 300 }
        let values: [Double] = (0..<steps).map { (k: Int) -> Double in
            let phase = Double(k % 288) / 288 * 2 * Double.pi
            return 100 + 50 * sin(phase) + Double(k % 5)
        }
        let trace = TimeSeries(times: times, values: values)
        let s = try scenario("""
        nodePool: {initialNodes: 4, minNodes: 1, maxNodes: 10, cpuPerNode: "2"}
        zones: [{name: z, trace: t, perReplica: 10, cpuPerReplica: 500m, minReplicas: 1, maxReplicas: 40}]
        start: "2026-01-13 00:00:00"
        days: 1
        history: 7d
        seasons: [1d]
        refitEvery: 6h
        """, trace: trace)
        #expect(ForesightState.cadence(s, zone: 0).step == 300)
        var state = ForesightState()
        let t0 = s.start
        state.advance(s, at: t0)
        let fittedAt = try #require(state.fittedAt[0])
        #expect(fittedAt == t0 && state.forecasts[0]?.updater?.observationsSinceFit == 0)
        // An hour later (minute by minute, as the replay steps): twelve observations taken, no fit.
        for minute in 1...60 { state.advance(s, at: t0 + Int64(minute) * 60) }
        #expect(state.fittedAt[0] == fittedAt)
        #expect(state.forecasts[0]?.updater?.observationsSinceFit == 12)
        #expect(state.forecasts[0]?.times.first == t0 + 3600)
        // The band keeps the newest forecast made before each time.
        #expect(state.band.times == state.band.times.sorted() && Set(state.band.times).count == state.band.times.count)
        // Six hours after the fit, a fit again.
        state.advance(s, at: t0 + 6 * 3600)
        #expect(state.fittedAt[0] == t0 + 6 * 3600)
        #expect(state.forecasts[0]?.updater?.observationsSinceFit == 0)
    }

    @Test func theBundledScenariosAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = root + "/examples/simulate"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 2)
        for f in files {
            let s = try Scenario(yaml: String(contentsOfFile: dir + "/" + f, encoding: .utf8), source: f, directory: dir)
            #expect(s.update != nil && s.end - s.start >= 7 * 86400, "\(f)")
        }
    }
}

@Suite(.offThePool) struct EmbeddedScenarioTests {
    /// What `foresight simulate` replays without a scenario (the README's first command), with the
    /// same trace from `Tests/Data`: it fits on a ZonePlan's default history, so its forecasts are
    /// the weekly models' (not a repeated cycle), and Foresight serves the load on fewer node-hours
    /// than the reactive policy.
    @Test func theEmbeddedScenarioForecastsAsADefaultZonePlanAndServesTheLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let trace = try CSVSeriesReader.read(file: root + "/Tests/Data/taylor.csv")
        let s = try Scenario(yaml: Scenario.embeddedDefault, source: "the embedded scenario", directory: root, traces: [Scenario.embeddedTrace: trace])
        #expect(s.history == ZonePlan.Forecast.defaultHistory)
        #expect(s.start == trace.times[0] + s.history, "the replay starts as soon as the history is behind it")
        #expect(s.end - s.start == 28 * 86400 && s.update != nil)
        var state = ForesightState()
        state.advance(s, at: s.start)
        let model = try #require(state.forecasts[0]?.model)
        #expect(model.contains("decomposition") || model.contains("holt-winters"), "the weekly models were fitted: \(model)")
        let replay = Replay(scenario: s)
        let foresight = replay.run(.foresight).figures, reactive = replay.run(.reactive).figures
        #expect(foresight.unservedShare < 1e-5 && foresight.windowUnservedShare == 0, "\(foresight)")
        #expect(foresight.nodesNotUpdated == 0)
        #expect(foresight.nodeHours < reactive.nodeHours, "\(foresight.nodeHours) against \(reactive.nodeHours)")
    }
}

/// Mutated scenarios (lines dropped, repeated, cut or given odd values) are refused with an error
/// that says where (the source and the line) and what, or they replay under every policy with
/// figures that are numbers. Never a crash, never a hang.
@Suite(.offThePool) struct ScenarioFuzzTests {
    /// Every section and most keys, over a trace with a daily shape (peaks at noon).
    let text = """
    name: fuzzed
    nodePool: {initialNodes: 2, minNodes: 1, maxNodes: 6, cpuPerNode: "2", provisioningDelay: 5m}
    zones:
    - name: web
      priority: 100
      trace: t
      scale: 1
      perReplica: 10
      cpuPerReplica: 500m
      podStartDelay: 1m
      minReplicas: 1
      maxReplicas: 40
      targetUtilization: 0.8
      buffer: 10%
      quantile: 0.9
    updateWindow:
      start: "2026-01-07 10:00:00"
      duration: 2h
      maxUnavailable: 1
      updateTime: 10m
      failureShare: 0.1
    start: "2026-01-07 00:00:00"
    days: 1
    history: 2d
    seasons: [1d]
    refitEvery: 6h
    horizon: 1h
    seed: 3
    """
    let trace = minutes(days: 4) { m in 40 + 30 * sin(Double(m % 1440) / 1440 * 2 * .pi - .pi / 2) }

    @Test func mutatedScenariosAreRefusedWithTheirLineOrReplayed() throws {
        // The text as written replays: the mutations below start from a valid scenario.
        _ = try scenario(text, trace: trace)
        let values = TextMutations.oddValues + ["500m", "0s", "100%", "1000000", "-0.5", "2026-01-07 00:00:00", "t"]
        var refused = 0, replayed = 0
        for (i, yaml) in TextMutations.of(text, seed: 7, count: 400, values: values).enumerated() {
            let s: Scenario
            do {
                s = try scenario(yaml, trace: trace)
            } catch let e as ScenarioError {
                refused += 1
                // "test, line L column C: what", or the parser's own message with the source.
                #expect(e.problem.hasPrefix("test") && e.problem.count > 12, "mutation \(i): \(e.problem)\n\(yaml)")
                continue
            } catch {
                Issue.record("mutation \(i): not a ScenarioError: \(error)\n\(yaml)")
                continue
            }
            // Replaying is the costly part (a fit per policy run in a debug build): five of those that parse, under every policy.
            guard replayed < 5, i % 5 == 0 else { continue }
            replayed += 1
            let replay = Replay(scenario: s)
            for policy in Policy.allCases {
                let f = replay.run(policy).figures
                #expect(f.unservedShare >= 0 && f.unservedShare <= 1 && f.nodeHours.isFinite && f.nodeHours >= 0 && f.replicaHours.isFinite,
                        "mutation \(i), \(policy): \(f)\n\(yaml)")
            }
        }
        print("refused \(refused) of 400, replayed \(replayed)")
        #expect(refused > 100 && replayed == 5, "refused \(refused), replayed \(replayed)")
    }
}
