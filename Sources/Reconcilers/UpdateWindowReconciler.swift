import ControllerRuntime
import CoreMetrics
import ForesightAPI
import Forecasting
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import UpdatePlanning

/// The finalizer through which a deleted UpdateWindow lets go of its nodes and surges.
public enum UpdateWindowFinalizer {
    public static let name = "foresight.dev/updatewindow-cleanup"
}

/// What the UpdateWindow reconciler reads, all from the shared informers' caches.
public struct UpdateWindowCaches: Sendable {
    public let windows: Store<UpdateWindow>
    public let nodes: Store<Node>
    public let pods: Store<CachedPod>
    public let deployments: Store<Deployment>
    public let replicaSets: Store<ReplicaSet>
    public let budgets: Store<PodDisruptionBudget>
    public let daemonSets: Store<DaemonSet>
    public let autoscalers: Store<HorizontalPodAutoscaler>

    public init(windows: Store<UpdateWindow>, nodes: Store<Node>, pods: Store<CachedPod>, deployments: Store<Deployment>, replicaSets: Store<ReplicaSet>,
                budgets: Store<PodDisruptionBudget>, daemonSets: Store<DaemonSet>, autoscalers: Store<HorizontalPodAutoscaler>) {
        self.windows = windows
        self.nodes = nodes
        self.pods = pods
        self.deployments = deployments
        self.replicaSets = replicaSets
        self.budgets = budgets
        self.daemonSets = daemonSets
        self.autoscalers = autoscalers
    }

    /// The HPA scaling a Deployment, if any.
    func autoscaler(of deployment: ObjectKey) -> HorizontalPodAutoscaler? {
        autoscalers.byIndex(Indexers.namespace, deployment.namespace ?? "").first {
            $0.spec?.scaleTargetRef?.kind == "Deployment" && $0.spec?.scaleTargetRef?.name == deployment.name
        }
    }
}

/// Runs UpdateWindows: inside the window, nodes go one batch at a time (`maxUnavailable`) in plan
/// order through cordon, surge, drain, the update handshake and verification, then are uncordoned.
///
/// Level-triggered and crash-safe: every reconcile reads where each node stands from its record
/// annotation (written together with the cordon, in one patch guarded by the node's
/// resourceVersion), where each surge stands from the Deployments' ledgers, and moves each one
/// step. Nothing lives only in memory: a controller killed at any point and started again goes on
/// from the same records, never evicting a pod twice nor raising a Deployment twice. The taint,
/// and every surge not held by a node in flight, are reconciled to what the records say on every
/// pass, so none is left behind when the window ends.
public struct UpdateWindowReconciler: Sendable {
    public let client: KubernetesClient
    public let caches: UpdateWindowCaches
    public let events: EventRecorder
    public var clock: @Sendable () -> Date = { Date() }
    public var logger = Logger(label: "foresight.updatewindow")
    /// How often a window with work in flight is looked at again.
    public var pollInterval: Double = 2
    /// The forecasts of a ZonePlan by name (`spec.zonePlanRef`): the ZonePlan reconciler's
    /// `loadOutlooks`. Without it, or before the plan has forecast, pods' requests stand in for load.
    public var zoneOutlooks: @Sendable (String) async -> [ZoneLoadOutlook] = { _ in [] }
    private let evicted = EvictionMemory()

    public init(client: KubernetesClient, caches: UpdateWindowCaches, events: EventRecorder) {
        self.client = client
        self.caches = caches
        self.events = events
    }

