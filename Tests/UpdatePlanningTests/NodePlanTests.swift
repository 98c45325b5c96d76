import Foundation
import Testing
import TestSupport
import UpdatePlanning

@Suite struct NodePlanTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func nodes(_ loads: [Double]) -> [NodeToUpdate] { loads.enumerated().map { NodeToUpdate(name: "n\($0.offset)", predictedLoad: $0.element) } }

    @Test func byNameFillsSlotsInOrderAtMostMaxUnavailableAtOnce() {
        let spare = SpareCapacity.flat(start: t0, end: t0.addingTimeInterval(4 * 3600), step: 300)
        let plan = planUpdate(nodes([5, 1, 3, 2]).reversed(), order: .name, spare: spare, perNode: 900, maxUnavailable: 2, end: t0.addingTimeInterval(4 * 3600))
        #expect(plan.fits)
        #expect(plan.nodes.map(\.node) == ["n0", "n1", "n2", "n3"])
        #expect(plan.nodes.map { $0.start.timeIntervalSince(t0) } == [0, 0, 900, 900])
        #expect(plan.nodes.map(\.slot) == [0, 1, 2, 3])
        #expect(plan.nodes[0].eta == t0.addingTimeInterval(900))
    }

    @Test func givenOrderIsKept() {
        let spare = SpareCapacity.flat(start: t0, end: t0.addingTimeInterval(3600), step: 300)
        let plan = planUpdate(nodes([1, 1, 1]), order: .given(["n2", "n0", "n1"]), spare: spare, perNode: 600, maxUnavailable: 1, end: t0.addingTimeInterval(3600))
        #expect(plan.nodes.map(\.node) == ["n2", "n0", "n1"])
    }

    @Test func busyNodesGoWhenSpareCapacityIsLargest() {
        // Spare capacity over 8 steps of 15 min: a quiet trough in steps 4–5.
        let spare = SpareCapacity(start: t0, step: 900, values: [10, 10, 20, 40, 90, 90, 30, 10])
        let plan = planUpdate(nodes([50, 5, 20]), order: .predictedLoad, spare: spare, perNode: 900, maxUnavailable: 1, end: t0.addingTimeInterval(8 * 900))
        let at = Dictionary(uniqueKeysWithValues: plan.nodes.map { ($0.node, Int($0.start.timeIntervalSince(t0) / 900)) })
        #expect(at["n0"] == 4 || at["n0"] == 5, "the heaviest node in the trough: \(at)")
        #expect(at["n2"] == 4 || at["n2"] == 5)
        #expect(at["n0"] != at["n2"])
        #expect(plan.wouldDip.isEmpty)
    }

    @Test func aPlanThatCannotFitSaysWhich() {
        let spare = SpareCapacity.flat(start: t0, end: t0.addingTimeInterval(3600), step: 300)
        let plan = planUpdate(nodes([1, 1, 1, 1, 1]), order: .name, spare: spare, perNode: 1200, maxUnavailable: 1, end: t0.addingTimeInterval(3600))
        #expect(!plan.fits)
        #expect(plan.nodes.count == 3 && plan.unplaced == ["n3", "n4"])
    }

    @Test func aNodeWhoseAbsenceWouldDipCapacityIsNamed() {
        let spare = SpareCapacity(start: t0, step: 900, values: [10, 10, 10, 10])
        let plan = planUpdate(nodes([15, 2]), order: .predictedLoad, spare: spare, perNode: 900, maxUnavailable: 1, end: t0.addingTimeInterval(3600))
        #expect(plan.wouldDip == ["n0"])
        #expect(plan.nodes.first { $0.node == "n0" }!.margin == -5)
    }

    @Test func randomPlansNeverExceedMaxUnavailableOrTheWindow() {
        var rng = SplitMix(seed: 21)
        for _ in 0..<200 {
            let count = 1 + rng.next(12), maxUnavailable = 1 + rng.next(3)
            let steps = 4 + rng.next(40)
            let spare = SpareCapacity(start: t0, step: 300, values: (0..<steps).map { _ in Double(rng.next(100)) })
            let perNode = Double(300 * (1 + rng.next(4)))
            let end = t0.addingTimeInterval(Double(steps * 300))
            let order: NodeOrder = [.name, .predictedLoad, .given((0..<count).map { "n\($0)" }.shuffled(using: &rng))][rng.next(3)]
            let plan = planUpdate(nodes((0..<count).map { _ in Double(rng.next(30)) }), order: order, spare: spare, perNode: perNode, maxUnavailable: maxUnavailable, end: end)
            #expect(plan.nodes.count + plan.unplaced.count == count)
            for p in plan.nodes {
                #expect(p.start >= t0 && p.eta <= end)
                // Concurrency is highest at some node's start: count the nodes out at that instant.
                let out = plan.nodes.filter { $0.start <= p.start && p.start < $0.eta }.count
                #expect(out <= maxUnavailable, "\(order)")
            }
        }
    }
}

@Suite struct SlidingExtremeTests {
    @Test func matchesAScanOfEveryWindow() {
        var rng = SplitMix(seed: 5)
        for _ in 0..<500 {
            let values = (0..<Int.random(in: 0...40, using: &rng)).map { _ in Int.random(in: -5...5, using: &rng) }
            let length = Int.random(in: 1...12, using: &rng)
            let expectedMin = values.count >= length ? (0...(values.count - length)).map { values[$0..<($0 + length)].min()! } : []
            let expectedMax = values.count >= length ? (0...(values.count - length)).map { values[$0..<($0 + length)].max()! } : []
            #expect(slidingExtreme(values, length: length, by: <) == expectedMin, "\(values) / \(length)")
            #expect(slidingExtreme(values, length: length, by: >) == expectedMax)
        }
    }
}
