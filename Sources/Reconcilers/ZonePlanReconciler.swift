import CapacityPlanning
import ControllerRuntime
import Forecasting
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import UpdatePlanning
import Metrics

/// Annotations Foresight writes on objects it changes, so that what it changed is always known.
public enum ZonePlanAnnotations {
    /// On an HPA whose minReplicas a plan raised: the user's own minReplicas, given back later.
    public static let userMinReplicas = "foresight.dev/user-min-replicas"
    /// On an HPA: the plan that raised it.
    public static let raisedBy = "foresight.dev/raised-by-zoneplan"
    /// The finalizer that gives raised HPAs back when a plan is deleted.
    public static let finalizer = "foresight.dev/zoneplan-cleanup"
}

/// The caches the ZonePlan reconciler reads (shared informers of the process).
public struct ZonePlanCaches: Sendable {
    public var plans: Store<ZonePlan>
    public var deployments: Store<Deployment>
    public var autoscalers: Store<HorizontalPodAutoscaler>
    public var namespaces: Store<Namespace>
    public var nodes: Store<Node>
    public var daemonSets: Store<DaemonSet>
    /// Pods (indexed by owner) and ReplicaSets: which of a Deployment's Ready pods still serve.
    public var pods: Store<CachedPod>
    public var replicaSets: Store<ReplicaSet>

    public init(plans: Store<ZonePlan>, deployments: Store<Deployment>, autoscalers: Store<HorizontalPodAutoscaler>, namespaces: Store<Namespace>,
                nodes: Store<Node>, daemonSets: Store<DaemonSet>, pods: Store<CachedPod>, replicaSets: Store<ReplicaSet>) {
        self.plans = plans
        self.deployments = deployments
        self.autoscalers = autoscalers
        self.namespaces = namespaces
        self.nodes = nodes
        self.daemonSets = daemonSets
        self.pods = pods
        self.replicaSets = replicaSets
    }

    /// How many of `d`'s replicas serve now: its Ready pods that are not terminating and are bound
    /// to a node that exists and is Ready, and never more than the Deployment's own
    /// `status.readyReplicas`. A pod on a node that has been removed keeps its Ready condition
    /// until the pod garbage collector deletes it, and one on a node that stopped answering until
    /// the node controller marks it, but neither serves: a pool that counted them would give back
    /// its next node before their replacements run.
    func servingReplicas(of d: Deployment, readyNodes: Set<String>) -> Int {
        let ready = d.status?.readyReplicas ?? 0
        guard ready > 0, let uid = d.metadata.uid else { return 0 }
        let namespace = d.metadata.namespace ?? ""
        var serving = 0
        for rs in replicaSets.byIndex(Indexers.controller, PodIndex.ownerValue(kind: "Deployment", namespace: namespace, name: d.name))
        where rs.metadata.controllerReference?.uid == uid {
            pods.forEach(inIndex: PodIndex.owner, PodIndex.ownerValue(kind: "ReplicaSet", namespace: namespace, name: rs.name)) { p in
                if p.isReady, p.deletionTime == nil, let node = p.nodeName, readyNodes.contains(node) { serving += 1 }
            }
        }
        return min(ready, serving)
    }
}

/// Makes a ZonePlan so: forecasts each zone, sizes and partitions them by priority
/// (`ZonePlanPlanner`), scales Deployments (or raises their HPA's minReplicas), keeps each zone's
/// PriorityClass, sizes the node pool through its scale target, and reports all of it in status,
/// Events and metrics. `DryRun` computes and reports everything and writes nothing but status;
/// nothing is written when nothing changed.
public struct ZonePlanReconciler: Sendable {
    public let client: KubernetesClient
    public let caches: ZonePlanCaches
    public let events: EventRecorder
    public let forecasts: ZoneForecasts
    /// Stabilisation memory per plan, in this process; a copy rides in status (see `decodeMemory`).
    let memories = ZoneMemories()
    public var clock: @Sendable () -> Date = { Date() }
    /// How often a plan is looked at again without any event: its observed load moves on its own.
    public var resyncSeconds = 30.0
    /// Plans whose node pool is giving nodes back (`ZonePlanDecision.shrinking`), each with the
    /// namespaces of its zones' Deployments: pod and Deployment readiness changes there wake it,
    /// so a step waits for no resync. Derived by every reconcile, so a restarted controller
    /// rebuilds it from its first pass.
    public let awaitingReadiness = WaitingKeys()
    let logger: Logger

