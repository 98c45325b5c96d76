import Foundation

/// The work queue of a controller, with controller-runtime's guarantees:
///
/// - a key added many times before it is processed is processed once (deduplication);
/// - a key is never handed to two workers at once: added while processing, it is queued again
///   when the worker calls `done`;
/// - `addAfter` delays a key; if the key is already waiting, the earliest time wins;
/// - `addRateLimited` delays by the key's own exponential backoff (5 ms doubling to 1000 s) or by
///   an overall token bucket (10 per second, burst 100), whichever is longer; `forget` resets it.
public actor WorkQueue<Key: Hashable & Sendable> {
    public struct RateLimit: Sendable {
        public var baseDelay: Double = 0.005
        public var maxDelay: Double = 1000
        public var bucketRate: Double = 10
        public var bucketBurst: Double = 100
        public init() {}
    }

    private let clock: any RuntimeClock
    private let limits: RateLimit
    private var queue: [Key] = []
    private var head = 0
    private var dirty: Set<Key> = []
    private var processing: Set<Key> = []
    private var waitingUntil: [Key: Double] = [:]
    private var failures: [Key: Int] = [:]
    private var tokens: Double
    private var tokensAt: Double
    private var getters: [CheckedContinuation<Key?, Never>] = []
    private var getterIDs: [UInt64] = []
    private var nextGetterID: UInt64 = 0
    private var shuttingDown = false

    public init(clock: any RuntimeClock = SystemClock(), rateLimit: RateLimit = RateLimit()) {
        self.clock = clock
        self.limits = rateLimit
        self.tokens = rateLimit.bucketBurst
        self.tokensAt = clock.now()
    }

    /// Keys ready to be processed.
    public var depth: Int { queue.count - head }
    /// Keys waiting for their delay.
    public var waitingCount: Int { waitingUntil.count }
    public var isShuttingDown: Bool { shuttingDown }

    public func add(_ key: Key) {
        guard !shuttingDown, !dirty.contains(key) else { return }
        waitingUntil[key] = nil
        dirty.insert(key)
        guard !processing.contains(key) else { return }
        enqueue(key)
    }

    private func enqueue(_ key: Key) {
        if let g = getters.first {
            getters.removeFirst()
            getterIDs.removeFirst()
            dirty.remove(key)
            processing.insert(key)
            g.resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// Adds `key` after `delay` seconds; an earlier pending time for the same key is kept.
    public func addAfter(_ key: Key, delay: Double) {
        guard !shuttingDown else { return }
        if delay <= 0 { add(key); return }
        let due = clock.now() + delay
        if let existing = waitingUntil[key], existing <= due { return }
        waitingUntil[key] = due
        let clock = self.clock
        Task { [weak self] in
            try? await clock.sleep(until: due)
            await self?.promote(key, due: due)
        }
    }

    private func promote(_ key: Key, due: Double) {
        guard waitingUntil[key] == due else { return }  // superseded by an earlier time or an add
        waitingUntil[key] = nil
        add(key)
    }

    /// Adds `key` after its backoff (or the overall rate limit); returns the delay chosen.
    @discardableResult
    public func addRateLimited(_ key: Key) -> Double {
        let n = failures[key, default: 0]
        failures[key] = n + 1
        let perKey = min(limits.baseDelay * pow(2, Double(n)), limits.maxDelay)
        let delay = max(perKey, takeToken())
        addAfter(key, delay: delay)
        return delay
    }

    /// The delay the overall token bucket imposes on the next rate-limited add.
    private func takeToken() -> Double {
        let now = clock.now()
        tokens = min(limits.bucketBurst, tokens + (now - tokensAt) * limits.bucketRate)
        tokensAt = now
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / limits.bucketRate
    }

    /// Clears the key's failure count (after a success).
    public func forget(_ key: Key) { failures[key] = nil }
    public func requeues(_ key: Key) -> Int { failures[key, default: 0] }

    /// The next key to process, waiting for one; nil once the queue shuts down, or when the
    /// calling task is cancelled while it waits.
    public func get() async -> Key? {
        if head < queue.count {
            let key = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
            dirty.remove(key)
            processing.insert(key)
            return key
        }
        if shuttingDown || Task.isCancelled { return nil }
        nextGetterID += 1
        let id = nextGetterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Key?, Never>) in
                if Task.isCancelled { c.resume(returning: nil); return }
                getters.append(c)
                getterIDs.append(id)
            }
        } onCancel: {
            Task { await self.cancelGetter(id) }
        }
    }

    private func cancelGetter(_ id: UInt64) {
        guard let i = getterIDs.firstIndex(of: id) else { return }
        getterIDs.remove(at: i)
        getters.remove(at: i).resume(returning: nil)
    }

    /// Marks `key` processed; if it was added meanwhile, it is queued again.
    public func done(_ key: Key) {
        processing.remove(key)
        if dirty.contains(key) && !shuttingDown { enqueue(key) }
    }

    /// Stops handing out keys: waiting workers get nil; keys in flight may finish.
    public func shutDown() {
        shuttingDown = true
        for g in getters { g.resume(returning: nil) }
        getters = []
        getterIDs = []
    }

    /// Takes keys again after `shutDown` (a replica that leads again).
    public func reopen() { shuttingDown = false }

    /// Keys being processed right now.
    public var inFlight: Int { processing.count }
}
