import Foundation
import Logging
import ServiceLifecycle

/// What the manager needs of a controller, whatever its kind.
public protocol ManagedController: Sendable {
    var name: String { get }
    var hasSynced: Bool { get }
    var longestReconcileSeconds: Double { get }
    func run() async
    func stopTakingWork() async
}

extension Controller: ManagedController {}

/// Runs a process's shared informers and its controllers, behind leader election when asked, as
/// one `Service`:
///
/// - informers start at once on every replica, so a standby's caches are warm when it takes over;
/// - controllers run only while leading; lost leadership cancels them (see `LeaderElector`);
/// - graceful shutdown: controllers stop taking keys and finish what they hold, the Lease is
///   released, then the informers stop.
///
/// Its probes: ready when leading with synced caches, or standing by; live while its own heartbeat
/// task runs (the cooperative pool is not wedged) and no reconcile has run longer than
/// `maximumReconcileSeconds` (a hung call).
public final class ControllerManager: Service, @unchecked Sendable {
    public let informers: SharedInformers
    public let elector: LeaderElector?
    public let controllers: [any ManagedController]
    public let maximumReconcileSeconds: Double
    private let logger: Logger
    private let lock = NSLock()
    private var heartbeat = Date()

    public init(informers: SharedInformers, elector: LeaderElector?, controllers: [any ManagedController], maximumReconcileSeconds: Double = 600,
                logger: Logger = Logger(label: "foresight.manager")) {
        self.informers = informers
        self.elector = elector
        self.controllers = controllers
        self.maximumReconcileSeconds = maximumReconcileSeconds
        self.logger = logger
    }

    /// `/readyz`: leading with synced caches, or standing by for the Lease.
    public func readiness() -> (ok: Bool, detail: String) {
        if let elector, !elector.isLeader {
            return (true, informers.hasSynced ? "standby: waiting for the Lease, caches synced" : "standby: waiting for the Lease")
        }
        if informers.hasSynced && controllers.allSatisfy(\.hasSynced) { return (true, "caches synced, reconciling") }
        return (false, "caches not synced yet: \(informers.unsynced.joined(separator: ", "))")
    }

    /// `/healthz`: the work loop is alive.
    public func liveness() -> (ok: Bool, detail: String) {
        let age = -lock.withLock { heartbeat }.timeIntervalSinceNow
        if age > 30 { return (false, "the runtime's heartbeat is \(Int(age)) s old") }
        for c in controllers where c.longestReconcileSeconds > maximumReconcileSeconds {
            return (false, "a reconcile of \(c.name) has run for \(Int(c.longestReconcileSeconds)) s")
        }
        return (true, "ok")
    }

    public func run() async throws {
        let controllers = self.controllers
        let work: @Sendable () async -> Void = {
            await withTaskGroup(of: Void.self) { group in
                for c in controllers { group.addTask { await c.run() } }
                await group.waitForAll()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.informers.run() }
            group.addTask {
                while !Task.isCancelled {
                    self.lock.withLock { self.heartbeat = Date() }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            await withGracefulShutdownHandler {
                if let elector = self.elector { await elector.run(work) } else { await work() }
            } onGracefulShutdown: {
                self.logger.info("graceful shutdown: finishing reconciles in flight")
                self.elector?.resign()
                Task { for c in controllers { await c.stopTakingWork() } }
            }
            group.cancelAll()
        }
    }
}