    // MARK: reconcile

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileAction {
        guard let window = caches.windows.get(key), let spec = window.spec else { return .awaitChange }
        if window.metadata.deletionTimestamp != nil { return try await finalize(window) }
        let now = clock()
        var conditions = window.statusConditions
        let generation = window.metadata.generation
        func condition(_ type: String, _ status: Bool?, _ reason: String, _ message: String) {
            conditions.set(type, status, reason: reason, message: message, generation: generation, at: now)
        }
        var status: [(String, JSONValue)] = [("observedGeneration", generation.map(JSONValue.int) ?? .null)]
        let ref = reference(window)
        if let (invalid, problems) = invalidSpecConditions(for: window, now: now) {
            status.append(("conditions", try JSONValue(encoding: invalid)))
            if try await writeStatusIfChanged(window, status, client: client) {
                await events.record(ref, .warning, reason: "InvalidSpec", message: problems.map(\.description).joined(separator: "; "))
            }
            // Nothing new starts; what is in flight is left as it stands until the spec is fixed.
            return .awaitChange
        }

        var run = WindowRun(window: window, spec: spec, now: now)
        let (schedule, _) = windowSchedule(spec)
        let selected = selectedNodes(spec)
        for node in selected { run.nodes[node.name] = node }
        run.records = Dictionary(uniqueKeysWithValues: selected.compactMap { n in currentRecord(n, run).map { (n.name, $0) } })
        // Nodes started keep their place, in the order they started; the rest are planned again on
        // what the cluster looks like now.
        let started = run.records.filter { $0.value.phase != .pending }.sorted { ($0.value.startedAt, $0.key) < ($1.value.startedAt, $1.key) }.map(\.key)
        var zones: [ZoneLoadOutlook] = []
        if let plan = spec.zonePlanRef?.name { zones = await zoneOutlooks(plan) }
        let resolver = OwnerResolver(replicaSets: caches.replicaSets)
        var zonePods: [String: Int] = [:]
        for z in zones {
            zonePods[z.zone] = z.deployments.compactMap { key -> Int? in
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                return parts.count == 2 ? caches.deployments.get(ObjectKey(namespace: parts[0], name: parts[1]))?.spec?.replicas : nil
            }.reduce(0, +)
        }
        // A pod's zone, through its ReplicaSet's Deployment (resolved once per ReplicaSet per pass).
        var zoneResolver = PodZoneResolver(zones: zones) { pod in
            guard pod.ownerKind == "ReplicaSet" else { return nil }
            return resolver.workload(of: copy pod).flatMap { $0.kind == "Deployment" ? "\($0.namespace)/\($0.name)" : nil }
        }
        let preview = previewWindow(spec, nodes: caches.nodes.list(), podsOn: { caches.pods.forEachInPlace(inIndex: PodIndex.node, $0, $1) }, now: now,
                                    excluding: Set(started), zones: zones, zoneOf: { zoneResolver.zone(at: $0) }, zonePods: zonePods)
        let order = started + (preview.plan?.nodes.map(\.node) ?? []) + (preview.plan?.unplaced ?? [])
        let planned = Dictionary(preview.plan?.nodes.map { ($0.node, $0.start) } ?? [], uniquingKeysWith: { a, _ in a })
        let open = schedule?.current(at: now) != nil
        let decision = decideRollout(order: order.filter { run.nodes[$0] != nil }, records: run.records, plannedStart: planned, open: open,
                                     paused: spec.paused == true, expired: schedule?.hasExpired(at: now) == true,
                                     maxUnavailable: max(1, spec.maxUnavailable?.resolve(total: selected.count, roundUp: false) ?? 1),
                                     maxFailedNodes: spec.maxFailedNodes ?? 1, now: now,
                                     // With flat load going early is never worse; with a forecast the plan
                                     // (made again every pass) says when each node's time has come.
                                     mayStartEarly: { _ in zones.isEmpty })

        // Every step is attempted; one node's error does not hold the others up.
        var problems: [String] = []
        var conflicts = 0
        func attempt(_ what: String, _ body: () async throws -> Void) async {
            do { try await body() } catch let e as ClientError where e.apiError?.statusCode == 409 {
                // The cache was behind a write of ours: the next pass, on fresher objects, goes on.
                conflicts += 1
                logger.debug("\(window.name): \(what): \(e)")
            } catch {
                problems.append("\(what): \(error)")
                logger.warning("\(window.name): \(what): \(error)")
            }
        }
        // A window holds nodes and surges only once it has started one; from then on its deletion
        // waits until it has let go of them.
        if !(decision.start + decision.retry).isEmpty && !(window.metadata.finalizers ?? []).contains(UpdateWindowFinalizer.name) {
            try await client.patch(UpdateWindow.self, name: window.name, body: [
                "metadata": ["finalizers": .array(((window.metadata.finalizers ?? []) + [UpdateWindowFinalizer.name]).map(JSONValue.string)),
                             "resourceVersion": .string(window.metadata.resourceVersion ?? "")]])
            return .requeue(after: 0)
        }
        for name in decision.start + decision.retry {
            await attempt("starting \(name)") { try await start(name, predictedLoad: preview.plan?.nodes.first { $0.node == name }?.predictedLoad, &run) }
        }
        for name in order where run.records[name]?.phase.isInFlight == true {
            await attempt(name) { try await advance(name, &run) }
        }
        let running = decision.phase == .running && open
        await attempt("taints") { try await reconcileTaints(&run, running: running) }
        await attempt("surges") { try await giveBackSurges(&run) }

        // Status: the decision again, on the records as they are after this pass.
        let after = decideRollout(order: order.filter { run.nodes[$0] != nil }, records: run.records, plannedStart: planned, open: open,
                                  paused: spec.paused == true, expired: schedule?.hasExpired(at: now) == true,
                                  maxUnavailable: 1, maxFailedNodes: spec.maxFailedNodes ?? 1, now: now)
        status.append(("phase", .string(preview.window == nil && after.phase == .waiting ? preview.phase : after.phase.rawValue)))
        status.append(("progress", .string("\(after.done)/\(after.total)")))
        if let w = preview.window {
            status.append(("windowStart", .string(Timestamp.format(w.start))))
            status.append(("windowEnd", .string(Timestamp.format(w.end))))
        }
        if let plan = preview.plan {
            // Started nodes first, as they went (their ETA is when they finished, or are due to).
            let perNode = run.nodeTimeout + run.settle
            let gone: [JSONValue] = started.enumerated().map { i, name in
                let r = run.records[name]!
                return .object([("node", .string(name)), ("slot", .int(i)), ("predictedLoad", .double(((r.predictedLoad ?? 0) * 1000).rounded() / 1000)),
                                ("eta", .string(Timestamp.format(r.finishedAt ?? r.startedAt.addingTimeInterval(perNode))))])
            }
            status.append(("plan", .array(gone + plan.nodes.map { p in
                .object([("node", .string(p.node)), ("slot", .int(started.count + p.slot)), ("predictedLoad", .double((p.predictedLoad * 1000).rounded() / 1000)),
                         ("eta", .string(Timestamp.format(p.eta)))])
            })))
            let source = zones.isEmpty
                ? "load: pods' CPU requests" + (spec.zonePlanRef?.name.map { " (ZonePlan \($0) has no forecast yet)" } ?? "")
                : "load: the forecasts of ZonePlan \(spec.zonePlanRef?.name ?? "") (\(zones.map(\.zone).sorted().joined(separator: ", ")))"
            condition("PlanFits", plan.fits, plan.fits ? "Fits" : "DoesNotFit",
                      (plan.fits ? "\(plan.nodes.count) nodes fit the window" : "\(plan.unplaced.count) nodes do not fit before \(Timestamp.format(preview.window!.end)): \(plan.unplaced.joined(separator: ", "))")
                        + "; " + source)
            condition("CapacityHeld", plan.wouldDip.isEmpty, plan.wouldDip.isEmpty ? "Held" : "WouldDip",
                      plan.wouldDip.isEmpty ? "the other nodes can hold each node's pods while it is out"
                        : "the other nodes cannot hold the pods of \(plan.wouldDip.joined(separator: ", ")) while it is out (pod CPU requests against allocatable)")
        }
        status.append(("nodes", .array(order.compactMap { name in run.nodes[name].map { _ in nodeStatus(name, run.records[name]) } })))
        let readyMessage = ([after.message] + problems).joined(separator: "; ")
        condition("Ready", after.phase == .completed, after.reason, preview.problem ?? readyMessage)
        status.append(("conditions", try JSONValue(encoding: conditions)))
        _ = try await writeStatusIfChanged(window, status, client: client)
        recordMetrics(window.name, run)

        if conflicts > 0 { return .requeue(after: 0.5) }
        if run.records.values.contains(where: { $0.phase.isInFlight }) || (running && after.phase == .running) || !problems.isEmpty {
            return .requeue(after: pollInterval)
        }
        let nextEdge = [preview.window?.start, preview.window?.end].compactMap { $0 }.filter { $0 > now }.min()
        return .requeue(after: min(300, max(1, nextEdge.map { $0.timeIntervalSince(now) + 1 } ?? 300)))
    }

