import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it:
///
/// - a candidate takes the Lease when it is free or its holder has not renewed it within
///   `leaseDuration` *as observed locally* (no clock agreement between machines is assumed);
/// - the leader renews every `retryPeriod`; if it cannot renew for `renewDeadline` it stops
///   leading (its work is cancelled) so two leaders never act at once for longer than the lease;
/// - every write carries the resourceVersion read, so two candidates cannot both win (409);
/// - on shutdown the leader releases the Lease so a successor takes over at once.
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
    private var observedRecord: LeaseSpec?
    private var observedAt: Double = 0

    public init(client: KubernetesClient, namespace: String, name: String, identity: String, timing: Timing = Timing(),
                clock: any RuntimeClock = SystemClock(), logger: Logger = Logger(label: "foresight.leader-election")) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing
        self.clock = clock
        self.logger = logger
    }

    public var isLeader: Bool { lock.lock(); defer { lock.unlock() }; return leading }
    private func setLeading(_ v: Bool) { lock.lock(); leading = v; lock.unlock() }

    /// Waits to become leader, runs `work` while leading, and returns when leadership is lost or
    /// the calling task is cancelled (then the Lease is released).
    public func run(_ work: @escaping @Sendable () async -> Void) async {
        // Acquire.
        while !Task.isCancelled {
            if await tryAcquireOrRenew() { break }
            try? await clock.sleep(until: clock.now() + timing.retryPeriod * Double.random(in: 1...1.2))
        }
        if Task.isCancelled { return }
        setLeading(true)
        logger.info("\(identity) became leader (Lease \(namespace)/\(name))")
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await work(); return false }
            group.addTask { await self.renewLoop(); return true }
            _ = await group.next()
            group.cancelAll()
            await group.waitForAll()
        }
        setLeading(false)
        await release()
    }

    /// Renews until a renewal has failed for `renewDeadline`, or cancellation.
    private func renewLoop() async {
        var lastRenew = clock.now()
        while !Task.isCancelled {
            try? await clock.sleep(until: clock.now() + timing.retryPeriod)
            if Task.isCancelled { return }
            if await tryAcquireOrRenew() {
                lastRenew = clock.now()
            } else if clock.now() - lastRenew > timing.renewDeadline {
                logger.error("\(identity) could not renew the Lease for \(timing.renewDeadline) s; stopping leading")
                return
            }
        }
    }

    /// One attempt; true when this candidate holds the Lease afterwards.
    public func tryAcquireOrRenew() async -> Bool {
        let now = Date()
        let micro = Timestamp.formatMicro(now)
        do {
            guard let lease = try await client.getIfExists(Lease.self, namespace: namespace, name: name) else {
                let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                       "metadata": ["name": .string(name), "namespace": .string(namespace)],
                                       "spec": ["holderIdentity": .string(identity), "leaseDurationSeconds": .int(Int(timing.leaseDuration)),
                                                "acquireTime": .string(micro), "renewTime": .string(micro), "leaseTransitions": 0]]
                try await client.create(Lease.self, namespace: namespace, body: body)
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
            let updated = try await client.replace(Lease.self, namespace: namespace, name: name, body: body)
            observe(updated.spec)
            return true
        } catch let e as ClientError where e.apiError?.isConflict == true {
            return false  // someone else wrote first
        } catch {
            logger.warning("leader election: \(error)")
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
            guard let lease = try await client.getIfExists(Lease.self, namespace: namespace, name: name),
                  lease.spec?.holderIdentity == identity else { return }
            let micro = Timestamp.formatMicro(Date())
            let body: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                   "metadata": ["name": .string(name), "namespace": .string(namespace), "resourceVersion": .string(lease.metadata.resourceVersion ?? "")],
                                   "spec": ["holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": .string(micro),
                                            "acquireTime": .string(lease.spec?.acquireTime ?? micro), "leaseTransitions": .int(lease.spec?.leaseTransitions ?? 0)]]
            try await client.replace(Lease.self, namespace: namespace, name: name, body: body)
            logger.info("\(identity) released the Lease")
        } catch {
            logger.warning("releasing the Lease: \(error)")
        }
    }
}
