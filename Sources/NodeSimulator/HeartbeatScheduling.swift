/// When each simulated node renews its Lease: on its own clock, `interval` after the start of
/// its last successful renewal, or a second after a failed one. Pure bookkeeping; the simulator
/// does the writes.
struct LeaseSchedule {
    typealias Instant = ContinuousClock.Instant
    let interval: Duration
    let leaseDuration: Duration
    private(set) var due: [String: Instant] = [:]
    private(set) var lastRenewal: [String: Instant] = [:]
    private(set) var renewing: Set<String> = []
    private(set) var statistics = HeartbeatStatistics()

    init(interval: Duration, leaseDuration: Duration) {
        self.interval = interval
        self.leaseDuration = leaseDuration
    }

    /// A node to keep alive; its first renewal is due at once.
    mutating func add(_ name: String, now: Instant) {
        if due[name] == nil { due[name] = now }
    }

    mutating func remove(_ name: String) {
        due[name] = nil
        lastRenewal[name] = nil
    }

    /// Whether some node's next renewal would already be late (as the statistics count lateness).
    func behind(now: Instant) -> Bool {
        guard let oldest = lastRenewal.values.min() else { return false }
        return now - oldest > interval + HeartbeatStatistics.lateness
    }

    /// The renewals to start now, the most overdue first, so that at most `limit` are in flight;
    /// they count as in flight until `finished`.
    mutating func start(now: Instant, limit: Int) -> [String] {
        let room = max(0, limit - renewing.count)
        guard room > 0 else { return [] }
        let ready = due.filter { $0.value <= now && !renewing.contains($0.key) }
        let chosen = ready.sorted { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(room).map(\.key)
        renewing.formUnion(chosen)
        return chosen
    }

    /// A renewal that began at `started` ended at `now`. A node removed meanwhile stays removed.
    mutating func finished(_ name: String, started: Instant, now: Instant, succeeded: Bool) {
        renewing.remove(name)
        guard due[name] != nil else { return }
        guard succeeded else {
            due[name] = now + .seconds(1)
            return
        }
        if let previous = lastRenewal[name] {
            statistics.record(gap: now - previous, interval: interval, leaseDuration: leaseDuration)
        }
        lastRenewal[name] = now
        due[name] = started + interval
    }
}

/// Slots for pod and node-status writes: at most `capacity` in flight, first come first served,
/// and none started while heartbeats are behind, unless the first waiter has already given way
/// for `patience`, so pod writes are slowed for heartbeats but never starved.
struct PodWriteGate<Waiter> {
    typealias Instant = ContinuousClock.Instant
    let capacity: Int
    let patience: Duration
    private(set) var inFlight = 0
    private var waiters = FIFO<(since: Instant, waiter: Waiter)>()

    init(capacity: Int, patience: Duration) {
        self.capacity = capacity
        self.patience = patience
    }

    var waiting: Bool { !waiters.isEmpty }

    /// Takes a slot at once if nobody waits ahead, there is room and heartbeats are on time.
    mutating func tryAcquire(heartbeatsBehind: Bool) -> Bool {
        guard waiters.isEmpty && inFlight < capacity && !heartbeatsBehind else { return false }
        inFlight += 1
        return true
    }

    mutating func wait(_ waiter: Waiter, since: Instant) { waiters.append((since, waiter)) }

    mutating func release() { inFlight -= 1 }

    /// The waiters that may go now, in order; each has taken its slot.
    mutating func admit(now: Instant, heartbeatsBehind: Bool) -> [Waiter] {
        var admitted: [Waiter] = []
        while let first = waiters.first, inFlight < capacity, !heartbeatsBehind || now - first.since >= patience {
            waiters.removeFirst()
            inFlight += 1
            admitted.append(first.waiter)
        }
        return admitted
    }
}