    /// One reconcile's view of a window: the selected nodes (replaced by what each write returns,
    /// so later steps of the same pass see it) and their records.
    struct WindowRun {
        let window: UpdateWindow
        let spec: UpdateWindow.Spec
        let now: Date
        var nodes: [String: Node] = [:]
        var records: [String: NodeUpdateRecord] = [:]

        var target: String { "\(spec.update?.target?.osImage ?? "")/\(spec.update?.target?.kernelVersion ?? "")" }
        var drainOptions: DrainOptions {
            DrainOptions(deleteEmptyDirData: spec.drain?.deleteEmptyDirData ?? false, force: spec.drain?.force ?? false,
                         ignoreDaemonSets: spec.drain?.ignoreDaemonSets ?? true, skipWaitForDeleteTimeoutSeconds: spec.drain?.skipWaitForDeleteTimeoutSeconds ?? 0)
        }
        func seconds(_ value: String?, default d: Int64) -> TimeInterval { TimeInterval(value.flatMap(DurationParser.seconds) ?? d) }
        var drainTimeout: TimeInterval { seconds(spec.drain?.timeout, default: 600) }
        var nodeTimeout: TimeInterval { seconds(spec.update?.nodeTimeout, default: 1800) }
        var settle: TimeInterval { seconds(spec.verify?.settle, default: 120) }
    }

    func selectedNodes(_ spec: UpdateWindow.Spec) -> [Node] {
        let selector = spec.nodeSelector ?? LabelSelector()
        var nodes = caches.nodes.list().filter { selector.matches($0.metadata.labels) }
        if let listed = spec.nodes, !listed.isEmpty { nodes = nodes.filter { listed.contains($0.name) } }
        return nodes.sorted { $0.name < $1.name }
    }

    /// Whether a node runs what the window's `update.target` names (every part it names; a window
    /// without a target updates every node).
    static func isOnTarget(_ info: NodeSystemInfo, _ target: UpdateWindow.Update.Target?) -> Bool {
        guard let target, target.osImage != nil || target.kernelVersion != nil else { return false }
        return (target.osImage.map { $0 == info.osImage } ?? true) && (target.kernelVersion.map { $0 == info.kernelVersion } ?? true)
    }

    /// The node's record when it belongs to this window's current round.
    func currentRecord(_ node: Node, _ run: WindowRun) -> NodeUpdateRecord? {
        guard let record = NodeUpdateRecord.decode(node.metadata.annotations?[NodeUpdateRecord.annotation]),
              record.window == run.window.name, record.target == run.target else { return nil }
        return record
    }

    // MARK: the steps of one node

    /// Cordons a node and writes its record in one patch guarded by its resourceVersion: either
    /// both happen or neither. A node whose drain could never start is failed before it is touched.
    func start(_ name: String, predictedLoad: Double?, _ run: inout WindowRun) async throws {
        guard let node = run.nodes[name] else { return }
        let previous = run.records[name]
        var record = NodeUpdateRecord(window: run.window.name, target: run.target, phase: .preScaling, startedAt: run.now,
                                      wasUnschedulable: previous?.wasUnschedulable ?? node.isUnschedulable, bootID: node.status?.nodeInfo?.bootID,
                                      attempts: (previous?.attempts ?? 0) + 1)
        record.predictedLoad = predictedLoad ?? previous?.predictedLoad
        // A node already on the target (one a node pool added from a newer image, say) is done as
        // it is: recorded so, never cordoned, drained or rebooted for it.
        if node.isReady, let info = node.status?.nodeInfo, Self.isOnTarget(info, run.spec.update?.target) {
            record.enter(.done, at: run.now, message: "already on the target (\(info.osImage ?? "?") / \(info.kernelVersion ?? "?")): not cordoned or rebooted")
            try await writeRecord(name, record, &run)
            await events.record(nodeReference(node), .normal, reason: "AlreadyUpdated", message: "on UpdateWindow \(run.window.name)'s target already")
            return
        }
        let drain = drainDecision(name, run)
        var blockers = drain.blockers
        if !(run.spec.preScale ?? true) { blockers += deadlockedBudgets(drain) }
        if !blockers.isEmpty {
            record.enter(.failed, at: run.now, message: "cannot drain: " + blockers.joined(separator: "; "))
            try await writeRecord(name, record, &run)
            await events.record(reference(run.window), .warning, reason: "NodeFailed", message: "\(name): \(record.message!)")
            return
        }
        try await writeRecord(name, record, &run, extraSpec: [("unschedulable", .bool(true))])
        await events.record(nodeReference(node), .normal, reason: "Cordoned", message: "cordoned by UpdateWindow \(run.window.name) (attempt \(record.attempts))")
        logger.info("\(run.window.name): \(name) cordoned (attempt \(record.attempts), was unschedulable: \(record.wasUnschedulable))")
    }

