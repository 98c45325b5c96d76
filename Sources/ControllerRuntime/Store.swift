import Foundation
import KubernetesCore

/// One change to a cache, as its handlers see it. A relist that finds an object gone reports it as
/// `deleted`, so nothing that vanished during a watch gap is missed.
public enum InformerEvent<K: Sendable>: Sendable {
    case added(K)
    case updated(old: K, new: K)
    case deleted(K)

    /// The object as it is now (the last state, for a deletion).
    public var object: K {
        switch self {
        case .added(let o), .deleted(let o): return o
        case .updated(_, let new): return new
        }
    }

    /// Every state the event involves: the old one too, for an update (a pod that left a node
    /// concerns the node it left).
    public var objects: [K] {
        switch self {
        case .added(let o), .deleted(let o): return [o]
        case .updated(let old, let new): return [old, new]
        }
    }
}

/// Computes index values for an object: `pods by node` maps a pod to its node's name.
public typealias IndexFunction<K> = @Sendable (K) -> [String]

/// A cache of one kind, fed by one informer (one writer) and read by many, with indexes.
///
/// A relist swaps in the whole list at once, so readers never see half of one, and reports what
/// changed (including deletions). Until the first list has arrived `hasSynced` is false; after it,
/// readers should still treat what they read as possibly stale (it is as current as the last event
/// received). Indexes are kept in step with every change, so `byIndex` never scans the cache.
///
/// Layout, for memory at 100,000 pods: objects sit in a slot array (no hash-table slack around
/// the large values), a dictionary maps each key to its slot, and indexes hold 4-byte slot numbers
/// rather than keys.
public final class Store<K: KubernetesResource>: @unchecked Sendable {
    @usableFromInline let lock = NSLock()
    @usableFromInline var slots: ContiguousArray<K?> = []
    private var freeSlots: [Int32] = []
    private var slotOf: [ObjectKey: Int32] = [:]
    @usableFromInline var indexes: [String: [String: Set<Int32>]] = [:]
    private let indexers: [String: IndexFunction<K>]
    private var synced = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Reduces each object to what the readers need before it is kept (lean caches).
    private let transform: @Sendable (K) -> K

    public init(transform: @escaping @Sendable (K) -> K = { $0 }, indexers: [String: IndexFunction<K>] = [:]) {
        self.transform = transform
        self.indexers = indexers
        for name in indexers.keys { indexes[name] = [:] }
    }

    public var hasSynced: Bool { lock.withLock { synced } }
    /// The names of the indexes this store keeps.
    public var indexNames: [String] { Array(indexers.keys).sorted() }

    /// Applies one watcher event and returns the changes it made (none for a relist that found
    /// everything as it was).
    @discardableResult
    public func apply(_ event: WatcherEvent<K>) -> [InformerEvent<K>] {
        lock.lock()
        var changes: [InformerEvent<K>] = []
        switch event {
        case .restarted(let all):
            var fresh = ContiguousArray<K?>()
            fresh.reserveCapacity(all.count)
            var freshSlots: [ObjectKey: Int32] = [:]
            freshSlots.reserveCapacity(all.count)
            for raw in all {
                let o = transform(raw)
                let key = o.key
                if let existing = freshSlots[key] { fresh[Int(existing)] = o; continue }  // a duplicate in the list: the later wins
                freshSlots[key] = Int32(fresh.count)
                fresh.append(o)
                if let old = slotOf[key].flatMap({ slots[Int($0)] }) {
                    if old.metadata.resourceVersion != o.metadata.resourceVersion || o.metadata.resourceVersion == nil {
                        changes.append(.updated(old: old, new: o))
                    }
                } else {
                    changes.append(.added(o))
                }
            }
            for (key, slot) in slotOf where freshSlots[key] == nil {
                if let old = slots[Int(slot)] { changes.append(.deleted(old)) }
            }
            slots = fresh
            slotOf = freshSlots
            freeSlots = []
            rebuildIndexes()
            synced = true
        case .applied(let raw):
            let o = transform(raw)
            let key = o.key
            if let slot = slotOf[key], let old = slots[Int(slot)] {
                unindex(old, slot: slot)
                slots[Int(slot)] = o
                index(o, slot: slot)
                changes.append(.updated(old: old, new: o))
            } else {
                let slot: Int32
                if let reused = freeSlots.popLast() { slot = reused; slots[Int(slot)] = o } else { slot = Int32(slots.count); slots.append(o) }
                slotOf[key] = slot
                index(o, slot: slot)
                changes.append(.added(o))
            }
        case .deleted(let raw):
            let key = raw.key
            if let slot = slotOf.removeValue(forKey: key), let old = slots[Int(slot)] {
                unindex(old, slot: slot)
                slots[Int(slot)] = nil
                freeSlots.append(slot)
                changes.append(.deleted(old))
            } else {
                changes.append(.deleted(transform(raw)))
            }
        }
        let ready = synced ? waiters : []
        if synced { waiters = [] }
        lock.unlock()
        for w in ready { w.resume() }
        return changes
    }

    private func rebuildIndexes() {
        for name in indexers.keys { indexes[name] = [:] }
        for (i, o) in slots.enumerated() { if let o { index(o, slot: Int32(i)) } }
    }

    private func index(_ o: K, slot: Int32) {
        for (name, f) in indexers {
            for value in f(o) { indexes[name]![value, default: []].insert(slot) }
        }
    }

    private func unindex(_ o: K, slot: Int32) {
        for (name, f) in indexers {
            for value in f(o) {
                indexes[name]![value]?.remove(slot)
                if indexes[name]![value]?.isEmpty == true { indexes[name]![value] = nil }
            }
        }
    }