    public init(client: KubernetesClient, caches: ZonePlanCaches, events: EventRecorder, forecasts: ZoneForecasts? = nil,
                logger: Logger = Logger(label: "foresight.zoneplan")) {
        self.client = client
        self.caches = caches
        self.events = events
        self.forecasts = forecasts ?? ZoneForecasts(client: client)
        self.logger = logger
    }

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileAction {
        guard let plan = caches.plans.get(key) else {
            awaitingReadiness.remove(key)
            return .awaitChange
        }
        let ref = ObjectReference(apiVersion: ZonePlan.resource.apiVersion, kind: "ZonePlan", name: plan.name, uid: plan.metadata.uid)
        if plan.metadata.deletionTimestamp != nil {
            awaitingReadiness.remove(key)
            try await cleanUp(plan)
            return .awaitChange
        }
        let now = clock()
        if let (invalid, problems) = invalidSpecConditions(for: plan, now: now) {
            awaitingReadiness.remove(key)
            let message = problems.map(\.description).joined(separator: "; ")
            let changed = try await writeStatus(plan, [("conditions", try JSONValue(encoding: invalid)), ("observedGeneration", plan.metadata.generation.map(JSONValue.int) ?? .null),
                                                       ("zoneCount", .int(plan.spec?.zones?.count ?? 0))])
            if changed { await events.record(ref, .warning, reason: "InvalidSpec", message: message) }
            return .awaitChange
        }
        guard let spec = plan.spec else {
            awaitingReadiness.remove(key)
            return .awaitChange
        }
        var conditions = plan.statusConditions
        let generation = plan.metadata.generation
        func condition(_ type: String, _ status: Bool?, _ reason: String, _ message: String) {
            conditions.set(type, status, reason: reason, message: message, generation: generation, at: now)
        }
        let enforce = (spec.mode ?? "Enforce") == "Enforce"
        if enforce && !(plan.metadata.finalizers ?? []).contains(ZonePlanAnnotations.finalizer) {
            try await client.patch(ZonePlan.self, name: plan.name, body: ["metadata": ["finalizers": .array(((plan.metadata.finalizers ?? []) + [ZonePlanAnnotations.finalizer]).map(JSONValue.string))]])
        }

        // The world, from the caches.
        let lead = spec.nodePools?.first?.provisioningLeadTime.flatMap(DurationParser.seconds) ?? 0
        let horizon = spec.forecast?.horizon.flatMap(DurationParser.seconds) ?? 7200
        let quantile = spec.forecast?.quantile ?? 0.9
        // The nodes are read once: the pool's size and which pods stand on live nodes must come from
        // the same moment, or a node removed in between would be counted gone from the pool while
        // its pods still counted as serving (and the next node would follow at once).
        let nodes = caches.nodes.list()
        let zoneWorkloads = workloadsByZone(spec, nodes: nodes)
        var claims: [String: [String]] = [:]
        for (zone, list) in zoneWorkloads { for w in list { claims[w.key, default: []].append(zone) } }
        var forecastNotes: [String] = []
        var refits: [String] = []
        var lastFit: Date?
        var fitSeconds: [String: Double] = [:]
        var observedAt: [String: Date] = [:]
        var live: [String: LiveAccuracy] = [:]
        let input = await forecasts.input(for: spec)
        // Zones with a forecast of their own first; then zones that follow one of them.
        let zones = spec.zones ?? []
        var outlooks: [String: ZoneOutlook] = [:]
        var byName: [String: ZoneSnapshot] = [:]
        for zone in zones.filter({ $0.load?.follows == nil }) + zones.filter({ $0.load?.follows != nil }) {
            let name = zone.name ?? ""
            var problem: String?
            var outlook: ZoneOutlook?
            var observedLoad: Double?
            if let leader = zone.load?.follows?.zone {
                let f = await forecasts.follow(planUID: plan.metadata.uid ?? plan.name, plan: spec, follower: zone, leader: leader, input: input, now: now)
                observedLoad = f.observedLoad
                observedAt[name] = f.observedAt
                problem = f.problem
                if let ratio = f.ratio {
                    if let lead = outlooks[leader] { outlook = ZonePlanPlanner.following(lead, ratio: ratio, leaderName: leader) } else {
                        problem = problem ?? "zone \(leader), which it follows, has no forecast"
                    }
                }
            } else {
                let result = await forecasts.forecast(planUID: plan.metadata.uid ?? plan.name, plan: spec, zone: zone, input: input, leadSeconds: lead, now: now,
                                                      restored: Self.liveRecord(in: plan.status, zone: name))
                problem = result.problem
                observedLoad = result.observedLoad
                live[name] = result.live
                if let f = result.forecast, let fittedAt = result.fittedAt {
                    outlook = ZonePlanPlanner.outlook(of: f, quantile: quantile, now: now, window: Double(horizon + lead), fittedAt: fittedAt)
                    if outlook == nil { problem = problem ?? "the forecast does not reach the coming \(horizon + lead) s (history ends \(result.observedAt.map(Timestamp.format) ?? "?"))" }
                    lastFit = max(lastFit ?? fittedAt, fittedAt)
                } else if problem == nil {
                    problem = "no forecast"
                }
                if result.refitted { refits.append(name); fitSeconds[name] = result.fitSeconds }
                observedAt[name] = result.observedAt
                if let outlook { outlooks[name] = outlook }
            }
            if observedLoad == nil && problem == nil {
                problem = "no observation in the last two steps (latest \(observedAt[name].map(Timestamp.format) ?? "none"))"
            }
            if let p = problem { forecastNotes.append("\(name): \(p)") }
            let mine = claims.filter { $0.value.contains(name) }
            var blockers: [String] = []
            for (deployment, zones) in mine where zones.count > 1 {
                blockers.append("Deployment \(deployment) is selected by zones \(zones.sorted().joined(separator: ", "))")
            }
            byName[name] = ZoneSnapshot(name: name, outlook: outlook, observedLoad: observedLoad, forecastProblem: problem,
                                        workloads: zoneWorkloads[name] ?? [], blockers: blockers.sorted())
        }
        let snapshots = zones.compactMap { byName[$0.name ?? ""] }
        let pool = poolSnapshot(spec, nodes: nodes)
        let planID = plan.metadata.uid ?? plan.name
        let memory = await memories.recall(planID) ?? decodeMemory(plan.status, restartedAt: now)
        let seed = plan.status?["overflowSeed"]?.stringValue.flatMap { UInt64($0) } ?? seedFor(plan)
        let decision = ZonePlanPlanner(spec: spec).plan(snapshots: snapshots, pool: pool, memory: memory, now: now, seed: seed)
        awaitingReadiness.set(key, following: decision.shrinking && enforce ? Set(snapshots.flatMap { $0.workloads.map(\.namespace) }) : nil)
        if let pool, let desired = decision.desiredNodes, desired != pool.currentNodes || decision.shrinking {
            // Built only at debug level (the message is an autoclosure).
            logger.debug("ZonePlan \(plan.name): pool \(pool.name) has \(pool.currentNodes) nodes, partition \(decision.partition?.desiredNodes ?? -1), step \(desired); \(zip(decision.zones, snapshots).map { z, s in "\(z.name) allocated \(z.allocated) serving \(s.workloads.reduce(0) { $0 + ($1.readyReplicas ?? 0) }) needed \(z.requirement.observedReplicas ?? 0)" }.joined(separator: ", "))")
        }
        await memories.keep(planID, Dictionary(decision.zones.map { ($0.name, $0.memory) }, uniquingKeysWith: { $1 }))

        // Act: Enforce writes; DryRun says what it would write.
        var actions: [String] = []
        var actionErrors: [String] = []
        for zone in decision.zones where zone.blocked == nil {
            for w in snapshots.first(where: { $0.name == zone.name })?.workloads ?? [] {
                guard let target = zone.replicas[w.key] else { continue }
                do {
                    if let a = try await apply(w, replicas: target, plan: plan.name, write: enforce) { actions.append("\(zone.name): \(a)") }
                } catch {
                    actionErrors.append("\(w.key): \(error)")
                }
            }
        }
        for zone in spec.zones ?? [] {
            guard let pc = zone.priorityClassName, !pc.isEmpty else { continue }
            do { if let a = try await ensurePriorityClass(pc, value: zone.priority ?? 0, plan: plan.name, write: enforce) { actions.append(a) } } catch {
                actionErrors.append("PriorityClass \(pc): \(error)")
                continue
            }
            guard zone.assignPriorityClass == true, decision.zones.first(where: { $0.name == zone.name })?.blocked == nil else { continue }
            for w in zoneWorkloads[zone.name ?? ""] ?? [] where w.priorityClassName != pc {
                do {
                    if enforce {
                        try await client.patch(Deployment.self, namespace: w.namespace, name: w.name, body: ["spec": ["template": ["spec": ["priorityClassName": .string(pc)]]]])
                    }
                    actions.append("Deployment \(w.key) pods now use PriorityClass \(pc) (a rollout)")
                } catch {
                    actionErrors.append("\(w.key): priorityClassName: \(error)")
                }
            }
        }
        var poolProblem: String?
        var poolCurrent: Int?
        if let poolSpec = spec.nodePools?.first {
            do {
                let (current, action) = try await sizePool(poolSpec, desired: decision.desiredNodes, write: enforce)
                poolCurrent = current
                if let action { actions.append(action) }
            } catch {
                poolProblem = "\(error)"
            }
        }

        // Status.
        var zonesStatus: [JSONValue] = []
        for (zone, snap) in zip(decision.zones, snapshots) {
            var entry: [(String, JSONValue)] = [("name", .string(zone.name))]
            if let o = snap.observedLoad { entry.append(("observedLoad", .double(rounded(o)))) }
            if let o = snap.outlook {
                var predicted: [(String, JSONValue)] = [("mean", .double(rounded(o.peakMean))), ("quantile", .double(rounded(o.peakQuantile))),
                                                        ("peakAt", .string(Timestamp.format(o.peakAt)))]
                if let through = o.updatedThrough { predicted.append(("updatedThrough", .string(Timestamp.format(through)))) }
                entry.append(("predictedLoad", .object(predicted)))
                // Live once a dozen observations have come after a fit; the engine's own backtest before.
                // The live record rides along either way, so a restarted controller carries it on.
                var accuracy: [(String, JSONValue)] = [("mase", .double(rounded(o.accuracy.mase)))]
                if let l = live[zone.name], l.observations >= 12, l.weight > 0 {
                    accuracy += [("mape", .double(rounded(l.mape))), ("intervalCoverage", .double(rounded(l.intervalCoverage))),
                                 ("quantileCoverage", .double(rounded(l.quantileCoverage))),
                                 ("window", .string("live: \(l.observations) observations against the forecast made before them, weighted by a half-life of a day"))]
                } else {
                    accuracy += [("mape", .double(rounded(o.accuracy.mape))), ("intervalCoverage", .double(rounded(o.accuracy.intervalCoverage))),
                                 ("window", .string("backtest: \(o.accuracy.origins) inner origins of the last fit, replayed in time order"))]
                }
                if let l = live[zone.name] { accuracy.append(("live", l.json)) }
                entry.append(("forecastAccuracy", .object(accuracy)))
                entry.append(("model", .string(o.model)))
            } else if let l = live[zone.name] {
                // No forecast now (history unreadable, say): the live record is still kept.
                entry.append(("forecastAccuracy", .object([("live", l.json)])))
            }
            entry.append(("requiredReplicas", .int(zone.required)))
            entry.append(("allocatedReplicas", .int(zone.allocated)))
            entry.append(("grantRatio", .double(rounded(zone.grantRatio))))
            entry.append(("sizedBy", .string(zone.degraded != nil && zone.requirement.basis != .held ? "Observed" : zone.requirement.basis.rawValue)))
            var messages: [String] = []
            if let b = zone.blocked { messages.append("not scaled: \(b)") }
            if let d = zone.degraded { messages.append("reactive sizing: \(d)") }
            for w in snap.workloads where w.priorityClassName != nil || (spec.zones?.first { $0.name == zone.name }?.priorityClassName) != nil {
                let wanted = spec.zones?.first { $0.name == zone.name }?.priorityClassName
                let assigning = spec.zones?.first { $0.name == zone.name }?.assignPriorityClass == true
                if let wanted, w.priorityClassName != wanted, !assigning { messages.append("Deployment \(w.key) does not use the zone's PriorityClass \(wanted) (assignPriorityClass sets it)") }
            }
            if !messages.isEmpty { entry.append(("message", .string(messages.joined(separator: "; ")))) }
            entry.append(("stabilization", try JSONValue(encoding: zone.memory)))
            zonesStatus.append(.object(entry))
        }
        var pools: [JSONValue] = []
        if let p = spec.nodePools?.first {
            var entry: [(String, JSONValue)] = [("name", .string(p.name ?? ""))]
            entry.append(("currentNodes", .int(poolCurrent ?? pool?.currentNodes ?? 0)))
            if let d = decision.desiredNodes { entry.append(("desiredNodes", .int(d))) }
            let notes = [poolProblem, decision.shrink].compactMap { $0 }
            if !notes.isEmpty { entry.append(("message", .string(notes.joined(separator: "; ")))) }
            pools.append(.object(entry))
        }

        let degradedZones = decision.zones.filter { $0.degraded != nil }
        let blockedZones = decision.zones.filter { $0.blocked != nil }
        condition("ForecastReady", forecastNotes.isEmpty, forecastNotes.isEmpty ? "Forecasting" : "ForecastProblems",
                  forecastNotes.isEmpty ? "every zone has a current forecast" : forecastNotes.joined(separator: "; "))
        condition("Degraded", !degradedZones.isEmpty, degradedZones.isEmpty ? "Predictive" : "ReactiveFallback",
                  degradedZones.isEmpty ? "every zone is sized from its forecast" : degradedZones.map { "\($0.name): \($0.degraded!)" }.joined(separator: "; "))
        if let partition = decision.partition {
            let short = partition.zones.filter { $0.grantRatio < 1 }
            condition("CapacitySufficient", partition.capacitySufficient,
                      partition.capacitySufficient ? "Fits" : "Overflow",
                      partition.capacitySufficient ? "node pool \(pool?.name ?? "") holds every zone with \(partition.desiredNodes) nodes"
                        + (decision.shrink.map { "; \($0)" } ?? "")
                        : "demand needs \(partition.nodesNeeded) nodes, maxNodes is \(pool?.maxNodes ?? 0); \(spec.overflow?.policy ?? "Strict") granted " +
                          short.map { "\($0.name) \($0.allocated)/\($0.required)" }.joined(separator: ", "))
        } else {
            condition("CapacitySufficient", nil, "NoNodePool", spec.nodePools?.isEmpty ?? true ? "the plan has no node pool" : "no node of pool \(spec.nodePools?.first?.name ?? "") to measure")
        }
        let readyProblems = blockedZones.map { "\($0.name): \($0.blocked!)" } + actionErrors + (poolProblem.map { ["node pool: \($0)"] } ?? [])
        condition("Ready", readyProblems.isEmpty, readyProblems.isEmpty ? (enforce ? "Enforced" : "DryRun") : "PartlyApplied",
                  readyProblems.isEmpty ? (enforce ? "replicas and nodes follow the plan" : "planned and reported; DryRun changes nothing") : readyProblems.joined(separator: "; "))

        var status: [(String, JSONValue)] = [("observedGeneration", generation.map(JSONValue.int) ?? .null),
                                             ("conditions", try JSONValue(encoding: conditions)), ("zoneCount", .int(spec.zones?.count ?? 0)),
                                             ("zones", .array(zonesStatus)), ("nodePools", .array(pools)), ("overflowSeed", .string(String(seed)))]
        if let lastFit { status.append(("lastForecastTime", .string(Timestamp.format(lastFit)))) }
        _ = try await writeStatus(plan, status)

        // Events and metrics.
        let previous = plan.statusConditions
        for (type, reason) in [("Degraded", "ReactiveFallback"), ("CapacitySufficient", "Overflow")] where conditions[type]?.reason == reason && previous[type]?.reason != reason {
            await events.record(ref, .warning, reason: reason, message: conditions[type]!.message)
        }
        if conditions["Degraded"]?.status == "False" && previous["Degraded"]?.status == "True" {
            await events.record(ref, .normal, reason: "Recovered", message: "every zone is sized from its forecast again")
        }
        if !refits.isEmpty {
            await events.record(ref, .normal, reason: "ForecastRefit", message: "refitted " + refits.map { String(format: "%@ (%.2f s)", $0, fitSeconds[$0] ?? 0) }.joined(separator: ", "))
        }
        // One Event per reconcile that changes something (or, in DryRun, whose would-be changes
        // differ from the last reconcile's), naming the first changes and counting the rest.
        let newWouldBe = enforce ? false : await memories.noteWouldBe(planID, actions)
        if !actions.isEmpty, enforce || newWouldBe {
            let shown = actions.prefix(8).joined(separator: "; ") + (actions.count > 8 ? "; and \(actions.count - 8) more" : "")
            await events.record(ref, .normal, reason: enforce ? "Scaled" : "WouldScale", message: shown)
        }
        if !actionErrors.isEmpty {
            await events.record(ref, .warning, reason: "ScaleFailed", message: actionErrors.prefix(8).joined(separator: "; ") + (actionErrors.count > 8 ? "; and \(actionErrors.count - 8) more" : ""))
        }
        record(metrics: decision, snapshots: snapshots, pool: spec.nodePools?.first?.name, current: poolCurrent ?? pool?.currentNodes, fitSeconds: fitSeconds)
        if !actions.isEmpty && enforce { logger.info("ZonePlan \(plan.name): \(actions.joined(separator: "; "))") }
        return .requeue(after: resyncSeconds)
    }