    /// Moves an in-flight node one step on.
    func advance(_ name: String, _ run: inout WindowRun) async throws {
        guard var record = run.records[name], let node = run.nodes[name] else { return }
        let before = record
        switch record.phase {
        case .preScaling:
            let drain = drainDecision(name, run)
            if !drain.canStart {
                return try await fail(name, &record, "cannot drain: " + drain.blockers.joined(separator: "; "), &run)
            }
            let moving = workloadsMoving(drain)
            record.workloads = moving.map { "\($0.key.namespace ?? "")/\($0.key.name)" }.sorted()
            var waiting: [String] = []
            if run.spec.preScale ?? true {
                for (key, count) in moving.sorted(by: { $0.key.description < $1.key.description }) {
                    if let wait = try await surge(key, by: count, node: name, run) { waiting.append(wait) }
                }
            }
            if waiting.isEmpty {
                record.enter(.draining, at: run.now)
                if !moving.isEmpty && (run.spec.preScale ?? true) {
                    await events.record(nodeReference(node), .normal, reason: "Surged",
                                        message: "raised \(moving.map { "\($0.key.namespace ?? "")/\($0.key.name) +\($0.value)" }.sorted().joined(separator: ", ")); the new pods are Ready")
                }
            } else if run.now.timeIntervalSince(record.phaseSince) > run.drainTimeout {
                return try await fail(name, &record, "the surge was not Ready within \(DurationParser.format(Int64(run.drainTimeout))): \(waiting.joined(separator: "; "))", &run)
            } else {
                record.message = "waiting for the surge: " + waiting.joined(separator: "; ")
            }
        case .draining:
            let drain = drainDecision(name, run)
            if !drain.canStart {
                return try await fail(name, &record, "cannot drain: " + drain.blockers.joined(separator: "; "), &run)
            }
            if drain.evict.isEmpty, let attached = node.status?.volumesAttached, !attached.isEmpty {
                // Volumes of the evicted pods must be detached before the node reboots.
                if run.now.timeIntervalSince(record.phaseSince) > run.drainTimeout {
                    return try await fail(name, &record, "\(attached.count) volumes still attached after the drain timeout", &run)
                }
                record.message = "drained; waiting for \(attached.count) volumes to detach"
                break
            } else if drain.evict.isEmpty {
                record.enter(.updating, at: run.now, message: "waiting for the node agent")
                try await writeRecord(name, record, &run, extraAnnotations: [
                    (UpdateHandshake.state, .string(UpdateHandshake.requested)), (UpdateHandshake.window, .string(run.window.name)), (UpdateHandshake.message, .null),
                    (UpdateHandshake.targetOSImage, run.spec.update?.target?.osImage.map(JSONValue.string) ?? .null),
                    (UpdateHandshake.targetKernel, run.spec.update?.target?.kernelVersion.map(JSONValue.string) ?? .null),
                ])
                await events.record(nodeReference(node), .normal, reason: "UpdateRequested",
                                    message: "drained (\(record.evictedPods) pods evicted); update requested from the node agent")
                return
            }
            if run.now.timeIntervalSince(record.phaseSince) > run.drainTimeout {
                return try await fail(name, &record, "the drain did not finish within \(DurationParser.format(Int64(run.drainTimeout)))"
                                      + (record.blockedBy.map { "; blocked by \($0)" } ?? "") + "; \(drain.evict.count) pods left", &run)
            }
            let outcome = try await evict(drain.evict, node: name, run)
            record.evictedPods += outcome.evicted
            if outcome.blockedBy == nil { record.blockedSince = nil } else if record.blockedBy == nil || record.blockedSince == nil { record.blockedSince = run.now }
            record.blockedBy = outcome.blockedBy
            record.message = outcome.failures.isEmpty ? "\(drain.evict.count) pods to go" : outcome.failures.joined(separator: "; ")
            guard record != before else { return }
            do { try await writeRecord(name, record, &run) } catch let e as ClientError where e.apiError?.statusCode == 409 && outcome.evicted > 0 {
                // The evictions happened: count them on the node's record as it is now.
                let fresh = try await client.get(Node.self, name: name)
                run.nodes[name] = fresh
                guard var latest = currentRecord(fresh, run), latest.phase == .draining else { throw e }
                latest.evictedPods += outcome.evicted
                latest.blockedBy = outcome.blockedBy
                latest.message = record.message
                try await writeRecord(name, latest, &run)
            }
            return
        case .updating:
            let annotations = node.metadata.annotations ?? [:]
            switch annotations[UpdateHandshake.state] {
            case UpdateHandshake.done:
                record.enter(.verifying, at: run.now)
            case UpdateHandshake.failed:
                return try await fail(name, &record, "the node agent reported failure: \(annotations[UpdateHandshake.message] ?? "no message")", &run)
            default:
                if run.now.timeIntervalSince(record.phaseSince) > run.nodeTimeout {
                    return try await fail(name, &record, "the update did not finish within nodeTimeout \(DurationParser.format(Int64(run.nodeTimeout)))"
                                          + " (foresight.dev/update: \(annotations[UpdateHandshake.state] ?? "absent"))", &run)
                }
                record.message = "the node agent says \(annotations[UpdateHandshake.state] ?? "nothing yet")"
            }
        case .verifying:
            let info = node.status?.nodeInfo
            let problems = verificationProblems(
                VerificationFacts(ready: node.isReady, bootID: info?.bootID, osImage: info?.osImage, kernelVersion: info?.kernelVersion,
                                  handshake: node.metadata.annotations?[UpdateHandshake.state]),
                previousBootID: record.bootID, targetOSImage: run.spec.update?.target?.osImage, targetKernel: run.spec.update?.target?.kernelVersion,
                workloadProblems: workloadProblems(record.workloads ?? []) + daemonPodProblems(name))
            if !problems.isEmpty {
                record.settledSince = nil
                if run.now.timeIntervalSince(record.phaseSince) > run.nodeTimeout {
                    return try await fail(name, &record, "not verified within nodeTimeout: " + problems.joined(separator: "; "), &run)
                }
                record.message = problems.joined(separator: "; ")
            } else if let since = record.settledSince, run.now.timeIntervalSince(since) >= run.settle {
                record.enter(.done, at: run.now, message: "updated to \(info?.osImage ?? "?") / \(info?.kernelVersion ?? "?")")
                var spec: [(String, JSONValue)] = [("taints", taints(node, pending: false))]
                if !record.wasUnschedulable { spec.append(("unschedulable", .null)) }
                try await writeRecord(name, record, &run, extraSpec: spec)
                await events.record(nodeReference(node), .normal, reason: "Updated",
                                    message: (record.message ?? "") + (record.wasUnschedulable ? "; left cordoned (it was before the window)" : "; uncordoned"))
                return
            } else {
                if record.settledSince == nil { record.settledSince = run.now }
                record.message = "verified; settling for \(DurationParser.format(Int64(run.settle)))"
            }
        case .pending, .done, .failed:
            return
        }
        if record != before { try await writeRecord(name, record, &run) }
    }

