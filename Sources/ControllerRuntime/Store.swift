import Foundation
import KubernetesCore

/// A cache of one kind, fed by one watcher (one writer) and read by many.
///
/// A relist swaps in the whole list at once, so readers never see half of one. Until the first
/// list has arrived `hasSynced` is false; after it, readers should still treat what they read as
/// possibly stale (it is as current as the last event received).
public final class Store<K: KubernetesResource>: @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [ObjectKey: K] = [:]
    private var synced = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Reduces each object to what the readers need before it is kept (lean caches).
    private let transform: @Sendable (K) -> K

    public init(transform: @escaping @Sendable (K) -> K = { $0 }) { self.transform = transform }

    public var hasSynced: Bool { lock.lock(); defer { lock.unlock() }; return synced }

    /// Applies one watcher event.
    public func apply(_ event: WatcherEvent<K>) {
        lock.lock()
        switch event {
        case .restarted(let all):
            var fresh: [ObjectKey: K] = [:]
            fresh.reserveCapacity(all.count)
            for o in all { fresh[o.key] = transform(o) }
            objects = fresh
            synced = true
        case .applied(let o):
            objects[o.key] = transform(o)
        case .deleted(let o):
            objects[o.key] = nil
        }
        let ready = synced ? waiters : []
        if synced { waiters = [] }
        lock.unlock()
        for w in ready { w.resume() }
    }

    /// Waits until the first list has been applied.
    public func waitUntilSynced() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if synced { lock.unlock(); c.resume() } else { waiters.append(c); lock.unlock() }
        }
    }

    public func get(_ key: ObjectKey) -> K? { lock.lock(); defer { lock.unlock() }; return objects[key] }
    public func list() -> [K] { lock.lock(); defer { lock.unlock() }; return Array(objects.values) }
    public func list(where predicate: (K) -> Bool) -> [K] { lock.lock(); defer { lock.unlock() }; return objects.values.filter(predicate) }
    public var count: Int { lock.lock(); defer { lock.unlock() }; return objects.count }
}