    /// What an UpdateWindow with `zonePlanRef` orders its nodes by: each zone's forecast load (the
    /// plan's quantile, as last fitted), in replicas of the zone, with its Deployments and what one
    /// of their pods requests. Empty when the plan does not exist or has not forecast yet.
    public func loadOutlooks(planName: String) async -> [ZoneLoadOutlook] {
        guard let plan = caches.plans.get(ObjectKey(name: planName)), let spec = plan.spec else { return [] }
        let byZone = workloadsByZone(spec, readyNodes: nil)
        let quantile = spec.forecast?.quantile ?? 0.9
        var out: [ZoneLoadOutlook] = []
        for zone in spec.zones ?? [] {
            guard let name = zone.name, let perReplica = zone.load?.perReplica, perReplica > 0,
                  let f = await forecasts.latest(planUID: plan.metadata.uid ?? plan.name, zone: name) else { continue }
            let workloads = byZone[name] ?? []
            let cpu = workloads.isEmpty ? 0 : Double(workloads.map(\.perPod.cpuMillis).reduce(0, +)) / Double(workloads.count)
            out.append(ZoneLoadOutlook(zone: name, times: f.times, replicasNeeded: (f.quantiles[quantile] ?? f.mean).map { max(0, $0 / perReplica) },
                                       cpuMillisPerReplica: cpu, deployments: Set(workloads.map(\.key))))
        }
        return out
    }

