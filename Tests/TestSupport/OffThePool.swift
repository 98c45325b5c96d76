import Foundation
import Testing

/// Runs each test of a suite on a thread of its own instead of one of Swift Testing's cooperative
/// threads (as many as the machine has cores, two here). CPU-heavy synchronous tests (forecasts,
/// replays) would otherwise hold those threads for seconds, and the timing tests beside them
/// (leases, deadlines, retries) would wait for a thread past their deadlines.
public struct OffThePool: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OffThePool {
    /// See `OffThePool`.
    public static var offThePool: Self { OffThePool() }
}

/// A task executor that runs every job on a new thread (tests' jobs are few and long).
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job), executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