    /// Fails a node: it stays cordoned, with the reason in its record; its surge is given back by
    /// the sweep that follows.
    func fail(_ name: String, _ record: inout NodeUpdateRecord, _ message: String, _ run: inout WindowRun) async throws {
        record.enter(.failed, at: run.now, message: message)
        try await writeRecord(name, record, &run)
        if let node = run.nodes[name] { await events.record(nodeReference(node), .warning, reason: "UpdateFailed", message: message) }
        await events.record(reference(run.window), .warning, reason: "NodeFailed", message: "\(name): \(message)")
        logger.warning("\(run.window.name): \(name) failed: \(message)")
    }

    /// Writes a node's record (and any other annotations and spec fields) in one merge patch guarded
    /// by the resourceVersion the decision was made on; a stale cache gets a conflict, not a wrong write.
    func writeRecord(_ name: String, _ record: NodeUpdateRecord, _ run: inout WindowRun,
                     extraAnnotations: [(String, JSONValue)] = [], extraSpec: [(String, JSONValue)] = []) async throws {
        guard let node = run.nodes[name] else { return }
        var body: [(String, JSONValue)] = [("metadata", .object([
            ("resourceVersion", .string(node.metadata.resourceVersion ?? "")),
            ("annotations", .object([(NodeUpdateRecord.annotation, .string(record.encoded()))] + extraAnnotations)),
        ]))]
        if !extraSpec.isEmpty { body.append(("spec", .object(extraSpec))) }
        run.nodes[name] = try await client.patch(Node.self, name: name, body: .object(body))
        run.records[name] = record
    }

    // MARK: drain

    func drainDecision(_ node: String, _ run: WindowRun) -> DrainDecision {
        // Only the pods `drain.podSelector` selects are drained (validated with the spec).
        let selector = (try? LabelSelector(parsing: run.spec.drain?.podSelector ?? "")) ?? LabelSelector()
        let pods = caches.pods.byIndex(PodIndex.node, node).filter { selector.isEmpty || selector.matches($0.labels) }.map { p in
            DrainCandidate(namespace: p.namespace, name: p.name, ownerKind: p.ownerKind, ownerName: p.ownerName, phase: DrainCandidate.Phase(p.phase),
                           hasEmptyDir: p.flags.contains(.emptyDir), isMirror: p.flags.contains(.mirror), doNotDisrupt: p.flags.contains(.doNotDisrupt),
                           drainSkip: p.flags.contains(.drainSkip), deletionTime: p.deletionTime)
        }
        return decideDrain(pods, options: run.drainOptions, now: Int64(run.now.timeIntervalSince1970)) { ns, name in
            caches.daemonSets.get(ObjectKey(namespace: ns, name: name)) != nil
        }
    }

    /// Budgets that can never allow an eviction of the drain's pods as things stand (every pod
    /// they cover is needed: replicas 1 with minAvailable 1, maxUnavailable 0): without a surge
    /// the drain could only wait for ever, so the node is set aside before it is touched.
    func deadlockedBudgets(_ drain: DrainDecision) -> [String] {
        var found: Set<String> = []
        for candidate in drain.evict {
            guard let pod = caches.pods.get(ObjectKey(namespace: candidate.namespace, name: candidate.name)) else { continue }
            let labels = pod.labels
            for b in caches.budgets.byIndex(Indexers.namespace, pod.namespace) where b.spec?.selector?.matches(labels) == true {
                let st = b.status
                if (st?.disruptionsAllowed ?? 0) == 0, let expected = st?.expectedPods, let desired = st?.desiredHealthy, desired >= expected {
                    found.insert("PodDisruptionBudget \(pod.namespace)/\(b.name) allows no disruption of its \(expected) pods (preScale would surge them first)")
                }
            }
        }
        return found.sorted()
    }

    /// The Deployments whose pods a drain moves, with how many of their pods it moves.
    func workloadsMoving(_ drain: DrainDecision) -> [ObjectKey: Int] {
        let resolver = OwnerResolver(replicaSets: caches.replicaSets)
        var out: [ObjectKey: Int] = [:]
        for candidate in drain.evict where candidate.deletionTime == nil {
            guard let pod = caches.pods.get(ObjectKey(namespace: candidate.namespace, name: candidate.name)),
                  let workload = resolver.workload(of: pod), workload.kind == "Deployment" else { continue }
            out[workload.key, default: 0] += 1
        }
        return out
    }