    // MARK: the world

    /// Every zone's Deployments as the plan sees them on `nodes`: Ready replicas counted on the
    /// Ready nodes, and of each surge what stands in for the pods of a cordoned node.
    func workloadsByZone(_ spec: ZonePlan.Spec, nodes: [Node]) -> [String: [ZoneWorkload]] {
        workloadsByZone(spec, readyNodes: Set(nodes.filter(\.isReady).map(\.name)), cordonedNodes: Set(nodes.filter(\.isUnschedulable).map(\.name)))
    }

    /// Every zone's Deployments (with their HPAs), read from the caches once per reconcile. Their
    /// Ready replicas are counted on `readyNodes` (`servingReplicas`); nil leaves them uncounted,
    /// for a caller that does not read them. Of each one's surge, what its ledger holds for
    /// `cordonedNodes` is told apart.
    func workloadsByZone(_ spec: ZonePlan.Spec, readyNodes: Set<String>?, cordonedNodes: Set<String> = []) -> [String: [ZoneWorkload]] {
        var hpaOf: [String: HorizontalPodAutoscaler] = [:]
        for h in caches.autoscalers.list() {
            guard let target = h.spec?.scaleTargetRef, target.kind == "Deployment" else { continue }
            hpaOf["\(h.metadata.namespace ?? "")/\(target.name)"] = h
        }
        let deployments = caches.deployments.list().filter { $0.metadata.deletionTimestamp == nil }
        let namespaces = caches.namespaces.list()
        var out: [String: [ZoneWorkload]] = [:]
        for zone in spec.zones ?? [] {
            let selector = zone.workloads?.selector ?? LabelSelector()
            let allowed: Set<String>? = zone.workloads?.namespaceSelector.map { sel in Set(namespaces.filter { sel.matches($0.metadata.labels) }.map(\.name)) }
            out[zone.name ?? ""] = deployments.filter { d in
                (allowed?.contains(d.metadata.namespace ?? "") ?? true) && selector.matches(d.metadata.labels)
            }.map { d -> ZoneWorkload in
                let requests = d.spec?.template?.requests ?? (cpuMillis: 0, memoryBytes: 0)
                let hpa: ZoneWorkload.HPA? = hpaOf["\(d.metadata.namespace ?? "")/\(d.name)"].map { h in
                    ZoneWorkload.HPA(name: h.name, minReplicas: h.spec?.minReplicas ?? 1, maxReplicas: h.spec?.maxReplicas ?? Int.max,
                                     userMinReplicas: h.metadata.annotations?[ZonePlanAnnotations.userMinReplicas].flatMap { Int($0) },
                                     heldBySurge: h.metadata.annotations?[SurgeLedger.originalMinReplicasAnnotation] != nil)
                }
                let ledger = (try? SurgeLedger(annotation: d.metadata.annotations?[SurgeLedger.annotation])) ?? SurgeLedger()
                let surge = ledger.total
                let replicas = max(0, (d.spec?.replicas ?? 1) - surge)
                let ready: Int? = readyNodes.map { caches.servingReplicas(of: d, readyNodes: $0) }
                var workload = ZoneWorkload(namespace: d.metadata.namespace ?? "", name: d.name, replicas: replicas, surge: surge,
                                    surgeForCordonedNodes: ledger.amount(forNodes: cordonedNodes),
                                    perPod: Resources(cpuMillis: requests.cpuMillis, memoryBytes: requests.memoryBytes), readyReplicas: ready,
                                    priorityClassName: d.spec?.template?.spec?.priorityClassName, hpa: hpa)
                workload.stalled = d.progressDeadlineExceeded
                return workload
            }.sorted { $0.key < $1.key }
        }
        return out
    }

