import Foundation
import Testing

/// Runs each test of a suite on one thread set apart for such tests, instead of on Swift Testing's
/// cooperative threads (as many as the machine has cores, two here). CPU-heavy synchronous tests
/// (forecasts, backtests, replays) would otherwise hold those threads for seconds, and the timing
/// tests beside them (leases, deadlines, retries) would wait for a thread past their deadlines.
/// The thread is one for all such tests, so they take one core at most and never crowd the other.
public struct OffThePool: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(HeavyTestThread.shared) { try await function() }
    }
}

extension Trait where Self == OffThePool {
    /// See `OffThePool`.
    public static var offThePool: Self { OffThePool() }
}

/// A task executor with one thread of its own, running its jobs one after another in the order
/// they came.
final class HeavyTestThread: TaskExecutor, @unchecked Sendable {
    static let shared = HeavyTestThread()
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.stackSize = 8 << 20
        thread.name = "heavy-tests"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
