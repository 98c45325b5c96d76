import Foundation

/// Time as the runtime sees it: injected so that queues and leases are tested without sleeping.
public protocol RuntimeClock: Sendable {
    /// Seconds on a monotonic scale.
    func now() -> Double
    /// Suspends until `now() >= deadline` (or throws on cancellation).
    func sleep(until deadline: Double) async throws
}

/// The real clock.
public struct SystemClock: RuntimeClock {
    public init() {}
    public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    public func sleep(until deadline: Double) async throws {
        let d = deadline - now()
        if d > 0 { try await Task.sleep(nanoseconds: UInt64(d * 1e9)) }
    }
}

/// A clock that moves only when a test advances it.
public final class ManualClock: RuntimeClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Double
    private var sleepers: [(deadline: Double, continuation: CheckedContinuation<Void, Error>)] = []

    public init(start: Double = 0) { current = start }

    public func now() -> Double { lock.lock(); defer { lock.unlock() }; return current }

    public func sleep(until deadline: Double) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            lock.lock()
            if deadline <= current { lock.unlock(); c.resume(); return }
            sleepers.append((deadline, c))
            lock.unlock()
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by seconds: Double) {
        lock.lock()
        current += seconds
        let due = sleepers.filter { $0.deadline <= current }
        sleepers.removeAll { $0.deadline <= current }
        lock.unlock()
        for s in due { s.continuation.resume() }
    }

    /// How many sleepers are waiting (tests wait for timers to be armed).
    public var sleeperCount: Int { lock.lock(); defer { lock.unlock() }; return sleepers.count }
}