    /// Whether `hpa` scales Deployment `d`.
    static func scales(_ hpa: HorizontalPodAutoscaler, _ d: Deployment) -> Bool {
        guard let target = hpa.spec?.scaleTargetRef, hpa.metadata.namespace == d.metadata.namespace else { return false }
        return target.kind == "Deployment" && target.name == d.name
    }

    /// The first pool's nodes and what one of them offers (allocatable minus DaemonSet requests).
    func poolSnapshot(_ spec: ZonePlan.Spec, nodes all: [Node]) -> PoolSnapshot? {
        guard let p = spec.nodePools?.first else { return nil }
        let selector = p.nodeSelector ?? LabelSelector()
        let nodes = all.filter { selector.matches($0.metadata.labels) }.sorted { $0.name < $1.name }
        var perNode: Resources?
        if let node = nodes.first(where: \.isReady) ?? nodes.first, let alloc = node.status?.allocatable {
            var free = Resources(cpuMillis: Int64(Quantity.millis(alloc["cpu"]) ?? 0), memoryBytes: Quantity.bytes(alloc["memory"]) ?? 0)
            for ds in caches.daemonSets.list() {
                let sel = ds.spec?.template?.spec?.nodeSelector ?? [:]
                guard sel.allSatisfy({ node.metadata.labels?[$0.key] == $0.value }) else { continue }
                let r = ds.spec?.template?.requests ?? (cpuMillis: 0, memoryBytes: 0)
                free = free - Resources(cpuMillis: r.cpuMillis, memoryBytes: r.memoryBytes)
            }
            perNode = free
        }
        return PoolSnapshot(name: p.name ?? "", currentNodes: nodes.count, perNode: perNode, minNodes: p.minNodes ?? 0, maxNodes: p.maxNodes ?? Int.max,
                            unschedulableNodes: nodes.filter(\.isUnschedulable).count, nodesAwaitingUpdate: nodes.filter(\.awaitsUpdate).count)
    }