    /// Waits until the first list has been applied.
    public func waitUntilSynced() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if synced { lock.unlock(); c.resume() } else { waiters.append(c); lock.unlock() }
        }
    }

    public func get(_ key: ObjectKey) -> K? { lock.withLock { slotOf[key].flatMap { slots[Int($0)] } } }
    public func list() -> [K] { lock.withLock { slots.compactMap { $0 } } }
    public func list(where predicate: (K) -> Bool) -> [K] { lock.withLock { slots.compactMap { $0 }.filter(predicate) } }
    public var count: Int { lock.withLock { slotOf.count } }
    public var keys: [ObjectKey] { lock.withLock { Array(slotOf.keys) } }

    /// The objects whose index `name` holds `value` (pods on node `n7`: `byIndex("node", "n7")`).
    /// An index the store does not keep is a programming error and traps.
    public func byIndex(_ name: String, _ value: String) -> [K] {
        lock.withLock {
            guard let index = indexes[name] else { preconditionFailure("store of \(K.resource.kind) has no index \(name)") }
            return (index[value] ?? []).compactMap { slots[Int($0)] }
        }
    }

    /// Visits the objects under `value` in index `name` in place, without copying them out: for
    /// sums over many objects (the CPU requests of each node's pods). `body` runs under the
    /// store's lock and must not call back into the store.
    @inlinable
    public func forEach(inIndex name: String, _ value: String, _ body: (borrowing K) -> Void) {
        lock.withLock {
            guard let index = indexes[name] else { preconditionFailure("store of \(K.resource.kind) has no index \(name)") }
            guard let members = index[value] else { return }
            // Passed borrowed, straight from the slot (binding it with `if let` would copy it).
            for slot in members where slots[Int(slot)] != nil { body(slots[Int(slot)]!) }
        }
    }

    /// Calls `body` with the address of each object under `value` in index `name`, in place, for
    /// hot loops that read a few fields of many objects (`pod.pointee.cpuMillis`): unwrapping a
    /// slot, as `forEach(inIndex:)` must, copies the whole object, retains included. The
    /// pointer is valid only during the call.
    @inlinable
    public func forEachInPlace(inIndex name: String, _ value: String, _ body: (UnsafePointer<K>) -> Void) {
        lock.withLock {
            guard let index = indexes[name] else { preconditionFailure("store of \(K.resource.kind) has no index \(name)") }
            guard let members = index[value] else { return }
            slots.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                for slot in members {
                    let entry = base + Int(slot)
                    guard case .some = entry.pointee else { continue }
                    // A single-payload Optional keeps its payload at offset 0 (the emptiness tag,
                    // when it needs one, follows), so an occupied slot is a `K` at the same address.
                    body(UnsafeRawPointer(entry).assumingMemoryBound(to: K.self))
                }
            }
        }
    }

    /// The keys under `value` in index `name`.
    public func keys(inIndex name: String, _ value: String) -> Set<ObjectKey> {
        lock.withLock {
            guard let index = indexes[name] else { preconditionFailure("store of \(K.resource.kind) has no index \(name)") }
            return Set((index[value] ?? []).compactMap { slots[Int($0)]?.key })
        }
    }

    /// The values index `name` holds now (the nodes that have pods, say).
    public func indexValues(_ name: String) -> [String] {
        lock.withLock { Array(indexes[name]?.keys ?? [:].keys) }
    }
}

/// Index functions every kind can use.
public enum Indexers {
    /// `namespace`: the object's namespace ("" for cluster-scoped objects).
    public static let namespace = "namespace"
    /// `label`: one value `key=value` per label, so `byIndex("label", "tier=web")` finds every
    /// object with that label.
    public static let label = "label"

    public static func byNamespace<K: KubernetesResource>() -> IndexFunction<K> { { [$0.metadata.namespace ?? ""] } }
    public static func byLabel<K: KubernetesResource>() -> IndexFunction<K> {
        { ($0.metadata.labels ?? [:]).map { "\($0.key)=\($0.value)" } }
    }
    /// `controller`: `Kind/namespace/name` of the object's controlling owner (a ReplicaSet's
    /// Deployment: `Deployment/shop/web`), the format of `PodIndex.owner`.
    public static let controller = "controller"
    public static func byController<K: KubernetesResource>() -> IndexFunction<K> {
        { o in o.metadata.controllerReference.map { [PodIndex.ownerValue(kind: $0.kind, namespace: o.metadata.namespace ?? "", name: $0.name)] } ?? [] }
    }
    /// The three above, for a store that wants them all.
    public static func standard<K: KubernetesResource>() -> [String: IndexFunction<K>] {
        [namespace: byNamespace(), label: byLabel(), controller: byController()]
    }
}

/// Keys a reconciler marks as waiting, each with the namespaces whose changes concern it, kept
/// for watch mappings to read on informer threads (hence a lock, not an actor: mappings are
/// synchronous). A change in a namespace wakes only the keys that follow it.
public final class WaitingKeys: @unchecked Sendable {
    private let lock = NSLock()
    private var namespacesOf: [ObjectKey: Set<String>] = [:]

    public init() {}

    /// Marks `key` as waiting on changes in `namespaces`, or as not waiting (nil).
    public func set(_ key: ObjectKey, following namespaces: Set<String>?) {
        lock.withLock { namespacesOf[key] = namespaces }
    }

    public func remove(_ key: ObjectKey) { set(key, following: nil) }

    /// The keys waiting on a change in `namespace`.
    public func keys(following namespace: String) -> [ObjectKey] {
        lock.withLock { namespacesOf.filter { $0.value.contains(namespace) }.map(\.key) }
    }
}