    struct EvictionOutcome { var evicted = 0; var blockedBy: String?; var failures: [String] = [] }

    /// Evicts the pods not already on their way out, concurrently (at most 8 at a time), each
    /// guarded by its UID so a pod recreated under the same name is never taken for it. A refusal
    /// by a PodDisruptionBudget (429) is retried on the next pass and named in `blockedBy`.
    func evict(_ candidates: [DrainCandidate], node: String, _ run: WindowRun) async throws -> EvictionOutcome {
        let version = try await client.evictionPolicyVersion()
        // A negative grace period (the default, -1) means each pod's own.
        let grace = run.spec.drain?.gracePeriodSeconds.flatMap { $0 < 0 ? nil : $0 }
        // Application pods first; node-critical ones (DNS, CNI, storage agents) once the others
        // are gone, so the service they carry stays up as long as possible.
        let present = candidates.compactMap { caches.pods.get(ObjectKey(namespace: $0.namespace, name: $0.name)) }
        let ordinaryLeft = present.contains { !$0.flags.contains(.critical) }
        let pods = present.filter { $0.deletionTime == nil && (!ordinaryLeft || !$0.flags.contains(.critical)) }
        var outcome = EvictionOutcome()
        enum Result { case evicted(CachedPod), gone, blocked(CachedPod), failed(String) }
        var remaining = pods[...]
        while !remaining.isEmpty {
            let batch = remaining.prefix(8)
            remaining = remaining.dropFirst(8)
            let results = await withTaskGroup(of: Result.self) { group in
                for pod in batch {
                    guard let uid = pod.uid?.uuidString.lowercased() else { continue }
                    if await evicted.contains(uid) { continue }
                    group.addTask {
                        do {
                            _ = try await client.send(RequestBuilder.evict(namespace: pod.namespace, pod: pod.name, policyVersion: version,
                                                                           options: DeleteOptions(gracePeriodSeconds: grace, preconditionUID: uid)), retry: .never)
                            await evicted.insert(uid)
                            return .evicted(pod)
                        } catch let e as ClientError {
                            switch e.apiError?.statusCode {
                            case 404?, 409?: return .gone  // gone, or replaced (UID precondition)
                            case 429?: return .blocked(pod)
                            case 403? where e.apiError?.isNamespaceTerminating == true: return .gone
                            default: return .failed("\(pod.namespace)/\(pod.name): \(e)")
                            }
                        } catch { return .failed("\(pod.namespace)/\(pod.name): \(error)") }
                    }
                }
                var all: [Result] = []
                for await r in group { all.append(r) }
                return all
            }
            for r in results {
                switch r {
                case .evicted(let pod):
                    outcome.evicted += 1
                    logger.info("\(run.window.name): evicted \(pod.namespace)/\(pod.name) (\(pod.uid?.uuidString.lowercased() ?? "")) from \(node)")
                    Counter(label: "foresight_update_evictions_total", dimensions: [("window", run.window.name)]).increment()
                    await events.record(ObjectReference(apiVersion: "v1", kind: "Pod", namespace: pod.namespace, name: pod.name, uid: pod.uid?.uuidString.lowercased()),
                                        .normal, reason: "Evicted", message: "evicted by UpdateWindow \(run.window.name) to update node \(node)")
                case .gone: break
                case .blocked(let pod): outcome.blockedBy = outcome.blockedBy ?? blockingBudget(of: pod)
                case .failed(let why): outcome.failures.append(why)
                }
            }
        }
        return outcome
    }

    /// "PodDisruptionBudget ns/name (pod ns/pod)" for the budget that refuses a pod's eviction.
    func blockingBudget(of pod: CachedPod) -> String {
        let labels = pod.labels
        let budgets = caches.budgets.byIndex(Indexers.namespace, pod.namespace).filter { $0.spec?.selector?.matches(labels) ?? false }
        let names = budgets.map { "PodDisruptionBudget \(pod.namespace)/\($0.name)" }.sorted()
        return (names.isEmpty ? "a PodDisruptionBudget" : names.joined(separator: ", ")) + " (pod \(pod.namespace)/\(pod.name))"
    }

    /// Why the moved workloads are not whole yet: a Deployment short of its replicas, or a budget
    /// over its pods with no disruption allowed.
    func workloadProblems(_ keys: [String]) -> [String] {
        var problems: [String] = []
        for key in keys {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let d = caches.deployments.get(ObjectKey(namespace: parts[0], name: parts[1])) else { continue }
            // Whole again means back at its own count: the surges it carries (which may not all
            // fit while the node is out, since the evicted pods are replaced as well) do not count.
            let surge = (try? SurgeLedger(annotation: d.metadata.annotations?[SurgeLedger.annotation]))?.total ?? 0
            let want = max(0, (d.spec?.replicas ?? 1) - surge), available = d.status?.availableReplicas ?? 0
            if available < want || (d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0) {
                problems.append("Deployment \(key) has \(available)/\(want) available")
            }
            let labels = d.spec?.template?.metadata?.labels ?? [:]
            for b in caches.budgets.byIndex(Indexers.namespace, parts[0]) where b.spec?.selector?.matches(labels) == true {
                if (b.status?.disruptionsAllowed ?? 0) < 1 && want > 0 && (b.status?.currentHealthy ?? 0) < (b.status?.desiredHealthy ?? 0) {
                    problems.append("PodDisruptionBudget \(parts[0])/\(b.name) has \(b.status?.currentHealthy ?? 0)/\(b.status?.desiredHealthy ?? 0) healthy")
                }
            }
        }
        return problems
    }