    // MARK: effects

    /// Sets a Deployment's replicas: through its HPA's minReplicas when it has one (remembering
    /// the user's value), else through its scale subresource. Returns what it did, or nil.
    func apply(_ w: ZoneWorkload, replicas: Int, plan: String, write: Bool) async throws -> String? {
        if let hpa = w.hpa {
            if hpa.heldBySurge { return nil }
            let user = hpa.userMinReplicas ?? hpa.minReplicas
            if replicas > user {
                guard hpa.minReplicas != replicas || hpa.userMinReplicas == nil else { return nil }
                if write { try await client.patch(HorizontalPodAutoscaler.self, namespace: w.namespace, name: hpa.name, body: [
                    "metadata": ["annotations": [.init(ZonePlanAnnotations.userMinReplicas): .string(String(user)), .init(ZonePlanAnnotations.raisedBy): .string(plan)]],
                    "spec": ["minReplicas": .int(replicas)],
                ]) }
                return "HPA \(w.namespace)/\(hpa.name) minReplicas \(hpa.minReplicas) → \(replicas) (the user's \(user) kept in \(ZonePlanAnnotations.userMinReplicas))"
            }
            guard hpa.userMinReplicas != nil else { return nil }
            if write { try await giveBack(namespace: w.namespace, hpa: hpa.name, user: user) }
            return "HPA \(w.namespace)/\(hpa.name) minReplicas given back (\(user))"
        }
        guard replicas != w.replicas else { return nil }
        if write { try await client.setScale(Deployment.resource, namespace: w.namespace, name: w.name, replicas: replicas + w.surge) }
        return "Deployment \(w.key) \(w.replicas) → \(replicas)" + (w.surge > 0 ? " (+\(w.surge) held by an UpdateWindow's surge)" : "")
    }

