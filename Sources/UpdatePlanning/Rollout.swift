import Foundation
import KubernetesCore

/// The annotations of the node-update handshake (see the README) and the taint of nodes still to
/// be updated while a window runs.
public enum UpdateHandshake {
    /// `requested` (by the controller), then `in-progress`, `done` or `failed` (by the node agent).
    public static let state = "foresight.dev/update"
    public static let window = "foresight.dev/update-window"
    /// The agent's message with `failed`.
    public static let message = "foresight.dev/update-message"
    public static let targetOSImage = "foresight.dev/update-target-os-image"
    public static let targetKernel = "foresight.dev/update-target-kernel-version"
    public static let requested = "requested", inProgress = "in-progress", done = "done", failed = "failed"
    /// `PreferNoSchedule` on nodes still to be updated while a window runs, so that pods drained
    /// from one node land on nodes already updated rather than on the next to go.
    public static let pendingTaint = "foresight.dev/update-pending"
}

extension Node {
    /// Carries an UpdateWindow's `update-pending` taint: a running window has still to update it.
    public var awaitsUpdate: Bool { spec?.taints?.contains { $0.key == UpdateHandshake.pendingTaint } ?? false }
}

/// Where one node stands in its window's rollout. The order of the cases is the order a node
/// goes through them; `failed` may be reached from any step.
public enum NodeUpdatePhase: String, Codable, Sendable, CaseIterable {
    /// Not started (no record on the node).
    case pending = "Pending"
    /// Cordoned; the workloads with pods on it are being raised and their new pods must be Ready.
    case preScaling = "PreScaling"
    /// Its pods are being evicted.
    case draining = "Draining"
    /// The agent was asked to update it (`foresight.dev/update: requested`) and has not answered `done`.
    case updating = "Updating"
    /// Updated; waiting for it to be Ready on a new boot and for the moved workloads to be whole for `settle`.
    case verifying = "Verifying"
    case done = "Done"
    /// Left cordoned with the reason; retried once at the end of the window.
    case failed = "Failed"

    public var isInFlight: Bool { self == .preScaling || self == .draining || self == .updating || self == .verifying }
}

/// What the controller records on a node it updates: the annotation `foresight.dev/update-record`
/// holds it as JSON. The node is the record's only home, so a controller that restarts reads it
/// back and goes on; the window's `status.nodes` is a report of these records.
public struct NodeUpdateRecord: Codable, Sendable, Equatable {
    public static let annotation = "foresight.dev/update-record"

    /// The window that updates the node.
    public var window: String
    /// What this round updates to (`osImage/kernelVersion` of `spec.update.target`, or empty): a
    /// record made for another target belongs to an earlier round.
    public var target: String
    public var phase: NodeUpdatePhase
    public var startedAt: Date
    /// When the node entered its current phase (the drain and update timeouts count from here).
    public var phaseSince: Date
    public var finishedAt: Date?
    /// The node was cordoned before the window touched it: it is never uncordoned by the window.
    public var wasUnschedulable: Bool
    /// The boot before the update; the node is updated when it comes back with another.
    public var bootID: String?
    /// Attempts started (a failed node is retried once at the end of the window).
    public var attempts: Int
    /// The node's predicted load when it started (as planned then).
    public var predictedLoad: Double?
    public var evictedPods: Int
    /// What holds the drain up now: the PodDisruptionBudget and the pod it protects.
    public var blockedBy: String?
    /// Since when the drain has been blocked (by whichever budget).
    public var blockedSince: Date?
    public var message: String?
    /// The Deployments (`namespace/name`) whose pods the drain moves: they must be whole again
    /// before the node counts as updated.
    public var workloads: [String]?
    /// Since when every verification check has held (the node is done after `settle` of it).
    public var settledSince: Date?

    public init(window: String, target: String, phase: NodeUpdatePhase, startedAt: Date, wasUnschedulable: Bool, bootID: String?, attempts: Int = 1) {
        self.window = window
        self.target = target
        self.phase = phase
        self.startedAt = startedAt
        self.phaseSince = startedAt
        self.wasUnschedulable = wasUnschedulable
        self.bootID = bootID
        self.attempts = attempts
        self.evictedPods = 0
    }

