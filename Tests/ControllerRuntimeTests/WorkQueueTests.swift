import Foundation
import Testing
@testable import ControllerRuntime

@Suite struct WorkQueueTests {
    @Test func deduplicatesKeysAddedBeforeProcessing() async {
        let q = WorkQueue<String>(clock: ManualClock())
        await q.add("a"); await q.add("b"); await q.add("a")
        #expect(await q.depth == 2)
        #expect(await q.get() == "a")
        #expect(await q.get() == "b")
        #expect(await q.depth == 0)
    }

    @Test func neverHandsOneKeyToTwoWorkers() async {
        let q = WorkQueue<String>(clock: ManualClock())
        await q.add("a")
        let first = await q.get()
        #expect(first == "a")
        await q.add("a")  // changed while being processed
        #expect(await q.depth == 0, "not handed out again while in flight")
        await q.done("a")
        #expect(await q.depth == 1, "queued again once done")
        #expect(await q.get() == "a")
        await q.done("a")
        #expect(await q.depth == 0)
    }

    @Test func addAfterWaitsForTheClockAndKeepsTheEarliest() async throws {
        let clock = ManualClock()
        let q = WorkQueue<String>(clock: clock)
        await q.addAfter("a", delay: 10)
        await q.addAfter("a", delay: 5)
        await q.addAfter("a", delay: 20)  // later: ignored
        try await waitFor { clock.sleeperCount == 2 }
        clock.advance(by: 4)
        try await Task.sleep(for: .milliseconds(20))
        #expect(await q.depth == 0)
        clock.advance(by: 1.5)
        try await waitFor { await q.depth == 1 }
        #expect(await q.get() == "a")
        await q.done("a")
        clock.advance(by: 10)  // the superseded 10 s timer fires and must not re-add
        try await Task.sleep(for: .milliseconds(20))
        #expect(await q.depth == 0)
    }

    @Test func perKeyBackoffDoublesAndForgetResets() async {
        let q = WorkQueue<String>(clock: ManualClock())
        var delays: [Double] = []
        for _ in 0..<5 { delays.append(await q.addRateLimited("a")) }
        #expect(delays == [0.005, 0.01, 0.02, 0.04, 0.08])
        #expect(await q.requeues("a") == 5)
        await q.forget("a")
        #expect(await q.addRateLimited("a") == 0.005)
        // Backoff is capped at 1000 s.
        for _ in 0..<30 { _ = await q.addRateLimited("b") }
        #expect(await q.addRateLimited("b") == 1000)
    }

    @Test func overallTokenBucketLimitsBursts() async {
        var limits = WorkQueue<Int>.RateLimit()
        limits.bucketBurst = 3
        limits.bucketRate = 1
        let q = WorkQueue<Int>(clock: ManualClock(), rateLimit: limits)
        var delays: [Double] = []
        for k in 0..<5 { delays.append(await q.addRateLimited(k)) }
        #expect(delays[0..<3].allSatisfy { $0 == 0.005 })
        #expect(delays[3] == 1)
        #expect(delays[4] == 2)
    }

    @Test func shutdownReleasesWaitingWorkers() async {
        let q = WorkQueue<String>(clock: ManualClock())
        async let waiting = q.get()
        try? await Task.sleep(for: .milliseconds(20))
        await q.shutDown()
        #expect(await waiting == nil)
        await q.add("x")
        #expect(await q.depth == 0, "no new work after shutdown")
    }

    @Test func waitingWorkerGetsKeyAsSoonAsAdded() async {
        let q = WorkQueue<String>(clock: ManualClock())
        async let waiting = q.get()
        try? await Task.sleep(for: .milliseconds(20))
        await q.add("k")
        #expect(await waiting == "k")
        #expect(await q.inFlight == 1)
    }
}

func waitFor(_ condition: () async -> Bool, timeout: Double = 2) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !(await condition()) {
        if Date() > deadline { Issue.record("condition not met in \(timeout) s"); return }
        try await Task.sleep(for: .milliseconds(5))
    }
}