    func giveBack(namespace: String, hpa: String, user: Int) async throws {
        try await client.patch(HorizontalPodAutoscaler.self, namespace: namespace, name: hpa, body: [
            "metadata": ["annotations": [.init(ZonePlanAnnotations.userMinReplicas): .null, .init(ZonePlanAnnotations.raisedBy): .null]],
            "spec": ["minReplicas": .int(user)],
        ])
    }

    /// Creates the zone's PriorityClass when it is missing. An existing one with another value is
    /// reported (a PriorityClass's value cannot be changed).
    func ensurePriorityClass(_ name: String, value: Int, plan: String, write: Bool) async throws -> String? {
        if let existing = try await client.getIfExists(PriorityClass.self, name: name) {
            if existing.value != value { throw ZonePlanError("PriorityClass \(name) exists with value \(existing.value ?? 0), not the zone's priority \(value); its value cannot be changed") }
            return nil
        }
        guard write else { return "PriorityClass \(name) with value \(value)" }
        try await client.create(PriorityClass.self, body: ["apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                           "metadata": ["name": .string(name), "labels": ["app.kubernetes.io/managed-by": "foresight"]],
                                                           "value": .int(value), "description": .string("Priority of ZonePlan \(plan)'s zone (kept by Foresight)")])
        return "PriorityClass \(name) created with value \(value)"
    }

    /// Reads the pool's size through its scale target and writes the desired one (when `write`).
    /// Without `desired` (no node to measure yet) it only reads, so a bad scale target is still reported.
    func sizePool(_ pool: ZonePlan.NodePool, desired: Int?, write: Bool) async throws -> (Int, String?) {
        guard let ref = pool.scaleTargetRef, let apiVersion = ref.apiVersion, let kind = ref.kind, let name = ref.name else {
            throw ZonePlanError("spec.nodePools[0].scaleTargetRef is incomplete")
        }
        let resource = try await client.restMapper.resource(apiVersion: apiVersion, kind: kind, using: client)
        guard try await client.restMapper.subresources(of: resource, using: client).contains("scale") else {
            throw ZonePlanError("\(kind) \(resource.apiVersion) has no scale subresource")
        }
        let scale = try await client.getScale(resource, namespace: ref.namespace, name: name)
        let current = scale.spec.replicas ?? 0
        guard let desired else { return (current, nil) }
        guard write, current != desired else { return (current, current != desired ? "node pool \(pool.name ?? "") \(current) → \(desired) nodes" : nil) }
        try await client.setScale(resource, namespace: ref.namespace, name: name, replicas: desired)
        return (current, "node pool \(pool.name ?? "") \(current) → \(desired) nodes")
    }

    /// A deleted plan gives back every HPA minReplicas it raised, then releases its finalizer.
    func cleanUp(_ plan: ZonePlan) async throws {
        guard (plan.metadata.finalizers ?? []).contains(ZonePlanAnnotations.finalizer) else { return }
        for hpa in caches.autoscalers.list() where hpa.metadata.annotations?[ZonePlanAnnotations.raisedBy] == plan.name {
            if let user = hpa.metadata.annotations?[ZonePlanAnnotations.userMinReplicas].flatMap({ Int($0) }) {
                try await giveBack(namespace: hpa.metadata.namespace ?? "", hpa: hpa.name, user: user)
                logger.info("ZonePlan \(plan.name) deleted: HPA \(hpa.metadata.namespace ?? "")/\(hpa.name) minReplicas given back (\(user))")
            }
        }
        await forecasts.forget(planUID: plan.metadata.uid ?? plan.name)
        await memories.forget(plan.metadata.uid ?? plan.name)
        let rest = (plan.metadata.finalizers ?? []).filter { $0 != ZonePlanAnnotations.finalizer }
        try await client.patch(ZonePlan.self, name: plan.name, type: .json, body: [
            ["op": "test", "path": "/metadata/resourceVersion", "value": .string(plan.metadata.resourceVersion ?? "")],
            ["op": "replace", "path": "/metadata/finalizers", "value": .array(rest.map(JSONValue.string))],
        ])
    }

