import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it:
///
/// - a candidate takes the Lease when it is free or its holder has not renewed it within
///   `leaseDuration` *as observed locally* (no clock agreement between machines is assumed);
/// - the leader renews every `retryPeriod`. Each attempt is bounded by the time left before
///   `renewDeadline` (counted from the *start* of the last successful renewal, which is before the
///   server stored it); when that passes, the leader stops leading at once: its work is cancelled,
///   in-flight API calls abort, and it waits for that before it campaigns again. Since
///   `renewDeadline` < `leaseDuration`, the old leader has stopped acting before any other replica
///   can see the Lease expire and take it, even when the old one is cut off from the apiserver;
/// - every write carries the resourceVersion read, so two candidates cannot both win (409);
/// - on graceful shutdown the leader's work finishes, then it releases the Lease so a successor
///   takes over at once.
public final class LeaderElector: @unchecked Sendable {
    public struct Timing: Sendable {
        public var leaseDuration: Double = 15
        public var renewDeadline: Double = 10
        public var retryPeriod: Double = 2
        public init() {}
    }

    public let client: KubernetesClient
    public let namespace: String
    public let name: String
    public let identity: String
    public let timing: Timing
    private let clock: any RuntimeClock
    private let logger: Logger
    private let lock = NSLock()
    private var leading = false
    private var resigned = false
    private var observedRecord: LeaseSpec?
    private var observedAt: Double = 0

    public init(client: KubernetesClient, namespace: String, name: String, identity: String, timing: Timing = Timing(),
                clock: any RuntimeClock = SystemClock(), logger: Logger = Logger(label: "foresight.leader-election")) {
        precondition(timing.renewDeadline < timing.leaseDuration, "renewDeadline must be shorter than leaseDuration")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing
        self.clock = clock
        self.logger = logger
    }

    public var isLeader: Bool { lock.withLock { leading } }
    private func setLeading(_ v: Bool) { lock.withLock { leading = v } }

    /// Stop campaigning (graceful shutdown): a candidate gives up waiting; a leader's `run` returns
    /// once its work does.
    public func resign() { lock.withLock { resigned = true } }
    private var hasResigned: Bool { lock.withLock { resigned } }