    /// The node's own DaemonSet pods (CNI, kube-proxy, CSI and the like) must be Ready again
    /// before it takes workloads back.
    func daemonPodProblems(_ node: String) -> [String] {
        let notReady = caches.pods.byIndex(PodIndex.node, node).filter { $0.ownerKind == "DaemonSet" && !$0.isFinished && $0.deletionTime == nil && !$0.isReady }
        return notReady.isEmpty ? [] : ["DaemonSet pods not Ready: " + notReady.map { "\($0.namespace)/\($0.name)" }.sorted().joined(separator: ", ")]
    }

    // MARK: surge

    /// Raises a Deployment by `count` for `node`, once: the ledger entry and the new replica count
    /// are one patch guarded by the resourceVersion. Returns what is still awaited (nil when the
    /// surge's pods are Ready).
    func surge(_ key: ObjectKey, by count: Int, node: String, _ run: WindowRun) async throws -> String? {
        guard let d = caches.deployments.get(key) else { return nil }
        let name = "\(key.namespace ?? "")/\(key.name)"
        var ledger = try SurgeLedger(annotation: d.metadata.annotations?[SurgeLedger.annotation])
        let replicas = d.spec?.replicas ?? 1
        let hpa = caches.autoscaler(of: key)
        if !ledger.contains(window: run.window.name, node: node) {
            // Under an HPA the raised count must also be its floor, or its next sync takes the
            // surge back: minReplicas is raised first (the user's value kept in an annotation),
            // never above maxReplicas.
            if let hpa, let minimum = hpa.spec?.minReplicas ?? Optional(1), minimum < min(replicas + count, hpa.spec?.maxReplicas ?? Int.max) {
                let original = hpa.metadata.annotations?[SurgeLedger.originalMinReplicasAnnotation] ?? String(minimum)
                try await client.patch(HorizontalPodAutoscaler.self, namespace: key.namespace, name: hpa.name, body: [
                    "metadata": ["resourceVersion": .string(hpa.metadata.resourceVersion ?? ""),
                                 "annotations": [.init(SurgeLedger.originalMinReplicasAnnotation): .string(original)]],
                    "spec": ["minReplicas": .int(min(replicas + count, hpa.spec?.maxReplicas ?? Int.max))],
                ])
            }
            ledger.record(window: run.window.name, node: node, replicas: count)
            try await client.patch(Deployment.self, namespace: key.namespace, name: key.name, body: [
                "metadata": ["resourceVersion": .string(d.metadata.resourceVersion ?? ""), "annotations": [.init(SurgeLedger.annotation): ledger.encoded.map(JSONValue.string) ?? .null]],
                "spec": ["replicas": .int(replicas + count)],
            ])
            logger.info("\(run.window.name): \(name) raised \(replicas) → \(replicas + count) for \(node)")
            return "Deployment \(name) raised to \(replicas + count)"
        }
        let available = d.status?.availableReplicas ?? 0
        if (d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0) || available < replicas {
            return "Deployment \(name) has \(available)/\(replicas) available"
        }
        return nil
    }

    /// Gives back every surge of this window whose node is not in flight (done, failed, or no
    /// longer updating): replicas lowered by the entry and the entry removed, in one guarded patch.
    func giveBackSurges(_ run: inout WindowRun) async throws {
        for d in caches.deployments.list() {
            guard let value = d.metadata.annotations?[SurgeLedger.annotation] else { continue }
            var ledger = try SurgeLedger(annotation: value)
            let nodes = ledger.nodes(of: run.window.name).filter { run.records[$0]?.phase.isInFlight != true }
            guard !nodes.isEmpty else { continue }
            let amount = nodes.reduce(0) { $0 + ledger.amount(window: run.window.name, node: $1) }
            for n in nodes { ledger.remove(window: run.window.name, node: n) }
            let replicas = max(0, (d.spec?.replicas ?? 1) - amount)
            try await client.patch(Deployment.self, namespace: d.metadata.namespace, name: d.name, body: [
                "metadata": ["resourceVersion": .string(d.metadata.resourceVersion ?? ""), "annotations": [.init(SurgeLedger.annotation): ledger.encoded.map(JSONValue.string) ?? .null]],
                "spec": ["replicas": .int(replicas)],
            ])
            logger.info("\(run.window.name): \(d.metadata.namespace ?? "")/\(d.name) surge for \(nodes.joined(separator: ", ")) given back (\(amount))")
            try await restoreAutoscaler(of: ObjectKey(namespace: d.metadata.namespace, name: d.name), surgeLeft: ledger.total)
        }
        // An HPA whose Deployment no longer carries any surge gets its own minReplicas back (also
        // after a crash between the two writes).
        for hpa in caches.autoscalers.list() where hpa.metadata.annotations?[SurgeLedger.originalMinReplicasAnnotation] != nil {
            guard let target = hpa.spec?.scaleTargetRef, target.kind == "Deployment" else { continue }
            let key = ObjectKey(namespace: hpa.metadata.namespace, name: target.name)
            let left = (try? SurgeLedger(annotation: caches.deployments.get(key)?.metadata.annotations?[SurgeLedger.annotation]))?.total ?? 0
            if left == 0 { try await restoreAutoscaler(of: key, surgeLeft: 0) }
        }
    }

    /// Gives an HPA its user's minReplicas back once its Deployment carries no surge.
    func restoreAutoscaler(of key: ObjectKey, surgeLeft: Int) async throws {
        guard surgeLeft == 0, let hpa = caches.autoscaler(of: key),
              let original = hpa.metadata.annotations?[SurgeLedger.originalMinReplicasAnnotation].flatMap({ Int($0) }) else { return }
        try await client.patch(HorizontalPodAutoscaler.self, namespace: key.namespace, name: hpa.name, body: [
            "metadata": ["annotations": [.init(SurgeLedger.originalMinReplicasAnnotation): .null]],
            "spec": ["minReplicas": .int(original)],
        ])
        logger.info("HPA \(key.namespace ?? "")/\(hpa.name) minReplicas given back (\(original))")
    }