    // MARK: status

    /// Writes the status when it differs from what the plan has, the zones' stabilisation memory
    /// aside (its timestamps move on every reconcile: alone it is no reason to write).
    func writeStatus(_ plan: ZonePlan, _ fields: [(String, JSONValue)]) async throws -> Bool {
        try await writeStatusIfChanged(plan, fields, client: client, comparable: withoutMemory)
    }

    func withoutMemory(_ v: JSONValue?) -> JSONValue? {
        guard case .array(let items)? = v else { return v }
        return .array(items.map { item in
            guard case .object(let fields) = item else { return item }
            return .object(fields.filter { $0.0 != "stabilization" })
        })
    }

    /// A zone's live forecast record as the plan's status carries it.
    static func liveRecord(in status: JSONValue?, zone: String) -> LiveAccuracy? {
        guard case .array(let zones)? = status?["zones"] else { return nil }
        return zones.first { $0["name"]?.stringValue == zone }.flatMap { LiveAccuracy(json: $0["forecastAccuracy"]?["live"]) }
    }

    /// The memory a plan's status carries, for a process that has none (it restarted, or just
    /// became leader). Status is written only when something besides this memory changed, so its
    /// copy may be older than the last reconcile: the last requirement is taken as recommended
    /// just now, so a restart never sheds capacity sooner than a full window.
    func decodeMemory(_ status: JSONValue?, restartedAt now: Date) -> [String: ZoneMemory] {
        guard case .array(let zones)? = status?["zones"] else { return [:] }
        var out: [String: ZoneMemory] = [:]
        for z in zones {
            guard let name = z["name"]?.stringValue, let m = z["stabilization"],
                  var memory = try? JSONDecoder().decode(ZoneMemory.self, from: m.serialized()) else { continue }
            if let last = memory.lastRequired {
                memory.recommendations.append(ScaleDownPolicy.Recommendation(time: now.timeIntervalSince1970, replicas: last))
            }
            out[name] = memory
        }
        return out
    }

    /// The overflow draw's seed: from the plan's uid, kept in status from then on.
    func seedFor(_ plan: ZonePlan) -> UInt64 {
        var h: UInt64 = 1469598103934665603
        for b in (plan.metadata.uid ?? plan.name).utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return h
    }

    func rounded(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    func record(metrics d: ZonePlanDecision, snapshots: [ZoneSnapshot], pool: String?, current: Int?, fitSeconds: [String: Double]) {
        for (z, s) in zip(d.zones, snapshots) {
            if let o = s.observedLoad { Gauge(label: "foresight_zone_load", dimensions: [("zone", z.name), ("kind", "observed")]).record(o) }
            if let o = s.outlook {
                Gauge(label: "foresight_zone_load", dimensions: [("zone", z.name), ("kind", "predicted")]).record(o.peakMean)
                Gauge(label: "foresight_zone_load", dimensions: [("zone", z.name), ("kind", "quantile")]).record(o.peakQuantile)
            }
            Gauge(label: "foresight_zone_replicas", dimensions: [("zone", z.name), ("kind", "required")]).record(z.required)
            Gauge(label: "foresight_zone_replicas", dimensions: [("zone", z.name), ("kind", "allocated")]).record(z.allocated)
            Gauge(label: "foresight_zone_grant_ratio", dimensions: [("zone", z.name)]).record(z.grantRatio)
            Gauge(label: "foresight_zone_degraded", dimensions: [("zone", z.name)]).record(z.degraded == nil ? 0 : 1)
        }
        for (_, seconds) in fitSeconds { Metrics.Timer(label: "foresight_forecast_fit_seconds", preferredDisplayUnit: .seconds).recordSeconds(seconds) }
        if let pool {
            if let current { Gauge(label: "foresight_nodepool_nodes", dimensions: [("pool", pool), ("kind", "current")]).record(current) }
            if let desired = d.desiredNodes { Gauge(label: "foresight_nodepool_nodes", dimensions: [("pool", pool), ("kind", "desired")]).record(desired) }
        }
    }
}

/// Stabilisation memory per plan and zone, kept in the process between reconciles.
actor ZoneMemories {
    private var byPlan: [String: [String: ZoneMemory]] = [:]
    private var wouldBe: [String: [String]] = [:]
    func recall(_ plan: String) -> [String: ZoneMemory]? { byPlan[plan] }
    func keep(_ plan: String, _ memory: [String: ZoneMemory]) { byPlan[plan] = memory }
    /// Whether a DryRun plan's would-be changes differ from last time (then they are remembered).
    func noteWouldBe(_ plan: String, _ actions: [String]) -> Bool {
        guard wouldBe[plan] != actions else { return false }
        wouldBe[plan] = actions
        return true
    }
    func forget(_ plan: String) { byPlan[plan] = nil; wouldBe[plan] = nil }
}

public struct ZonePlanError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