    /// Moves to `phase` at `now` (keeping the time when the phase does not change).
    public mutating func enter(_ phase: NodeUpdatePhase, at now: Date, message: String? = nil) {
        if self.phase != phase { phaseSince = now }
        self.phase = phase
        self.message = message
        if phase != .draining { blockedBy = nil; blockedSince = nil }
        if phase != .verifying { settledSince = nil }
        if phase == .done || phase == .failed { finishedAt = now } else { finishedAt = nil }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = .sortedKeys
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// The annotation's value.
    public func encoded() -> String { String(decoding: try! Self.encoder.encode(self), as: UTF8.self) }

    /// Reads a record from the annotation's value; nil when absent or unreadable (a hand-edited
    /// record is reported by the caller, never guessed at).
    public static func decode(_ value: String?) -> NodeUpdateRecord? {
        guard let value else { return nil }
        return try? decoder.decode(NodeUpdateRecord.self, from: Data(value.utf8))
    }
}

/// The phase of a window as a whole.
public enum WindowPhase: String, Sendable, Equatable {
    case pending = "Pending", waiting = "Waiting", running = "Running", paused = "Paused", completed = "Completed", failed = "Failed", expired = "Expired"
}

/// What the rollout of a window should do now.
public struct RolloutDecision: Sendable, Equatable {
    /// Nodes to start now (cordon), in plan order.
    public var start: [String]
    /// Failed nodes to try once more now (the rest of the window is done).
    public var retry: [String]
    public var phase: WindowPhase
    /// Why the phase is what it is, for the Ready condition.
    public var reason: String
    public var message: String
    public var done: Int
    public var total: Int
}

/// How many times a node is attempted before it stays failed.
public let maximumNodeAttempts = 2

/// Decides which nodes a window starts now. Pure.
///
/// - Only while the window is `open` and not `paused` does a node start; nodes in flight finish
///   either way. At most `maxUnavailable` nodes are in flight at once.
/// - Nodes start in plan order (`order`), each no earlier than its planned start unless
///   `mayStartEarly` says going now is no worse than its slot (with flat predicted load, always).
/// - Once no node is left to start, failed nodes that have attempts left are retried.
/// - More failed nodes than `maxFailedNodes` halt the window (`Failed`): nothing new starts.
public func decideRollout(order: [String], records: [String: NodeUpdateRecord], plannedStart: [String: Date], open: Bool, paused: Bool,
                          expired: Bool, maxUnavailable: Int, maxFailedNodes: Int, now: Date, mayStartEarly: (String) -> Bool = { _ in true }) -> RolloutDecision {
    let total = order.count
    let done = order.filter { records[$0]?.phase == .done }.count
    let inFlight = order.filter { records[$0]?.phase.isInFlight == true }
    let failed = order.filter { records[$0]?.phase == .failed }
    let pending = order.filter { records[$0] == nil || records[$0]?.phase == .pending }
    let retryable = failed.filter { (records[$0]?.attempts ?? 0) < maximumNodeAttempts }
    var decision = RolloutDecision(start: [], retry: [], phase: .running, reason: "Running", message: "", done: done, total: total)

    if total > 0 && done == total {
        decision.phase = .completed
        decision.reason = "Completed"
        decision.message = "all \(total) nodes updated"
        return decision
    }
    if failed.count > maxFailedNodes {
        decision.phase = .failed
        decision.reason = "TooManyFailedNodes"
        decision.message = "\(failed.count) nodes failed (maxFailedNodes \(maxFailedNodes)): \(failed.joined(separator: ", ")); no further node starts"
            + (inFlight.isEmpty ? "" : "; \(inFlight.count) in flight finish")
        return decision
    }
    if pending.isEmpty && inFlight.isEmpty && retryable.isEmpty && !failed.isEmpty {
        decision.phase = .failed
        decision.reason = "NodesFailed"
        decision.message = "\(failed.count) nodes failed after \(maximumNodeAttempts) attempts: \(failed.joined(separator: ", ")); they stay cordoned"
        return decision
    }
    guard open && !paused else {
        if paused {
            decision.phase = .paused
            decision.reason = "Paused"
            decision.message = "paused: no node starts" + (inFlight.isEmpty ? "" : "; \(inFlight.count) in flight finish")
        } else if !inFlight.isEmpty {
            decision.phase = .running
            decision.reason = "Finishing"
            decision.message = "the window closed; \(inFlight.count) nodes in flight finish, \(pending.count + retryable.count) wait for the next window"
        } else if expired {
            decision.phase = .expired
            decision.reason = "Expired"
            decision.message = "the window closed with \(total - done) of \(total) nodes not updated"
        } else {
            decision.phase = .waiting
            decision.reason = "Waiting"
            decision.message = done > 0 ? "\(total - done) of \(total) nodes wait for the next window" : "waiting for the window to open"
        }
        return decision
    }
    var slots = max(1, maxUnavailable) - inFlight.count
    for name in pending where slots > 0 {
        guard (plannedStart[name].map { $0 <= now } ?? true) || mayStartEarly(name) else { break }
        decision.start.append(name)
        slots -= 1
    }
    if pending.isEmpty {
        for name in retryable where slots > 0 {
            decision.retry.append(name)
            slots -= 1
        }
    }
    decision.message = "\(done)/\(total) nodes updated; in flight: " + (inFlight + decision.start + decision.retry).joined(separator: ", ")
    if inFlight.isEmpty && decision.start.isEmpty && decision.retry.isEmpty {
        decision.message = "\(done)/\(total) nodes updated; the next node starts at its planned time"
    }
    return decision
}

/// What a node must show before it counts as updated. Pure.
public struct VerificationFacts: Sendable, Equatable {
    public var ready: Bool
    public var bootID: String?
    public var osImage: String?
    public var kernelVersion: String?
    public var handshake: String?
    public init(ready: Bool, bootID: String?, osImage: String?, kernelVersion: String?, handshake: String?) {
        self.ready = ready
        self.bootID = bootID
        self.osImage = osImage
        self.kernelVersion = kernelVersion
        self.handshake = handshake
    }
}

/// The checks a node still fails after its update (empty when it is verified): the agent said
/// `done`, the node is Ready on a boot other than `previousBootID`, its OS and kernel are the
/// target's where one is given, and the workloads moved off it are whole again (`workloadProblems`,
/// gathered by the caller from the caches).
public func verificationProblems(_ facts: VerificationFacts, previousBootID: String?, targetOSImage: String?, targetKernel: String?,
                                 workloadProblems: [String]) -> [String] {
    var problems: [String] = []
    if facts.handshake != "done" { problems.append("the agent has not reported done (foresight.dev/update: \(facts.handshake ?? "absent"))") }
    if !facts.ready { problems.append("the node is not Ready") }
    if let previous = previousBootID, facts.bootID == previous { problems.append("the node has not rebooted (bootID unchanged)") }
    if let os = targetOSImage, facts.osImage != os { problems.append("osImage is \"\(facts.osImage ?? "")\", not \"\(os)\"") }
    if let kernel = targetKernel, facts.kernelVersion != kernel { problems.append("kernelVersion is \"\(facts.kernelVersion ?? "")\", not \"\(kernel)\"") }
    return problems + workloadProblems
}

/// The surges a workload carries, one entry per window and node (`window/node` → extra replicas),
/// kept in the workload's `foresight.dev/surge` annotation as JSON. Keyed so that raising for the
/// same node twice changes nothing, and giving back what was never raised does nothing.
public struct SurgeLedger: Sendable, Equatable {
    public static let annotation = "foresight.dev/surge"
    /// On an HPA whose floor a surge raised: its own minReplicas, given back with the last surge.
    public static let originalMinReplicasAnnotation = "foresight.dev/surge-original-min-replicas"
    public private(set) var entries: [String: Int]