    /// Campaigns, runs `work` while leading, and campaigns again if leadership is lost. Returns when
    /// `work` returns by itself (then the Lease is released), on `resign()` while standing by, or
    /// when the calling task is cancelled.
    public func run(_ work: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled && !hasResigned {
            // Acquire.
            var acquired = false
            while !Task.isCancelled && !hasResigned {
                if await attempt(until: clock.now() + timing.renewDeadline) { acquired = true; break }
                try? await clock.sleep(until: clock.now() + timing.retryPeriod * Double.random(in: 1...1.2))
            }
            guard acquired, !Task.isCancelled, !hasResigned else { break }
            let since = clock.now()
            setLeading(true)
            logger.info("\(identity) became leader at \(Timestamp.formatMicro(Date())) (Lease \(namespace)/\(name))")
            let lost = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await work(); return false }
                group.addTask { await self.renewLoop(lastRenewStarted: since); return true }
                let first = await group.next() ?? false
                group.cancelAll()
                await group.waitForAll()
                return first
            }
            setLeading(false)
            if lost {
                logger.error("\(identity) stopped leading at \(Timestamp.formatMicro(Date())): no renewal within \(timing.renewDeadline) s; work cancelled")
                continue
            }
            await release()
            return
        }
    }

    /// Renews until no renewal has succeeded for `renewDeadline`, or cancellation.
    private func renewLoop(lastRenewStarted: Double) async {
        var lastStart = lastRenewStarted
        while !Task.isCancelled {
            try? await clock.sleep(until: clock.now() + timing.retryPeriod)
            if Task.isCancelled { return }
            let deadline = lastStart + timing.renewDeadline
            if clock.now() >= deadline { return }
            let started = clock.now()
            if await attempt(until: deadline) {
                lastStart = started
            } else if clock.now() >= deadline {
                return
            }
        }
    }

    /// One acquire-or-renew attempt that gives up (false) at `deadline`, aborting its requests.
    func attempt(until deadline: Double) async -> Bool {
        let clock = self.clock
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await self.tryAcquireOrRenew(timeout: max(0.05, deadline - clock.now())) }
            group.addTask {
                try? await clock.sleep(until: deadline)
                return Task.isCancelled ? nil : false
            }
            var result = false
            for await r in group {
                if let r { result = r; break }
            }
            group.cancelAll()
            return result
        }
    }

    /// One attempt; true when this candidate holds the Lease afterwards.
    public func tryAcquireOrRenew(timeout seconds: Double = 10) async -> Bool {
        let now = Date()
        let micro = Timestamp.formatMicro(now)
        let requestDeadline = clock.now() + seconds
        func remaining() -> Duration { .milliseconds(max(50, Int((requestDeadline - clock.now()) * 1000))) }
        do {
            guard let lease = try await client.getIfExists(Lease.self, namespace: namespace, name: name, timeout: remaining()) else {
                let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                       "metadata": ["name": .string(name), "namespace": .string(namespace)],
                                       "spec": ["holderIdentity": .string(identity), "leaseDurationSeconds": .int(Int(timing.leaseDuration)),
                                                "acquireTime": .string(micro), "renewTime": .string(micro), "leaseTransitions": 0]]
                try await client.create(Lease.self, namespace: namespace, body: body, timeout: remaining())
                observe(nil)
                return true
            }
            let spec = lease.spec ?? LeaseSpec()
            if spec != observedRecord { observe(spec) }
            let holder = spec.holderIdentity ?? ""
            let duration = Double(spec.leaseDurationSeconds ?? Int(timing.leaseDuration))
            let expired = observedAtValue() + duration <= clock.now()
            if !holder.isEmpty && holder != identity && !expired { return false }
            var transitions = spec.leaseTransitions ?? 0
            var acquire = spec.acquireTime ?? micro
            if holder != identity { transitions += 1; acquire = micro }
            let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                   "metadata": ["name": .string(name), "namespace": .string(namespace), "resourceVersion": .string(lease.metadata.resourceVersion ?? "")],
                                   "spec": ["holderIdentity": .string(identity), "leaseDurationSeconds": .int(Int(timing.leaseDuration)),
                                            "acquireTime": .string(acquire), "renewTime": .string(micro), "leaseTransitions": .int(transitions)]]
            let updated = try await client.replace(Lease.self, namespace: namespace, name: name, body: body, timeout: remaining())
            observe(updated.spec)
            return true
        } catch let e as ClientError where e.apiError?.isConflict == true {
            return false  // someone else wrote first
        } catch is CancellationError {
            return false
        } catch {
            if !Task.isCancelled { logger.warning("leader election: \(error)") }
            return false
        }
    }

    private func observe(_ spec: LeaseSpec?) {
        lock.lock(); observedRecord = spec; observedAt = clock.now(); lock.unlock()
    }

    private func observedAtValue() -> Double { lock.lock(); defer { lock.unlock() }; return observedAt }

    /// Gives the Lease up (holder cleared, 1 s duration) if this candidate holds it.
    public func release() async {
        do {
            guard let lease = try await client.getIfExists(Lease.self, namespace: namespace, name: name, timeout: .seconds(5)),
                  lease.spec?.holderIdentity == identity else { return }
            let micro = Timestamp.formatMicro(Date())
            let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                   "metadata": ["name": .string(name), "namespace": .string(namespace), "resourceVersion": .string(lease.metadata.resourceVersion ?? "")],
                                   "spec": ["holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": .string(micro),
                                            "acquireTime": .string(lease.spec?.acquireTime ?? micro), "leaseTransitions": .int(lease.spec?.leaseTransitions ?? 0)]]
            try await client.replace(Lease.self, namespace: namespace, name: name, body: body, timeout: .seconds(5))
            logger.info("\(identity) released the Lease")
        } catch {
            logger.warning("releasing the Lease: \(error)")
        }
    }
}