    // MARK: taints

    /// `spec.taints` with the pending taint added or removed (the rest kept as they are).
    func taints(_ node: Node, pending: Bool) -> JSONValue {
        var list = (node.spec?.taints ?? []).filter { $0.key != UpdateHandshake.pendingTaint }
        if pending { list.append(NodeSpec.Taint(key: UpdateHandshake.pendingTaint, effect: "PreferNoSchedule")) }
        return (try? JSONValue(encoding: list)) ?? .array([])
    }

    /// While the window runs, nodes still to be updated carry the pending taint; otherwise none does.
    func reconcileTaints(_ run: inout WindowRun, running: Bool) async throws {
        for (name, node) in run.nodes.sorted(by: { $0.key < $1.key }) {
            let phase = run.records[name]?.phase ?? .pending
            let want = running && (phase == .pending || phase.isInFlight)
            guard want != node.awaitsUpdate else { continue }
            run.nodes[name] = try await client.patch(Node.self, name: name, body: [
                "metadata": ["resourceVersion": .string(node.metadata.resourceVersion ?? "")], "spec": ["taints": taints(node, pending: want)]])
        }
    }

    // MARK: deletion

    /// A deleted window lets go of everything it holds: nodes in flight or failed are uncordoned
    /// (unless they were cordoned before), taints and surges removed; then the finalizer.
    func finalize(_ window: UpdateWindow) async throws -> ReconcileAction {
        guard (window.metadata.finalizers ?? []).contains(UpdateWindowFinalizer.name), let spec = window.spec else { return .awaitChange }
        var run = WindowRun(window: window, spec: spec, now: clock())
        for node in caches.nodes.list() {
            guard let record = NodeUpdateRecord.decode(node.metadata.annotations?[NodeUpdateRecord.annotation]), record.window == window.name else { continue }
            var spec: [(String, JSONValue)] = [("taints", taints(node, pending: false))]
            if record.phase != .done && !record.wasUnschedulable { spec.append(("unschedulable", .null)) }
            try await client.patch(Node.self, name: node.name, body: [
                "metadata": ["resourceVersion": .string(node.metadata.resourceVersion ?? ""), "annotations": [.init(NodeUpdateRecord.annotation): .null]],
                "spec": .object(spec)])
        }
        try await giveBackSurges(&run)
        try await client.patch(UpdateWindow.self, name: window.name, body: [
            "metadata": ["finalizers": .array((window.metadata.finalizers ?? []).filter { $0 != UpdateWindowFinalizer.name }.map(JSONValue.string)),
                         "resourceVersion": .string(window.metadata.resourceVersion ?? "")]])
        return .awaitChange
    }

    // MARK: reporting

    func nodeStatus(_ name: String, _ record: NodeUpdateRecord?) -> JSONValue {
        // A verified node waiting out `settle` reports Settling.
        let phase = record?.phase == .verifying && record?.settledSince != nil ? "Settling" : (record?.phase ?? .pending).rawValue
        var fields: [(String, JSONValue)] = [("name", .string(name)), ("phase", .string(phase))]
        if let r = record {
            fields.append(("startedAt", .string(Timestamp.format(r.startedAt))))
            if let f = r.finishedAt { fields.append(("finishedAt", .string(Timestamp.format(f)))) }
            fields.append(("evictedPods", .int(r.evictedPods)))
            if let b = r.blockedBy {
                let since = r.blockedSince.map { " since \(Timestamp.format($0))" } ?? ""
                fields.append(("blockedBy", .string(b + since)))
            }
            fields.append(("wasUnschedulable", .bool(r.wasUnschedulable)))
            if let m = r.message, !m.isEmpty { fields.append(("message", .string(m))) }
        }
        return .object(fields)
    }

    func recordMetrics(_ window: String, _ run: WindowRun) {
        for phase in NodeUpdatePhase.allCases {
            let count = run.nodes.keys.filter { (run.records[$0]?.phase ?? .pending) == phase }.count
            Gauge(label: "foresight_update_nodes", dimensions: [("window", window), ("phase", phase.rawValue)]).record(count)
        }
        var surge = 0
        for d in caches.deployments.list() {
            if let ledger = try? SurgeLedger(annotation: d.metadata.annotations?[SurgeLedger.annotation]) {
                surge += ledger.nodes(of: window).reduce(0) { $0 + ledger.amount(window: window, node: $1) }
            }
        }
        Gauge(label: "foresight_update_surge_replicas", dimensions: [("window", window)]).record(surge)
    }

    func reference(_ window: UpdateWindow) -> ObjectReference {
        ObjectReference(apiVersion: UpdateWindow.resource.apiVersion, kind: "UpdateWindow", name: window.name, uid: window.metadata.uid)
    }
    func nodeReference(_ node: Node) -> ObjectReference { ObjectReference(apiVersion: "v1", kind: "Node", name: node.name, uid: node.metadata.uid) }
}

/// Pod UIDs this process has evicted: a pass that runs before the cache shows a pod terminating
/// does not evict it again. (Only an optimisation: the UID precondition and the API's own answer
/// for a terminating pod keep a second eviction harmless.)
actor EvictionMemory {
    private var uids: Set<String> = []
    func contains(_ uid: String) -> Bool { uids.contains(uid) }
    func insert(_ uid: String) { uids.insert(uid) }
}

extension DrainCandidate.Phase {
    init(_ p: CachedPod.Phase) {
        switch p {
        case .pending: self = .pending
        case .running: self = .running
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .unknown: self = .unknown
        }
    }
}
