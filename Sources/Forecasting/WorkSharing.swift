import Foundation

/// Runs a forecast's candidate models on a few threads and lets a model split its own work
/// (the decomposition's independent segments) over the threads whose models have finished.
///
/// `DispatchQueue.concurrentPerform` alone cannot do this: a `concurrentPerform` nested inside
/// another runs serially, so the longest model would keep one core busy while the other idles.
/// Here each thread takes the next model; when none is left it helps with loops that running
/// models have posted, until every model is done.
public final class WorkSharing: @unchecked Sendable {
    /// A loop posted by `forEach`: iterations are claimed one at a time by any thread.
    private final class Loop {
        let count: Int
        let body: @Sendable (Int) -> Void
        var claimed = 0
        var finished = 0
        init(count: Int, body: @escaping @Sendable (Int) -> Void) { self.count = count; self.body = body }
    }

    private let condition = NSCondition()
    private var loops: [Loop] = []
    private var jobsRunning = 0
    private var nextJob = 0

    /// For a model run outside the engine (tests, single-model tools): loops run on the caller.
    public static let serial = WorkSharing(threads: 1)

    let threads: Int

    init(threads: Int) { self.threads = max(threads, 1) }

    /// Runs `body(i)` for each i in `0..<count`, on the calling thread and on idle threads of
    /// the engine, and returns when every iteration has finished.
    public func forEach(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        guard threads > 1 && count > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let loop = Loop(count: count, body: body)
            condition.lock()
            loops.append(loop)
            condition.broadcast()
            // The caller claims iterations like any helper, then waits for those others took.
            while loop.claimed < loop.count { runOne(of: loop) }
            while loop.finished < loop.count { condition.wait() }
            loops.removeAll { $0 === loop }
            condition.unlock()
        }
    }

    /// Runs one claimed iteration of `loop`; called and returns with the lock held.
    private func runOne(of loop: Loop) {
        let i = loop.claimed
        loop.claimed += 1
        condition.unlock()
        loop.body(i)
        condition.lock()
        loop.finished += 1
        if loop.finished == loop.count { condition.broadcast() }
    }

    /// Runs `work(i)` for each of `count` jobs on up to `threads` threads; a thread with no job
    /// left helps the loops the running jobs post through `forEach`.
    func run(jobs count: Int, _ work: @Sendable (Int) -> Void) {
        guard threads > 1 && count > 1 else {
            for i in 0..<count { work(i) }
            return
        }
        condition.lock()
        nextJob = 0
        jobsRunning = count
        condition.unlock()
        DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
            while true {
                condition.lock()
                guard nextJob < count else { condition.unlock(); break }
                let job = nextJob
                nextJob += 1
                condition.unlock()
                work(job)
                condition.lock()
                jobsRunning -= 1
                if jobsRunning == 0 { condition.broadcast() }
                condition.unlock()
            }
            // No job left: help the others until they are all done.
            condition.lock()
            while jobsRunning > 0 {
                if let loop = loops.first(where: { $0.claimed < $0.count }) { runOne(of: loop) } else { condition.wait() }
            }
            condition.unlock()
        }
    }
}

/// Result slots written by concurrent work, one per index.
final class Slots<Value>: @unchecked Sendable {
    private var slots: [Value?]
    private let lock = NSLock()
    init(count: Int) { slots = [Value?](repeating: nil, count: count) }
    subscript(i: Int) -> Value? {
        get { lock.withLock { slots[i] } }
        set { lock.withLock { slots[i] = newValue } }
    }
    var values: [Value?] { lock.withLock { slots } }
}
