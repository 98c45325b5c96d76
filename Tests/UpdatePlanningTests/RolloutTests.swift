import Foundation
import KubernetesCore
import Testing
import TestSupport
import UpdatePlanning

@Suite struct RolloutTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let order = ["n3", "n1", "n0", "n2"]

    func record(_ phase: NodeUpdatePhase, attempts: Int = 1) -> NodeUpdateRecord {
        var r = NodeUpdateRecord(window: "w", target: "/", phase: .preScaling, startedAt: t0, wasUnschedulable: false, bootID: "b0", attempts: attempts)
        r.enter(phase, at: t0)
        return r
    }

    func decide(_ records: [String: NodeUpdateRecord], open: Bool = true, paused: Bool = false, expired: Bool = false, maxUnavailable: Int = 1,
                maxFailed: Int = 1, planned: [String: Date] = [:], early: (String) -> Bool = { _ in true }) -> RolloutDecision {
        decideRollout(order: order, records: records, plannedStart: planned, open: open, paused: paused, expired: expired,
                      maxUnavailable: maxUnavailable, maxFailedNodes: maxFailed, now: t0, mayStartEarly: early)
    }

    @Test func nodesStartInPlanOrderUpToMaxUnavailable() {
        #expect(decide([:]).start == ["n3"])
        #expect(decide([:], maxUnavailable: 3).start == ["n3", "n1", "n0"])
        #expect(decide(["n3": record(.draining)], maxUnavailable: 2).start == ["n1"], "one slot is taken by the node in flight")
        #expect(decide(["n3": record(.done)]).start == ["n1"])
        #expect(decide(["n3": record(.verifying), "n1": record(.updating)], maxUnavailable: 2).start.isEmpty)
    }

    @Test func nothingStartsOutsideTheWindowOrWhilePausedButFlightFinishes() {
        let closed = decide(["n3": record(.draining)], open: false)
        #expect(closed.start.isEmpty && closed.phase == .running && closed.reason == "Finishing")
        let paused = decide(["n3": record(.draining)], paused: true)
        #expect(paused.start.isEmpty && paused.phase == .paused)
        #expect(decide(["n3": record(.done)], open: false).phase == .waiting, "unfinished nodes wait for the next occurrence")
        #expect(decide(["n3": record(.done)], open: false, expired: true).phase == .expired)
        #expect(decide([:], open: false).message == "waiting for the window to open")
    }

    @Test func aNodeWaitsForItsSlotUnlessGoingEarlyIsNoWorse() {
        let later = ["n3": t0.addingTimeInterval(600)]
        #expect(decide([:], planned: later, early: { _ in false }).start.isEmpty, "the plan put it in a quieter time")
        #expect(decide([:], planned: later, early: { _ in true }).start == ["n3"])
        #expect(decide([:], planned: ["n3": t0], early: { _ in false }).start == ["n3"], "its time has come")
    }

    @Test func failedNodesAreRetriedOnceAtTheEndAndTooManyHaltTheWindow() {
        let one = decide(["n3": record(.failed)], maxFailed: 1)
        #expect(one.start == ["n1"] && one.retry.isEmpty, "a failed node waits until the others are done")
        let end = decide(["n3": record(.failed), "n1": record(.done), "n0": record(.done), "n2": record(.done)], maxFailed: 1)
        #expect(end.retry == ["n3"])
        let spent = decide(["n3": record(.failed, attempts: 2), "n1": record(.done), "n0": record(.done), "n2": record(.done)], maxFailed: 1)
        #expect(spent.retry.isEmpty && spent.phase == .failed && spent.reason == "NodesFailed")
        let halted = decide(["n3": record(.failed), "n1": record(.failed), "n0": record(.draining)], maxUnavailable: 4, maxFailed: 1)
        #expect(halted.start.isEmpty && halted.phase == .failed && halted.reason == "TooManyFailedNodes")
        #expect(halted.message.contains("1 in flight finish"))
    }

    @Test func allDoneIsCompleted() {
        let d = decide(Dictionary(uniqueKeysWithValues: order.map { ($0, record(.done)) }))
        #expect(d.phase == .completed && d.done == 4 && d.total == 4)
    }

    /// A random walk of whole windows: nodes advance, fail, the window opens and closes and is
    /// paused. Whatever happens, no more than maxUnavailable nodes are in flight, nothing starts
    /// while closed or paused, nodes start in plan order, and every window ends.
    @Test func randomRolloutsKeepTheirInvariants() {
        var rng = SplitMix(seed: 11)
        for _ in 0..<300 {
            let count = Int.random(in: 1...9, using: &rng)
            let names = (0..<count).map { "n\($0)" }.shuffled(using: &rng)
            let maxUnavailable = Int.random(in: 1...3, using: &rng), maxFailed = Int.random(in: 0...2, using: &rng)
            let failShare = Double.random(in: 0...0.4, using: &rng)
            var records: [String: NodeUpdateRecord] = [:]
            var startOrder: [String] = []
            var ended = false
            for _ in 0..<400 {
                let open = Double.random(in: 0...1, using: &rng) < 0.8, paused = Double.random(in: 0...1, using: &rng) < 0.1
                let d = decideRollout(order: names, records: records, plannedStart: [:], open: open, paused: paused, expired: false,
                                      maxUnavailable: maxUnavailable, maxFailedNodes: maxFailed, now: t0)
                if !open || paused { #expect(d.start.isEmpty && d.retry.isEmpty) }
                if d.phase == .completed || (d.phase == .failed && !records.values.contains { $0.phase.isInFlight }) { ended = true; break }
                for n in d.start { startOrder.append(n); records[n] = record(.preScaling) }
                for n in d.retry { records[n] = record(.preScaling, attempts: (records[n]?.attempts ?? 0) + 1) }
                #expect(records.values.filter { $0.phase.isInFlight }.count <= maxUnavailable)
                for (n, r) in records where r.phase.isInFlight {
                    let roll = Double.random(in: 0...1, using: &rng)
                    var next = r
                    if roll < failShare / 4 { next.enter(.failed, at: t0) } else if roll < 0.6 {
                        let all = NodeUpdatePhase.allCases
                        next.enter(all[all.firstIndex(of: r.phase)! + 1], at: t0)
                    }
                    records[n] = next
                }
            }
            #expect(ended, "a window of \(count) nodes ends")
            #expect(startOrder == names.filter { startOrder.contains($0) }, "first starts follow the plan: \(startOrder) vs \(names)")
            let failed = records.values.filter { $0.phase == .failed }.count
            if records.values.allSatisfy({ $0.phase == .done }) && records.count == count { #expect(failed == 0) }
        }
    }

    @Test func verificationNamesEveryCheckThatFails() {
        let good = VerificationFacts(ready: true, bootID: "b1", osImage: "Debian 13", kernelVersion: "6.12", handshake: "done")
        #expect(verificationProblems(good, previousBootID: "b0", targetOSImage: "Debian 13", targetKernel: "6.12", workloadProblems: []).isEmpty)
        #expect(verificationProblems(good, previousBootID: "b0", targetOSImage: nil, targetKernel: nil, workloadProblems: []).isEmpty, "no target: any OS")
        let bad = VerificationFacts(ready: false, bootID: "b0", osImage: "Debian 12", kernelVersion: "6.1", handshake: "in-progress")
        let problems = verificationProblems(bad, previousBootID: "b0", targetOSImage: "Debian 13", targetKernel: "6.12",
                                            workloadProblems: ["Deployment a/b has 1/2 available"])
        #expect(problems.count == 6, "\(problems)")
        #expect(problems.contains { $0.contains("bootID unchanged") })
        #expect(problems.contains { $0.contains("in-progress") })
        #expect(problems.last == "Deployment a/b has 1/2 available")
    }

    @Test func theSurgeLedgerNeverStacksAndGivesBackOnlyWhatItHolds() throws {
        var ledger = try SurgeLedger(annotation: nil)
        ledger.record(window: "w", node: "n1", replicas: 2)
        ledger.record(window: "w", node: "n1", replicas: 2)
        ledger.record(window: "other", node: "n1", replicas: 1)
        #expect(ledger.total == 3)
        #expect(ledger.nodes(of: "w") == ["n1"])
        ledger.record(window: "w", node: "n2", replicas: 4)
        #expect(ledger.amount(forNodes: ["n1"]) == 3, "every window's entry for the node")
        #expect(ledger.amount(forNodes: ["n2", "n3"]) == 4 && ledger.amount(forNodes: ["w"]) == 0 && ledger.amount(forNodes: []) == 0)
        ledger.remove(window: "w", node: "n2")
        let round = try SurgeLedger(annotation: ledger.encoded)
        #expect(round == ledger)
        ledger.remove(window: "w", node: "n9")
        #expect(ledger.total == 3)
        ledger.remove(window: "w", node: "n1")
        ledger.remove(window: "other", node: "n1")
        #expect(ledger.encoded == nil, "an empty ledger removes the annotation")
        #expect(throws: SurgeLedgerError.self) { try SurgeLedger(annotation: "{\"w/n\": -1}") }
        #expect(throws: SurgeLedgerError.self) { try SurgeLedger(annotation: "garbage") }
        #expect(try SurgeLedger(annotation: "").total == 0)
        // A window named as a prefix of another does not take the other's entries.
        var two = SurgeLedger()
        two.record(window: "w", node: "a", replicas: 1)
        two.record(window: "w2", node: "b", replicas: 1)
        #expect(two.nodes(of: "w") == ["a"])
    }

    @Test func aRecordSurvivesItsAnnotationAndRejectsGarbage() {
        var r = record(.draining)
        r.evictedPods = 3
        r.blockedBy = "PodDisruptionBudget a/b (pod a/p)"
        r.workloads = ["a/web"]
        #expect(NodeUpdateRecord.decode(r.encoded()) == r)
        #expect(NodeUpdateRecord.decode("{") == nil)
        #expect(NodeUpdateRecord.decode(nil) == nil)
        r.enter(.updating, at: t0.addingTimeInterval(5))
        #expect(r.blockedBy == nil && r.phaseSince == t0.addingTimeInterval(5))
        r.enter(.done, at: t0.addingTimeInterval(9))
        #expect(r.finishedAt == t0.addingTimeInterval(9))
    }

    @Test func labelSelectorStrings() throws {
        let s = try LabelSelector(parsing: "app=web, tier!=db,env in (prod, staging),!canary,team,zone notin (a)")
        #expect(s.matches(["app": "web", "env": "prod", "team": "x"]))
        #expect(!s.matches(["app": "web", "env": "prod", "team": "x", "canary": "1"]))
        #expect(!s.matches(["app": "web", "env": "dev", "team": "x"]))
        #expect(!s.matches(["app": "web", "env": "prod", "team": "x", "tier": "db"]))
        #expect(!s.matches(["app": "web", "env": "prod", "team": "x", "zone": "a"]))
        #expect(!s.matches(["app": "web", "env": "prod"]))
        #expect(try LabelSelector(parsing: "").isEmpty)
        #expect(try LabelSelector(parsing: "a==b").matchLabels == ["a": "b"])
        for bad in ["a in b", "a in (", "a=(b", "a,,b", "=b", "a in ()"] {
            #expect(throws: LabelSelectorSyntaxError.self, "\(bad)") { try LabelSelector(parsing: bad) }
        }
    }
}