    public init(_ entries: [String: Int] = [:]) { self.entries = entries }

    /// Reads the annotation; an unreadable value is an error (never silently dropped: replicas
    /// raised by it would never be given back).
    public init(annotation: String?) throws {
        guard let annotation, !annotation.isEmpty else { self.entries = [:]; return }
        guard let decoded = try? JSONDecoder().decode([String: Int].self, from: Data(annotation.utf8)), decoded.values.allSatisfy({ $0 >= 0 }) else {
            throw SurgeLedgerError(value: annotation)
        }
        self.entries = decoded
    }

    public static func key(window: String, node: String) -> String { "\(window)/\(node)" }
    public var total: Int { entries.values.reduce(0, +) }
    public func contains(window: String, node: String) -> Bool { entries[Self.key(window: window, node: node)] != nil }
    public func amount(window: String, node: String) -> Int { entries[Self.key(window: window, node: node)] ?? 0 }
    /// What the entries for any of `nodes` add up to, whichever window holds them.
    public func amount(forNodes nodes: Set<String>) -> Int {
        entries.reduce(0) { sum, entry in
            guard let slash = entry.key.firstIndex(of: "/") else { return sum }
            return nodes.contains(String(entry.key[entry.key.index(after: slash)...])) ? sum + entry.value : sum
        }
    }
    public mutating func record(window: String, node: String, replicas: Int) { entries[Self.key(window: window, node: node)] = replicas }
    public mutating func remove(window: String, node: String) { entries[Self.key(window: window, node: node)] = nil }
    /// Entries of `window` (for giving everything back when the window ends).
    public func nodes(of window: String) -> [String] {
        entries.keys.filter { $0.hasPrefix(window + "/") }.map { String($0.dropFirst(window.count + 1)) }.sorted()
    }
    /// The annotation's value (nil when empty: the annotation is removed).
    public var encoded: String? {
        guard !entries.isEmpty else { return nil }
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: try! e.encode(entries), as: UTF8.self)
    }
}

public struct SurgeLedgerError: Error, CustomStringConvertible {
    public var value: String
    public var description: String { "annotation \(SurgeLedger.annotation) is not a JSON object of non-negative replica counts: \(value.prefix(120))" }
}
