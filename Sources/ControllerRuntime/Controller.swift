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

/// A level-based controller: events of the primary kind and of related kinds become keys in a
/// work queue; workers call `reconcile(key)`, which reads the world and makes it so. A key is
/// never reconciled twice at once; errors are retried with per-key backoff; a success resets it.
///
/// Configure with `watches` before `run`. `run` feeds the caches, waits until they have synced,
/// then works until its task is cancelled, when it stops taking keys and lets in-flight reconciles
/// finish.
public final class Controller<K: KubernetesResource>: @unchecked Sendable {
    public let name: String
    public let queue: WorkQueue<ObjectKey>
    public let store: Store<K>
    private let primary: Watcher<K>
    private var feeders: [@Sendable (WorkQueue<ObjectKey>) async -> Void] = []
    private var syncChecks: [@Sendable () -> Bool] = []
    private let reconcile: @Sendable (ObjectKey) async throws -> ReconcileAction
    private let workers: Int
    private let logger: Logger
    private let lock = NSLock()
    private var activeWorkers = 0

    public init(name: String, watcher: Watcher<K>, store: Store<K> = Store<K>(), workers: Int = 2, clock: any RuntimeClock = SystemClock(),
                logger: Logger = Logger(label: "foresight.controller"), reconcile: @escaping @Sendable (ObjectKey) async throws -> ReconcileAction) {
        self.name = name
        self.primary = watcher
        self.store = store
        self.queue = WorkQueue(clock: clock)
        self.workers = workers
        self.reconcile = reconcile
        var l = logger
        l[metadataKey: "controller"] = "\(name)"
        self.logger = l
        let store = self.store
        syncChecks.append { store.hasSynced }
    }

    /// Watches a related kind; each event is mapped to the primary keys it concerns.
    public func watches<R: KubernetesResource>(_ watcher: Watcher<R>, store: Store<R>? = nil, mapping: @escaping @Sendable (R) -> [ObjectKey]) {
        let cache = store ?? Store<R>()
        syncChecks.append { cache.hasSynced }
        feeders.append { queue in
            for await event in watcher.events() {
                cache.apply(event)
                switch event {
                case .restarted(let all): for o in all { for k in mapping(o) { await queue.add(k) } }
                case .applied(let o), .deleted(let o): for k in mapping(o) { await queue.add(k) }
                }
            }
        }
    }

    /// True when every cache has its first list.
    public var hasSynced: Bool { syncChecks.allSatisfy { $0() } }

    public func run() async {
        let queue = self.queue
        let store = self.store
        let primary = self.primary
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in primary.events() {
                    store.apply(event)
                    switch event {
                    case .restarted(let all): for o in all { await queue.add(o.key) }
                    case .applied(let o), .deleted(let o): await queue.add(o.key)
                    }
                }
            }
            for f in feeders { group.addTask { await f(queue) } }
            group.addTask { [self] in
                while !hasSynced && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                logger.info("caches synced; starting \(workers) workers")
                await withTaskGroup(of: Void.self) { workers in
                    for _ in 0..<self.workers { workers.addTask { await self.work() } }
                    // Cancellation of run(): stop handing out keys; workers finish what they hold.
                    await withTaskCancellationHandler {
                        await workers.waitForAll()
                    } onCancel: {
                        Task { await queue.shutDown() }
                    }
                }
            }
            await group.waitForAll()
        }
        logger.info("stopped")
    }

    private func work() async {
        let dimensions = [("controller", name)]
        let depth = Gauge(label: "foresight_workqueue_depth", dimensions: dimensions)
        let active = Gauge(label: "foresight_active_workers", dimensions: dimensions)
        let duration = Metrics.Timer(label: "foresight_reconcile_time_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        while let key = await queue.get() {
            depth.record(await queue.depth)
            active.record(adjustActive(1))
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                let action = try await withTaskCancellationHandler { try await reconcile(key) } onCancel: {}
                await queue.forget(key)
                if case .requeue(let after) = action { await queue.addAfter(key, delay: after) }
                Counter(label: "foresight_reconcile_total", dimensions: dimensions + [("result", action == .awaitChange ? "success" : "requeue_after")]).increment()
            } catch {
                let delay = await queue.addRateLimited(key)
                logger.warning("reconcile of \(key) failed (retry in \(String(format: "%.2f", delay)) s): \(error)")
                Counter(label: "foresight_reconcile_total", dimensions: dimensions + [("result", "error")]).increment()
                Counter(label: "foresight_reconcile_errors_total", dimensions: dimensions).increment()
            }
            duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            active.record(adjustActive(-1))
            await queue.done(key)
        }
    }

    private func adjustActive(_ d: Int) -> Int {
        lock.lock(); defer { lock.unlock() }
        activeWorkers += d
        return activeWorkers
    }
}
