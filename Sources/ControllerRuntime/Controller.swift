import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import Metrics

/// What a reconcile asks for next.
public enum ReconcileAction: Sendable, Equatable {
    /// Nothing until the object or something related changes.
    case awaitChange
    /// Reconcile again after this many seconds even if nothing changes (time-driven work).
    case requeue(after: Double)
}

/// A level-based controller: changes of the primary kind and of related kinds (through shared
/// informers) become keys in a work queue; workers call `reconcile(key)`, which reads the world
/// and makes it so. A key is never reconciled twice at once; errors are retried with per-key
/// backoff; a success resets it.
///
/// Subscriptions exist from construction, so keys gather (deduplicated) while a replica stands by.
/// `run` waits for the caches, queues every primary object once, and works until:
/// - `stopTakingWork()` (graceful shutdown): workers finish the keys they hold, then `run` returns;
/// - its task is cancelled (leadership lost): in-flight reconciles are cancelled at once (their API
///   calls abort), and their keys are queued again for whoever leads next.
public final class Controller<K: KubernetesResource>: @unchecked Sendable {
    public let name: String
    public let queue: WorkQueue<ObjectKey>
    public let informer: Informer<K>
    public var store: Store<K> { informer.store }
    private var syncChecks: [@Sendable () -> Bool] = []
    private let reconcile: @Sendable (ObjectKey) async throws -> ReconcileAction
    private let workers: Int
    private let logger: Logger
    private let lock = NSLock()
    private var activeWorkers = 0
    private var reconcileStarts: [ObjectKey: Double] = [:]
    private let clock: any RuntimeClock

    public init(name: String, informer: Informer<K>, filter: EventFilter<K> = .all, workers: Int = 2, clock: any RuntimeClock = SystemClock(),
                logger: Logger = Logger(label: "foresight.controller"), reconcile: @escaping @Sendable (ObjectKey) async throws -> ReconcileAction) async {
        self.name = name
        self.informer = informer
        self.queue = WorkQueue(clock: clock)
        self.workers = workers
        self.reconcile = reconcile
        self.clock = clock
        var l = logger
        l[metadataKey: "controller"] = "\(name)"
        self.logger = l
        syncChecks.append { informer.hasSynced }
        let queue = self.queue
        let traced = self.logger
        await informer.addHandler(filter: filter) { event in
            traced.trace("\(K.resource.kind) \(event.object.key) changed: queueing it")
            await queue.add(event.object.key)
        }
    }

    /// Watches a related kind: each change `filter` passes is mapped to the primary keys it concerns
    /// (for an update, the keys of both the old and the new object).
    public func watches<R: KubernetesResource>(_ related: Informer<R>, filter: EventFilter<R> = .all, mapping: @escaping @Sendable (R) -> [ObjectKey]) async {
        lock.withLock { syncChecks.append { related.hasSynced } }
        let queue = self.queue, logger = self.logger
        await related.addHandler(filter: filter) { event in
            var seen = Set<ObjectKey>()
            for o in event.objects {
                for k in mapping(o) where seen.insert(k).inserted {
                    logger.trace("\(R.resource.kind) \(o.key) changed: queueing \(k)")
                    await queue.add(k)
                }
            }
        }
    }

    /// True when every cache this controller reads has its first list.
    public var hasSynced: Bool { lock.withLock { syncChecks }.allSatisfy { $0() } }

    /// How long the oldest reconcile in flight has been running (0 when none): a liveness signal.
    public var longestReconcileSeconds: Double {
        let now = clock.now()
        return lock.withLock { reconcileStarts.values.map { now - $0 }.max() ?? 0 }
    }

    /// Graceful stop: hand out no more keys; `run` returns once the workers finish what they hold.
    public func stopTakingWork() async { await queue.shutDown() }

    public func run() async {
        while !hasSynced && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
        if Task.isCancelled { return }
        await queue.reopen()
        // A new leader (or a restarted process) looks at everything once.
        for key in store.keys { await queue.add(key) }
        logger.info("caches synced; starting \(workers) workers")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers { group.addTask { await self.work() } }
            await group.waitForAll()
        }
        logger.info("stopped")
    }

    private func work() async {
        let dimensions = [("controller", name)]
        let depth = Gauge(label: "foresight_workqueue_depth", dimensions: dimensions)
        let active = Gauge(label: "foresight_active_workers", dimensions: dimensions)
        let duration = Metrics.Timer(label: "foresight_reconcile_time_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        while !Task.isCancelled, let key = await queue.get() {
            depth.record(await queue.depth)
            active.record(begin(key))
            let started = DispatchTime.now().uptimeNanoseconds
            logger.trace("reconciling \(key)")
            do {
                let action = try await reconcile(key)
                await queue.forget(key)
                if case .requeue(let after) = action { await queue.addAfter(key, delay: after) }
                Counter(label: "foresight_reconcile_total", dimensions: dimensions + [("result", action == .awaitChange ? "success" : "requeue_after")]).increment()
            } catch where Task.isCancelled {
                // Leadership lost mid-reconcile: not a failure of the key; the next leader takes it.
                await queue.add(key)
                Counter(label: "foresight_reconcile_total", dimensions: dimensions + [("result", "cancelled")]).increment()
            } catch {
                let delay = await queue.addRateLimited(key)
                logger.warning("reconcile of \(key) failed (retry in \(String(format: "%.2f", delay)) s): \(error)")
                Counter(label: "foresight_reconcile_total", dimensions: dimensions + [("result", "error")]).increment()
                Counter(label: "foresight_reconcile_errors_total", dimensions: dimensions).increment()
            }
            duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            active.record(end(key))
            await queue.done(key)
        }
    }

    private func begin(_ key: ObjectKey) -> Int {
        lock.withLock { activeWorkers += 1; reconcileStarts[key] = clock.now(); return activeWorkers }
    }

    private func end(_ key: ObjectKey) -> Int {
        lock.withLock { activeWorkers -= 1; reconcileStarts[key] = nil; return activeWorkers }
    }
}
