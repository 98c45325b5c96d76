import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// Decides which changes reach a handler: a pod's status heartbeat need not wake a ZonePlan.
/// Additions and deletions always pass; an update passes when the filter says so.
public struct EventFilter<K: Sendable>: Sendable {
    public let passes: @Sendable (InformerEvent<K>) -> Bool

    public init(_ passes: @escaping @Sendable (InformerEvent<K>) -> Bool) { self.passes = passes }

    /// Every change.
    public static var all: EventFilter<K> { EventFilter { _ in true } }

    /// Updates only when a projected field differs between the old and new object (additions and
    /// deletions always): `.onChange { [$0.nodeName, $0.isReady] }` ignores everything else.
    ///
    /// Fields are compared by value. Never project a description such as
    /// `String(describing: labels)`: a Swift dictionary's order differs from one instance to the
    /// next, so two equal dictionaries often describe differently and every update would pass.
    public static func onChange(_ fields: @escaping @Sendable (K) -> [any Equatable]) -> EventFilter<K> {
        EventFilter { event in
            guard case .updated(let old, let new) = event else { return true }
            let before = fields(old), after = fields(new)
            return before.count != after.count || !zip(before, after).allSatisfy(sameValue)
        }
    }
}

/// Whether two projected fields hold the same value. Fields of different types never do, except
/// two nils: a nil optional casts to any optional type. (A projection's positions keep their types.)
func sameValue(_ a: any Equatable, _ b: any Equatable) -> Bool {
    func compare<T: Equatable>(_ a: T) -> Bool {
        guard let b = b as? T else { return false }
        return a == b
    }
    return compare(a)
}

extension EventFilter where K: KubernetesResource {
    /// Updates only when `metadata.generation` changed (a spec change; status writes do not count),
    /// as controller-runtime's `GenerationChangedPredicate`.
    public static var generationChanged: EventFilter<K> { .onChange { [$0.metadata.generation] } }
}

/// One list+watch of one kind, its indexed cache, and the handlers that want its changes.
///
/// An informer is shared: every controller in the process that cares about the kind subscribes to
/// the same one (`SharedInformers` hands them out), so the apiserver sees one watch per kind. It
/// runs from process start on every replica, leader or not, so a new leader's caches are warm.
///
/// Each change is applied to the store first, then handed to every handler whose filter passes it,
/// in order; the next event is read only after all handlers return (backpressure). Handlers should
/// be quick: enqueueing keys, not reconciling.
public final class Informer<K: KubernetesResource>: @unchecked Sendable {
    public let store: Store<K>
    public let watcher: Watcher<K>
    private let lock = NSLock()
    private var handlers: [(filter: EventFilter<K>, handle: @Sendable (InformerEvent<K>) async -> Void)] = []

    public init(watcher: Watcher<K>, store: Store<K>) {
        self.watcher = watcher
        self.store = store
    }

    /// Subscribes `handle` to changes `filter` passes. Handlers added after the first list get the
    /// objects already cached as additions, so none is missed.
    public func addHandler(filter: EventFilter<K> = .all, _ handle: @escaping @Sendable (InformerEvent<K>) async -> Void) async {
        let already: [K] = lock.withLock {
            handlers.append((filter, handle))
            return store.hasSynced ? store.list() : []
        }
        for o in already where filter.passes(.added(o)) { await handle(.added(o)) }
    }

    public var hasSynced: Bool { store.hasSynced }

    /// Lists and watches until the task is cancelled.
    public func run() async {
        await watcher.run { [self] event in
            let changes = store.apply(event)
            let current = lock.withLock { handlers }
            for change in changes {
                for h in current where h.filter.passes(change) { await h.handle(change) }
            }
        }
    }
}

/// The informers of one process: one per kind and list scope, whatever the number of controllers
/// that use it (controller-runtime's shared cache). Ask for informers before `run`; `run` starts
/// them all and keeps them until cancelled.
public final class SharedInformers: @unchecked Sendable {
    public let client: KubernetesClient
    private let lock = NSLock()
    private var informers: [String: AnyObject] = [:]
    private var runners: [@Sendable () async -> Void] = []
    private var syncChecks: [(String, @Sendable () -> Bool)] = []
    private var started = false
    private let logger: Logger

    public init(client: KubernetesClient, logger: Logger = Logger(label: "foresight.informers")) {
        self.client = client
        self.logger = logger
    }

    /// The informer of `K` (cluster-wide unless `namespace`, filtered by the selectors), created on
    /// first use with `transform` and `indexers`; later calls with the same scope get the same one.
    /// `discoverVersion` resolves `K`'s version from discovery (PodDisruptionBudget, for one).
    public func informer<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                                                discoverVersion: Bool = false,
                                                transform: @escaping @Sendable (K) -> K = { $0 },
                                                indexers: [String: IndexFunction<K>] = Indexers.standard()) -> Informer<K> {
        let id = "\(String(reflecting: K.self))|\(namespace ?? "*")|\(labelSelector ?? "")|\(fieldSelector ?? "")"
        return lock.withLock {
            if let existing = informers[id] {
                guard let typed = existing as? Informer<K> else { preconditionFailure("informer \(id) has another type") }
                return typed
            }
            precondition(!started, "informers must be requested before SharedInformers.run")
            let watcher = Watcher<K>(client: client, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                     discoverVersion: discoverVersion, logger: logger)
            let informer = Informer(watcher: watcher, store: Store<K>(transform: transform, indexers: indexers))
            informers[id] = informer
            runners.append { await informer.run() }
            syncChecks.append((K.resource.kind, { informer.hasSynced }))
            return informer
        }
    }

    /// How many informers (list+watch loops) this process runs.
    public var count: Int { lock.withLock { informers.count } }

    /// True when every informer has its first list.
    public var hasSynced: Bool { lock.withLock { syncChecks }.allSatisfy { $0.1() } }

    /// The kinds still waiting for their first list (for readiness messages).
    public var unsynced: [String] { lock.withLock { syncChecks }.filter { !$0.1() }.map(\.0) }

    /// Runs every informer until the task is cancelled.
    public func run() async {
        let all: [@Sendable () async -> Void] = lock.withLock { started = true; return runners }
        logger.info("starting \(all.count) informers")
        await withTaskGroup(of: Void.self) { group in
            for r in all { group.addTask { await r() } }
            await group.waitForAll()
        }
    }
}
