import Foundation
import Testing
@testable import NodeSimulator

@Suite struct LeaseScheduleTests {
    let t0 = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    @Test func eachNodeRenewsOnItsOwnClock() {
        var s = LeaseSchedule(interval: .seconds(10), leaseDuration: .seconds(40))
        for name in ["a", "b", "c"] { s.add(name, now: at(0)) }
        #expect(s.start(now: at(0), limit: 64) == ["a", "b", "c"])
        // a's renewal is quick, b's slow; c's fails.
        s.finished("a", started: at(0), now: at(0.1), succeeded: true)
        s.finished("b", started: at(0), now: at(3), succeeded: true)
        s.finished("c", started: at(0), now: at(0.5), succeeded: false)
        #expect(s.start(now: at(1), limit: 64) == [])
        // A failure is retried a second after it ended.
        #expect(s.start(now: at(1.5), limit: 64) == ["c"])
        s.finished("c", started: at(1.5), now: at(1.6), succeeded: true)
        // Next due: interval after the start of the last success, whatever it took.
        #expect(s.start(now: at(9.9), limit: 64) == [])
        #expect(s.start(now: at(10), limit: 64) == ["a", "b"])
        #expect(s.start(now: at(11.5), limit: 64) == ["c"])
    }

    @Test func theMostOverdueGoFirstWithinTheLimit() {
        var s = LeaseSchedule(interval: .seconds(10), leaseDuration: .seconds(40))
        for (i, name) in ["n0", "n1", "n2", "n3"].enumerated() {
            s.add(name, now: at(0))
            _ = s.start(now: at(0), limit: 64)
            // Successive starts 1 s apart: n0 is due first.
            s.finished(name, started: at(Double(i)), now: at(Double(i) + 0.1), succeeded: true)
        }
        #expect(s.start(now: at(20), limit: 2) == ["n0", "n1"])
        // Two in flight: no room until one finishes.
        #expect(s.start(now: at(20), limit: 2) == [])
        s.finished("n1", started: at(20), now: at(20.2), succeeded: true)
        #expect(s.start(now: at(20.2), limit: 2) == ["n2"])
    }

    @Test func behindAndLatenessAreMeasuredPerNode() {
        var s = LeaseSchedule(interval: .seconds(10), leaseDuration: .seconds(40))
        s.add("a", now: at(0))
        s.add("b", now: at(0))
        #expect(!s.behind(now: at(100)))  // nothing renewed yet: nothing to be behind on
        _ = s.start(now: at(0), limit: 64)
        s.finished("a", started: at(0), now: at(0.2), succeeded: true)
        s.finished("b", started: at(0), now: at(0.2), succeeded: true)
        #expect(!s.behind(now: at(11.2)))
        #expect(s.behind(now: at(11.3)))
        _ = s.start(now: at(10), limit: 64)
        s.finished("a", started: at(10), now: at(10.5), succeeded: true)  // gap 10.3 s: on time
        s.finished("b", started: at(10), now: at(11.5), succeeded: true)  // gap 11.3 s: late
        _ = s.start(now: at(21.5), limit: 64)
        s.finished("b", started: at(21.5), now: at(62), succeeded: true)  // gap 50.5 s: the lease expired
        #expect(s.statistics.renewals == 3)
        #expect(s.statistics.late == 2)
        #expect(s.statistics.afterExpiry == 1)
        #expect(s.statistics.worstGap == .milliseconds(50_500))
    }

    @Test func aNodeRemovedDuringItsRenewalStaysRemoved() {
        var s = LeaseSchedule(interval: .seconds(10), leaseDuration: .seconds(40))
        s.add("gone", now: at(0))
        #expect(s.start(now: at(0), limit: 64) == ["gone"])
        s.remove("gone")
        s.finished("gone", started: at(0), now: at(1), succeeded: true)
        #expect(s.due.isEmpty && s.lastRenewal.isEmpty && s.renewing.isEmpty)
        #expect(s.start(now: at(100), limit: 64) == [])
    }
}

@Suite struct PodWriteGateTests {
    let t0 = ContinuousClock.now

    @Test func writesAreCappedAndServedInOrder() {
        var gate = PodWriteGate<Int>(capacity: 2, patience: .seconds(10))
        do { let acquired = gate.tryAcquire(heartbeatsBehind: false); #expect(acquired) }
        do { let acquired = gate.tryAcquire(heartbeatsBehind: false); #expect(acquired) }
        do { let acquired = gate.tryAcquire(heartbeatsBehind: false); #expect(!acquired) }
        gate.wait(1, since: t0)
        gate.wait(2, since: t0)
        gate.wait(3, since: t0)
        do { let admitted = gate.admit(now: t0, heartbeatsBehind: false); #expect(admitted == []) }
        gate.release()
        // A newcomer does not overtake the waiters, even with a free slot.
        do { let acquired = gate.tryAcquire(heartbeatsBehind: false); #expect(!acquired) }
        do { let admitted = gate.admit(now: t0, heartbeatsBehind: false); #expect(admitted == [1]) }
        gate.release()
        gate.release()
        do { let admitted = gate.admit(now: t0, heartbeatsBehind: false); #expect(admitted == [2, 3]) }
        #expect(gate.inFlight == 2 && !gate.waiting)
    }

    @Test func writesGiveWayToLateHeartbeatsForAtMostThePatience() {
        var gate = PodWriteGate<Int>(capacity: 4, patience: .seconds(10))
        do { let acquired = gate.tryAcquire(heartbeatsBehind: true); #expect(!acquired) }
        gate.wait(1, since: t0)
        gate.wait(2, since: t0 + .seconds(5))
        #expect(gate.admit(now: t0 + .seconds(9), heartbeatsBehind: true) == [])
        // The first has waited the whole patience: it goes, the second keeps waiting.
        #expect(gate.admit(now: t0 + .seconds(10), heartbeatsBehind: true) == [1])
        #expect(gate.admit(now: t0 + .seconds(11), heartbeatsBehind: false) == [2])
        #expect(gate.inFlight == 2)
    }
}
