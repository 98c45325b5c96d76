import Foundation
import KubernetesClient
import KubernetesCore
import Testing
import TestSupport

/// A load trace for a ConfigMap: `days` of 5-minute steps ending at `now`, a daily bump that
/// peaks `peakAhead` seconds after `now` (so the coming hours rise while the load now is low).
func risingTraceCSV(now: Date, days: Int, base: Double, amplitude: Double, peakAhead: Double, noiseSeed: UInt64) -> String {
    let step = 300.0
    let end = (now.timeIntervalSince1970 / step).rounded(.down) * step
    let peakTimeOfDay = (end + peakAhead).truncatingRemainder(dividingBy: 86400)
    var rng = noiseSeed
    var lines = ["timestamp,value"]
    var t = end - Double(days) * 86400
    while t <= end {
        var d = abs(t.truncatingRemainder(dividingBy: 86400) - peakTimeOfDay) / 3600
        d = min(d, 24 - d)
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        let noise = (Double(rng >> 33) / Double(1 << 31) - 0.5) * 0.04 * (base + amplitude)
        lines.append("\(Int64(t)),\(String(format: "%.1f", max(0, base + amplitude * exp(-d * d / (2 * 0.75 * 0.75)) + noise)))")
        t += step
    }
    return lines.joined(separator: "\n")
}

/// What every ZonePlan scenario starts from and cleans up: the manifests installed, a namespace
/// labelled `team=<run>`, and the controller running with the shipped ClusterRole's token.
final class ZonePlanTestBed {
    let run: String
    let ns: String
    private(set) var controller: BackgroundProcess?
    private var cleanups: [() -> Void] = []

    init(prefix: String) throws {
        try Cluster.installManifests()
        run = "\(prefix)-\(UUID().uuidString.prefix(5).lowercased())"
        ns = try Cluster.makeNamespace(run)
        try Cluster.kubectl(["label", "namespace", ns, "team=\(run)"])
    }

    /// Starts a controller (the run's name as its identity unless told); tear-down stops the last one started.
    @discardableResult
    func startController(identity: String? = nil, extraArguments: [String] = []) throws -> BackgroundProcess {
        let identity = identity ?? run
        let c = try BackgroundProcess(Cluster.binary("foresight"), [
            "run", "--kubeconfig", Cluster.controllerKubeconfig, "--leader-elect", "--lease-namespace", "foresight-system",
            "--identity", identity, "--metrics-address", "127.0.0.1:0",
        ] + extraArguments, kubeconfig: Cluster.controllerKubeconfig, name: "controller-\(identity)")
        controller = c
        return c
    }

    /// Starts a node simulator serving the run's NodePool scale targets (nodes Ready a second
    /// after they are asked for), stopped and its nodes deleted at tear-down.
    func startPoolSimulator() throws {
        let simulator = try BackgroundProcess(Cluster.binary("foresight-node-simulator"), [
            "--nodes", "\(run)-static-:0", "--pool-namespace", ns, "--provisioning-seconds", "1",
        ], kubeconfig: Cluster.adminKubeconfig, name: "simulator-\(run)")
        onTearDown { [run] in
            simulator.stop()
            _ = try? Cluster.kubectl(["delete", "nodes", "-l", "simulator.foresight.dev/node-pool=\(run)", "--wait=false"], allowFailure: true)
        }
    }

    /// A ZonePlan's `nodePools` entry for the run's NodePool (nodes labelled `pool: <run>`), indented
    /// under `spec:`.
    func nodePoolSpec(maxNodes: Int) -> String {
        """
          nodePools:
          - name: general
            nodeSelector: {matchLabels: {pool: \(run)}}
            scaleTargetRef: {apiVersion: simulator.foresight.dev/v1alpha1, kind: NodePool, namespace: \(ns), name: \(run)}
            minNodes: 1
            maxNodes: \(maxNodes)
        """
    }

    /// Runs `body` at tear-down, before the namespace goes.
    func onTearDown(_ body: @escaping () -> Void) { cleanups.append(body) }

    func tearDown() {
        _ = try? Cluster.kubectl(["delete", "zoneplan", run, "--wait=false"], allowFailure: true)
        controller?.stop()
        for c in cleanups.reversed() { c() }
        Cluster.deleteNamespace(ns)
        _ = try? Cluster.kubectl(["delete", "priorityclass", "-l", "app.kubernetes.io/managed-by=foresight", "--wait=false"], allowFailure: true)
    }
}

extension EndToEnd {
/// ZonePlans on the real control plane, through kubectl, with simulated nodes and a NodePool.
@Suite struct ZonePlanScenarioTests {
    func jsonpath(_ kind: String, _ name: String, _ path: String, namespace: String? = nil) throws -> String {
        var args = ["get", kind, name, "-o", "jsonpath={\(path)}"]
        if let namespace { args += ["-n", namespace] }
        return try Cluster.kubectl(args, allowFailure: true).out
    }

    /// Three zones whose coming hours rise: replicas and nodes are raised while the observed load
    /// is still low; then the pool's maximum is cut below the demand and the overflow policy shows.
    @Test func zonesAndThePoolRiseAheadOfTheLoadThenOverflowIsReported() async throws {
        let bed = try ZonePlanTestBed(prefix: "zp")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try bed.startPoolSimulator()
        try bed.startController()
        let now = Date()
        let csv = [
            "checkout": risingTraceCSV(now: now, days: 15, base: 50, amplitude: 950, peakAhead: 100 * 60, noiseSeed: 1),
            "search": risingTraceCSV(now: now, days: 15, base: 100, amplitude: 400, peakAhead: 100 * 60, noiseSeed: 2),
            "batch": risingTraceCSV(now: now, days: 15, base: 200, amplitude: 0, peakAhead: 0, noiseSeed: 3),
        ]
        var configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: load-history, namespace: \(ns)}\ndata:\n"
        for (k, v) in csv.sorted(by: { $0.key < $1.key }) { configMap += "  \(k): |\n" + v.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n") + "\n" }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMap)
        var objects = """
        apiVersion: simulator.foresight.dev/v1alpha1
        kind: NodePool
        metadata: {name: \(run), namespace: \(ns)}
        spec: {replicas: 1, labels: {pool: \(run)}}
        """
        for (name, cpu) in [("checkout", "1"), ("search", "500m"), ("batch", "250m")] {
            objects += """

            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: \(name), namespace: \(ns), labels: {tier: \(name)}}
            spec:
              replicas: 1
              selector: {matchLabels: {app: \(name)}}
              template:
                metadata: {labels: {app: \(name)}}
                spec:
                  nodeSelector: {pool: \(run)}
                  terminationGracePeriodSeconds: 1
                  containers: [{name: c, image: nginx, resources: {requests: {cpu: "\(cpu)", memory: 64Mi}}}]
            """
        }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: objects)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(run)}
        spec:
          mode: Enforce
        \(bed.nodePoolSpec(maxNodes: 8))
            provisioningLeadTime: 5m
          forecast:
            source: {configMap: {namespace: \(ns), name: load-history}}
            history: 14d
            horizon: 2h
            step: 5m
            seasonalities: [1d]
            quantile: 0.9
          zones:
          - name: checkout
            priority: 1000
            priorityClassName: \(run)-checkout
            workloads:
              namespaceSelector: {matchLabels: {team: \(run)}}
              selector: {matchLabels: {tier: checkout}}
            load: {perReplica: 50}
            buffer: 20%
            minReplicas: 2
            maxReplicas: 60
          - name: search
            priority: 100
            workloads: {selector: {matchLabels: {tier: search}}, namespaceSelector: {matchLabels: {team: \(run)}}}
            load: {perReplica: 100}
            buffer: 20%
            minReplicas: 1
            maxReplicas: 20
          - name: batch
            priority: 10
            workloads: {selector: {matchLabels: {tier: batch}}, namespaceSelector: {matchLabels: {team: \(run)}}}
            load: {perReplica: 200}
            buffer: 0
            minReplicas: 1
            maxReplicas: 4
          generalPurpose: {zone: batch}
          overflow: {policy: Strict}
          scaleDown: {stabilizationWindow: 10m, maxStepPercent: 50}
        """)
        let client = try Cluster.admin()
        // The forecast sees the peak 100 minutes ahead: checkout is raised far above what its load now needs.
        let checkout = try await Cluster.eventually(timeout: 120) { () async throws -> Int? in
            let r = try await client.get(Deployment.self, namespace: ns, name: "checkout").spec?.replicas ?? 0
            return r >= 15 ? r : nil
        }
        // Replicas are written before status in a reconcile: wait for the status that explains them.
        let (observedText, quantileText) = try await Cluster.eventually(timeout: 30) { () throws -> (String, String)? in
            let o = try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"checkout\")].observedLoad")
            let q = try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"checkout\")].predictedLoad.quantile")
            return Double(o) != nil && Double(q) != nil ? (o, q) : nil
        }
        print("status zones: \(try jsonpath("zoneplan", run, ".status.zones"))")
        let observed = Double(observedText) ?? -1
        let quantile = Double(quantileText) ?? -1
        let peakAt = try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"checkout\")].predictedLoad.peakAt")
        print("checkout: observed load \(observed), predicted peak (q0.9) \(quantile) at \(peakAt), replicas \(checkout)")
        #expect(observed >= 0 && observed < 300, "the load now is still low")
        #expect(Int((observed / 50).rounded(.up)) < checkout, "replicas are above what the observed load needs: sized ahead")
        #expect(quantile > 700)
        if let peak = Timestamp.parse(peakAt) { #expect(peak > now.addingTimeInterval(30 * 60), "the peak is ahead, not now") }
        #expect(try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"checkout\")].sizedBy") == "Predicted")
        // The pool grows to hold the zones, and nodes join.
        let desired = try await Cluster.eventually(timeout: 60) { () throws -> Int? in
            let d = Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) ?? 0
            return d >= 3 ? d : nil
        }
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.nodePools[0].desiredNodes") == "\(desired)" ? true : nil
        }
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in
            try await client.list(Node.self, options: ListOptions(labelSelector: "pool=\(run)")).items.filter(\.isReady).count == desired ? true : nil
        }
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"CapacitySufficient\")].status") == "True")
        let conditions = try jsonpath("zoneplan", run, ".status.conditions")
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Ready\")].status") == "True", "\(conditions)")
        #expect(try jsonpath("priorityclass", "\(run)-checkout", ".value") == "1000", "the zone's PriorityClass is created")
        // Events follow the status write of the same reconcile.
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            let described = try Cluster.kubectl(["describe", "zoneplan", run]).out
            return described.contains("ForecastRefit") && described.contains("Scaled") ? true : nil
        }

        // Demand beyond maxNodes: Strict keeps checkout whole and cuts the lowest priority.
        try Cluster.kubectl(["patch", "zoneplan", run, "--type", "json", "-p", #"[{"op":"replace","path":"/spec/nodePools/0/maxNodes","value":2}]"#])
        _ = try await Cluster.eventually(timeout: 60) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"CapacitySufficient\")].reason") == "Overflow" ? true : nil
        }
        let ratios = try jsonpath("zoneplan", run, ".status.zones[*].grantRatio").split(separator: " ").compactMap { Double($0) }
        let allocated = try jsonpath("zoneplan", run, ".status.zones[*].allocatedReplicas").split(separator: " ").compactMap { Int($0) }
        print("with maxNodes 2 (checkout, search, batch): grant ratios \(ratios), allocated \(allocated)")
        #expect(ratios.count == 3 && allocated.count == 3)
        #expect(ratios[0] < 1, "checkout alone needs more than two nodes")
        #expect(allocated[0] > 10, "the highest priority gets what the pool can hold once the others keep their minimum")
        // Every zone keeps what its observed load needs now before any zone gets room for a
        // predicted peak: search, below checkout, is cut to that (its minReplicas at the least).
        let searchObserved = Double(try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"search\")].observedLoad")) ?? -1
        #expect(searchObserved >= 0, "search's observed load is in status")
        #expect(allocated[1] >= max(1, Int((searchObserved / 100).rounded(.up))), "search keeps what its load of \(searchObserved) needs now")
        #expect(ratios[1] < 1, "Strict: search, below checkout, is cut below its predicted requirement (it may also get a fragment too small for checkout)")
        // batch keeps 2 × 250m: a fragment too small for another 1-CPU checkout or 500m search replica.
        #expect(allocated[2] <= 2)
        let message = try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"CapacitySufficient\")].message")
        #expect(message.contains("maxNodes is 2") && message.contains("Strict granted"), "\(message)")
        _ = try await Cluster.eventually(timeout: 60) { () throws -> Bool? in try jsonpath("nodepool", run, ".spec.replicas", namespace: ns) == "2" ? true : nil }
        #expect(try Cluster.kubectl(["get", "zoneplan", run]).out.contains(run))
    }

    /// A NodePool of `nodes` simulated nodes (8 CPU) labelled `pool: <run>`, one Deployment `web` of
    /// `replicas` 2-CPU pods (four to a node) on them, and a flat load history of about 500 for it.
    /// Returns once the nodes are Ready.
    func startFlatLoadPool(_ bed: ZonePlanTestBed, nodes: Int, replicas: Int = 1, noiseSeed: UInt64) async throws {
        let run = bed.run, ns = bed.ns
        try bed.startPoolSimulator()
        let trace = risingTraceCSV(now: Date(), days: 15, base: 500, amplitude: 0, peakAhead: 0, noiseSeed: noiseSeed)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": trace]))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: simulator.foresight.dev/v1alpha1
        kind: NodePool
        metadata: {name: \(run), namespace: \(ns)}
        spec: {replicas: \(nodes), labels: {pool: \(run)}}
        ---

        """ + deploymentYAML("web", ns: ns, labels: "{tier: web}", replicas: replicas, podSpec: """
        {nodeSelector: {pool: \(run)}, terminationGracePeriodSeconds: 1, containers: [{name: c, image: nginx, resources: {requests: {cpu: "2", memory: 64Mi}}}]}
        """))
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in
            try await Cluster.admin().list(Node.self, options: ListOptions(labelSelector: "pool=\(run)")).items.filter(\.isReady).count == nodes ? true : nil
        }
    }

    /// The shrink scenario: a pool of 6 simulated nodes where 4 hold what the plan needs, `web`
    /// under a flat load of about 500 at 50 a replica, so 10 or 11 replicas serve it and the plan
    /// asks for 2 more. The ZonePlan is `shrinkPlanYAML`.
    func startShrinkScenario(_ bed: ZonePlanTestBed) async throws {
        try await startFlatLoadPool(bed, nodes: 6, noiseSeed: 11)
    }

    /// The ZonePlan of a flat-load pool (`startFlatLoadPool`): one zone, `web`, sized from the load
    /// history. The shrink scenario's defaults.
    func shrinkPlanYAML(_ bed: ZonePlanTestBed, buffer: Int = 2, maxNodes: Int = 8, perReplica: Int = 50,
                        minReplicas: Int = 1, maxReplicas: Int = 40, extraZones: String = "") -> String {
        """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(bed.run)}
        spec:
          mode: Enforce
        \(bed.nodePoolSpec(maxNodes: maxNodes))
          forecast:
            source: {configMap: {namespace: \(bed.ns), name: load-history}}
            history: 14d
            horizon: 2h
            step: 5m
            seasonalities: [1d]
          zones:
          - name: web
            priority: 100
            workloads: {namespaceSelector: {matchLabels: {team: \(bed.run)}}, selector: {matchLabels: {tier: web}}}
            load: {perReplica: \(perReplica)}
            buffer: \(buffer)
            minReplicas: \(minReplicas)
            maxReplicas: \(maxReplicas)
        \(extraZones)
        """
    }

    /// The plan's Events once the pool is down to 4: each step one node, never 6 → 4 at once.
    func expectOneNodeAtATime(_ run: String) async throws {
        let described = try await Cluster.eventually(timeout: 30) { () throws -> String? in
            let out = try Cluster.kubectl(["describe", "zoneplan", run]).out
            return out.contains("node pool general 5 → 4 nodes") ? out : nil
        }
        #expect(described.contains("node pool general 6 → 5 nodes") && !described.contains("6 → 4"), "\(described)")
    }

    /// Waits until the Deployment runs what the plan requires again (the surge given back).
    func expectSurgeGivenBack(_ bed: ZonePlanTestBed, required: Int) async throws {
        let client = try Cluster.admin()
        let last = try await Cluster.eventually(timeout: 60) { () async throws -> Int? in
            let r = try await client.get(Deployment.self, namespace: bed.ns, name: "web").spec?.replicas ?? 0
            return r == required ? r : nil
        }
        #expect(last == required)
    }

    /// One sample of a shrink, taken every second: the pool's size, web's replicas and Ready
    /// count, the pool's nodes, the nodes web's pods are bound to, and those of its Ready pods
    /// that are not terminating.
    typealias ShrinkSample = (pool: Int, replicas: Int, ready: Int, nodes: Set<String>, podNodes: [String], readyPodNodes: [String])

    /// Starts the shrink scenario with a controller that never resyncs within the test (every step
    /// must come from the events it waits on: a surge Ready, a node gone, the replacements of its
    /// pods Ready), applies the plan, and samples until the pool is down to 4 with nothing to say.
    func runShrink(_ bed: ZonePlanTestBed, buffer: Int, extraZones: String = "",
                   prepare: (() async throws -> Void)? = nil) async throws -> (samples: [ShrinkSample], messages: Set<String>, required: Int) {
        let run = bed.run, ns = bed.ns
        try await startShrinkScenario(bed)
        try await prepare?()
        try bed.startController(extraArguments: ["--zoneplan-resync", "30m", "--log-level", "debug"])
        try Cluster.kubectl(["apply", "-f", "-"], stdin: shrinkPlanYAML(bed, buffer: buffer, extraZones: extraZones))
        let client = try Cluster.admin()
        var seen: [ShrinkSample] = []
        var messages: Set<String> = []
        _ = try await Cluster.eventually(timeout: 300) { () async throws -> Bool? in
            let pool = Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) ?? -1
            let d = try await client.get(Deployment.self, namespace: ns, name: "web")
            let nodes = try await client.list(Node.self, options: ListOptions(labelSelector: "pool=\(run)")).items.map(\.name)
            let pods = try await client.list(Pod.self, namespace: ns).items
            let readyPodNodes = pods.filter { $0.isReady && $0.metadata.deletionTimestamp == nil }.compactMap { $0.spec?.nodeName }
            seen.append((pool, d.spec?.replicas ?? 0, d.status?.readyReplicas ?? 0, Set(nodes), pods.compactMap { $0.spec?.nodeName }, readyPodNodes))
            let m = try jsonpath("zoneplan", run, ".status.nodePools[0].message")
            if !m.isEmpty { messages.insert(m) }
            return pool == 4 && m.isEmpty ? true : nil
        }
        let required = try #require(Int(try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"web\")].requiredReplicas")))
        print("buffer \(buffer): pool, replicas, ready over time: \(seen.map { "\($0.pool)/\($0.replicas)/\($0.ready)" }.joined(separator: " "))")
        print("buffer \(buffer): pool messages: \(messages.sorted())")
        return (seen, messages, required)
    }

    /// The second node went only once the first one's pods had gone: the simulator removes a node
    /// without its pods, which keep their Ready condition until the pod garbage collector deletes
    /// them (tens of seconds), and they count in the Deployment's readyReplicas, but they serve
    /// nothing. (When both nodes went between two samples, either may have been the first: one of
    /// them must have no pod left, the first if it had none at all.)
    func expectSecondNodeWaitedForTheFirstOnesPods(_ seen: [ShrinkSample]) throws {
        let initial = try #require(seen.first).nodes
        let firstRemoved = try #require(seen.lazy.map { initial.subtracting($0.nodes) }.first { !$0.isEmpty })
        let secondStep = try #require(seen.first { $0.pool == 4 })
        #expect(firstRemoved.contains { !secondStep.podNodes.contains($0) }, "the pool went to 4 while web still had pods on \(firstRemoved.sorted()), removed before")
    }

    /// Once the pool has begun to give nodes back, web always has Ready pods on nodes that still
    /// exist for its load: 500 ± 2 % at 50 a replica needs 10 or 11, and each step is taken only
    /// when the zone keeps that many after losing a node full of its pods. (Nodes are listed
    /// before pods, so a node removed in between only makes this count more lenient.)
    func expectReadyReplicasNeverBelowTheLoad(_ seen: [ShrinkSample]) {
        for (i, sample) in seen.enumerated() where sample.pool < 6 {
            let standing = sample.readyPodNodes.filter { sample.nodes.contains($0) }.count
            #expect(standing >= 10, "sample \(i): pool \(sample.pool), only \(standing) Ready pods of web on the nodes there are")
        }
    }

    /// A pool with two nodes more than its zone needs, where a removed node could take pods the
    /// load needs now: the zone is surged first, the pool gives its nodes back one at a time once
    /// the surge is Ready, and the surge goes with them.
    @Test func aPoolGivesNodesBackOneAtATimeBehindASurge() async throws {
        let bed = try ZonePlanTestBed(prefix: "zs")
        defer { bed.tearDown() }
        let (seen, messages, required) = try await runShrink(bed, buffer: 2)
        // One node at a time, as the plan's Events say (polling could miss a step).
        try await expectOneNodeAtATime(bed.run)
        // Before the pool first went down, the Deployment ran more than the plan needs, and the plan
        // said it waited for that surge to be Ready (the moment it was, polling cannot catch).
        let firstDrop = try #require(seen.firstIndex { $0.pool < 6 })
        #expect(seen[..<firstDrop].contains { $0.replicas > required }, "a surge before the first node went")
        #expect(messages.contains { $0.contains("until the surge that covers a node's pods is Ready (web +") }, "\(messages)")
        try expectSecondNodeWaitedForTheFirstOnesPods(seen)
        expectReadyReplicasNeverBelowTheLoad(seen)
        // The surge went with the nodes.
        try await expectSurgeGivenBack(bed, required: required)
    }

    /// With a buffer of 5 the zone runs enough replicas (16, 4 a node) to lose one node as they
    /// are, not two: the first node goes with no surge once they are Ready, and the second only
    /// when the Ready ones left can lose another node (at once if the first took at most two of
    /// them, else once they are replaced). The plan's own count of 16 would have let both go at
    /// once, before the pods were even Ready.
    @Test func aNodeGivenBackWithoutASurgeWaitsForItsPodsToBeReplaced() async throws {
        let bed = try ZonePlanTestBed(prefix: "zw")
        defer { bed.tearDown() }
        let (seen, messages, required) = try await runShrink(bed, buffer: 5)
        try await expectOneNodeAtATime(bed.run)
        #expect(!seen.contains { $0.replicas > required }, "no surge: the zone's replicas could lose a node as they were")
        #expect(messages.contains { $0.contains("until the replicas of web are Ready again") }, "\(messages)")
        expectReadyReplicasNeverBelowTheLoad(seen)
    }

    /// A zone whose pods never become Ready (`broken`: they run, but never pass readiness) beside
    /// web on the shrink scenario's pool, where 4 nodes hold both. Its replicas count for nothing
    /// Ready, so the pool waited for them; once the deployment controller declares `broken` past
    /// its progress deadline (15 s here), the pool gives its two spare nodes back one at a time
    /// (behind web's surge), and says it does not wait for `broken`; web keeps the Ready replicas its
    /// load needs throughout. Before, the pool stayed at 6 "until the replicas of broken are Ready again".
    @Test func aZoneWhosePodsNeverBecomeReadyDoesNotHoldThePool() async throws {
        let bed = try ZonePlanTestBed(prefix: "zn")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        let brokenZone = """
          - name: broken
            priority: 50
            workloads: {namespaceSelector: {matchLabels: {team: \(run)}}, selector: {matchLabels: {tier: broken}}}
            load: {perReplica: 50}
            buffer: 0
            minReplicas: 2
            maxReplicas: 2
        """
        // The simulator's `NodeSimulator.neverReadyAnnotation` keeps broken's pods Running, never Ready.
        let (seen, messages, _) = try await runShrink(bed, buffer: 2, extraZones: brokenZone) {
            let now = Date()
            try Cluster.kubectl(["apply", "-f", "-"], stdin: self.configMapYAML(ns, [
                "web": risingTraceCSV(now: now, days: 15, base: 500, amplitude: 0, peakAhead: 0, noiseSeed: 11),
                "broken": risingTraceCSV(now: now, days: 15, base: 100, amplitude: 0, peakAhead: 0, noiseSeed: 12),
            ]))
            try Cluster.kubectl(["apply", "-f", "-"], stdin: """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: broken, namespace: \(ns), labels: {tier: broken}}
            spec:
              replicas: 2
              progressDeadlineSeconds: 15
              selector: {matchLabels: {app: broken}}
              template:
                metadata: {labels: {app: broken}, annotations: {simulator.foresight.dev/never-ready: "true"}}
                spec: {nodeSelector: {pool: \(run)}, terminationGracePeriodSeconds: 1, containers: [{name: c, image: nginx, resources: {requests: {cpu: "2", memory: 64Mi}}}]}
            """)
        }
        let broken = try await Cluster.admin().get(Deployment.self, namespace: ns, name: "broken")
        #expect(broken.progressDeadlineExceeded && (broken.status?.readyReplicas ?? 0) == 0, "\(String(describing: broken.status))")
        #expect(messages.contains { $0.contains("not waiting for the replicas of broken: none is Ready, and their Deployments are past their progress deadline") },
                "\(messages)")
        try await expectOneNodeAtATime(run)
        expectReadyReplicasNeverBelowTheLoad(seen)
    }

    /// A ZonePlan's pool of two nodes (8 CPU) holds the five 2-CPU replicas of web it sizes (three
    /// and two). An UpdateWindow over the pool cordons a node and surges web by its pods: counted
    /// over both nodes the surge fits, but the open node has room for at most two of them. The
    /// plan's pool takes a third node while one is cordoned, the surge is placed and Ready before
    /// the drain, and every node is updated with web's available replicas never below five; then
    /// the pool goes back to two.
    @Test func aWindowsSurgeOnAFullPoolGetsANodeFromTheZonePlan() async throws {
        let bed = try ZonePlanTestBed(prefix: "zw")
        defer {
            _ = try? Cluster.kubectl(["delete", "updatewindow", bed.run, "--timeout=60s"], allowFailure: true)
            bed.tearDown()
        }
        let run = bed.run, ns = bed.ns
        try await startFlatLoadPool(bed, nodes: 2, replicas: 5, noiseSeed: 5)
        let client = try Cluster.admin()
        _ = try await Cluster.eventually(timeout: 60) { () async throws -> Bool? in
            try await client.get(Deployment.self, namespace: ns, name: "web").status?.readyReplicas == 5 ? true : nil
        }
        try bed.startController()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: shrinkPlanYAML(bed, buffer: 0, maxNodes: 4, perReplica: 100, minReplicas: 5, maxReplicas: 5))
        _ = try await Cluster.eventually(timeout: 90) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.nodePools[0].desiredNodes") == "2" ? true : nil
        }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: UpdateWindow
        metadata: {name: \(run)}
        spec:
          nodeSelector: {matchLabels: {pool: \(run)}}
          schedule: {start: "\(Timestamp.format(Date().addingTimeInterval(-5)))", duration: 1h}
          maxUnavailable: 1
          drain: {timeout: 90s}
          update: {nodeTimeout: 2m}
          verify: {settle: 2s}
        """)
        var pools: [Int] = [], available: [Int] = []
        var messages: Set<String> = []
        let phase = try await Cluster.eventually(timeout: 420) { () async throws -> String? in
            pools.append(Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) ?? -1)
            messages.insert(try jsonpath("zoneplan", run, ".status.nodePools[0].message"))
            available.append(try await client.get(Deployment.self, namespace: ns, name: "web").status?.availableReplicas ?? 0)
            let p = try Cluster.kubectl(["get", "updatewindow", run, "-o", "jsonpath={.status.phase}"]).out
            return p == "Completed" || p == "Failed" ? p : nil
        }
        let nodes = try Cluster.kubectl(["get", "updatewindow", run, "-o", "jsonpath={range .status.nodes[*]}{.name}={.phase}: {.message}{\"\\n\"}{end}"]).out
        // Runs of equal samples, as value×count.
        func runs(_ xs: [Int]) -> String {
            xs.reduce(into: [(Int, Int)]()) { r, x in if r.last?.0 == x { r[r.count - 1].1 += 1 } else { r.append((x, 1)) } }
                .map { "\($0.0)×\($0.1)" }.joined(separator: " ")
        }
        print("window \(phase); pool over time \(runs(pools)); web available \(runs(available))\n\(nodes)")
        #expect(phase == "Completed", "\(nodes)")
        #expect(pools.contains { $0 >= 3 }, "the pool took a node while one was cordoned")
        #expect(messages.contains("3 nodes, not 2: cordoned nodes (1) take no new pod, and the others must hold the zones (an UpdateWindow's surge among them)"),
                "status says why: \(messages.sorted())")
        #expect(available.allSatisfy { $0 >= 5 }, "web's available replicas never dipped: \(available)")
        let back = try await Cluster.eventually(timeout: 240) { () throws -> Int? in
            let n = Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) ?? -1
            return n == 2 ? n : nil
        }
        #expect(back == 2, "the pool gives the node back once no node is cordoned")
    }

    /// The shrink keeps no state in the controller: one killed (SIGKILL) while its surge is asked
    /// for, and another killed once the first node has gone, leave the pool, the surge and the
    /// plan to the next, which finishes the same steps: one node at a time, the surge given back.
    @Test func aControllerKilledMidShrinkLeavesTheNextToFinishIt() async throws {
        let bed = try ZonePlanTestBed(prefix: "zk")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try await startShrinkScenario(bed)
        var controller = try bed.startController(identity: "\(run)-1")
        try Cluster.kubectl(["apply", "-f", "-"], stdin: shrinkPlanYAML(bed))
        let client = try Cluster.admin()
        // The status first: a reconcile writes it after it has scaled, so what is read after it
        // is at least as new.
        func state() async throws -> (pool: Int, replicas: Int, message: String) {
            let message = try jsonpath("zoneplan", run, ".status.nodePools[0].message")
            let pool = Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) ?? -1
            let replicas = try await client.get(Deployment.self, namespace: ns, name: "web").spec?.replicas ?? 0
            return (pool, replicas, message)
        }
        // 1. Killed while it waits for its first surge: the pool has not moved.
        let waiting = try await Cluster.eventually(timeout: 180) { () async throws -> (pool: Int, replicas: Int, message: String)? in
            let s = try await state()
            return s.message.contains("until the surge that covers a node's pods is Ready") ? s : nil
        }
        controller.kill()
        let required = try #require(Int(try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"web\")].requiredReplicas")))
        #expect(waiting.pool == 6 && waiting.replicas > required, "surge asked, pool whole: \(waiting)")
        // With no controller, nothing moves: the surge stays, the pool stays.
        try await Task.sleep(for: .seconds(3))
        let orphaned = try await state()
        #expect(orphaned.pool == 6 && orphaned.replicas == waiting.replicas, "\(orphaned)")
        // 2. The next controller (another identity: it waits out the first's Lease) goes on; it is
        // killed as soon as the first node has gone.
        controller = try bed.startController(identity: "\(run)-2")
        let afterFirst = try await Cluster.eventually(timeout: 180) { () async throws -> (pool: Int, replicas: Int, message: String)? in
            let s = try await state()
            return s.pool < 6 ? s : nil
        }
        controller.kill()
        #expect(afterFirst.pool == 5, "one node at a time: \(afterFirst)")
        // 3. A third finishes: down to 4, one node at a time, and the surge given back.
        controller = try bed.startController(identity: "\(run)-3")
        _ = try await Cluster.eventually(timeout: 240) { () async throws -> Bool? in
            let s = try await state()
            return s.pool == 4 && s.message.isEmpty ? true : nil
        }
        try await expectOneNodeAtATime(run)
        try await expectSurgeGivenBack(bed, required: required)
        #expect(Int(try jsonpath("nodepool", run, ".spec.replicas", namespace: ns)) == 4)
    }

    /// A Deployment of one nginx container, labelled as given, in YAML for kubectl.
    func deploymentYAML(_ name: String, ns: String, labels: String, replicas: Int = 1, podSpec: String = "{containers: [{name: c, image: nginx}]}") -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), namespace: \(ns), labels: \(labels)}
        spec:
          replicas: \(replicas)
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec: \(podSpec)
        ---

        """
    }

    func configMapYAML(_ ns: String, _ data: [String: String]) -> String {
        var y = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: load-history, namespace: \(ns)}\ndata:\n"
        for (k, v) in data.sorted(by: { $0.key < $1.key }) { y += "  \(k): |\n" + v.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n") + "\n" }
        return y
    }

    func plan(_ name: String, ns: String, mode: String, zone: String = "web") -> String {
        """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(name)}
        spec:
          mode: \(mode)
          forecast:
            source: {configMap: {namespace: \(ns), name: load-history}}
            horizon: 1h
            step: 5m
            seasonalities: [1d]
          zones:
          - name: \(zone)
            priority: 100
            priorityClassName: \(name)-web
            workloads: {namespaceSelector: {matchLabels: {team: \(name)}}, selector: {matchLabels: {tier: web}}}
            load: {perReplica: 50}
            buffer: 0
            minReplicas: 1
            maxReplicas: 40
        """
    }

    /// DryRun writes nothing but the plan's status; Enforce then raises the HPA's minReplicas
    /// (the Deployment is the HPA's), and deleting the plan gives the user's value back.
    @Test func dryRunWritesOnlyStatusAndAnHPAIsRaisedThenGivenBack() async throws {
        let bed = try ZonePlanTestBed(prefix: "zh")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try bed.startController()
        let now = Date()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": risingTraceCSV(now: now, days: 15, base: 500, amplitude: 0, peakAhead: 0, noiseSeed: 9)]))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: deploymentYAML("web", ns: ns, labels: "{tier: web}",
                                                                         podSpec: "{containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m}}}]}") + """
        apiVersion: autoscaling/v1
        kind: HorizontalPodAutoscaler
        metadata: {name: web, namespace: \(ns)}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          minReplicas: 1
          maxReplicas: 50
          targetCPUUtilizationPercentage: 70
        """)
        func versions() throws -> [String] {
            [try jsonpath("deployment", "web", ".metadata.resourceVersion", namespace: ns),
             try jsonpath("hpa", "web", ".metadata.resourceVersion", namespace: ns),
             try jsonpath("hpa", "web", ".spec.minReplicas", namespace: ns)]
        }
        try await Task.sleep(for: .seconds(2))  // let the controllers of the control plane settle the new objects
        let before = try versions()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: plan(run, ns: ns, mode: "DryRun"))
        let required = try await Cluster.eventually(timeout: 90) { () throws -> Int? in
            Int(try jsonpath("zoneplan", run, ".status.zones[0].requiredReplicas")).flatMap { $0 >= 10 ? $0 : nil }
        }
        try await Task.sleep(for: .seconds(3))
        #expect(try versions() == before, "DryRun changed no Deployment or HPA")
        #expect(try Cluster.kubectl(["get", "priorityclass", "\(run)-web"], allowFailure: true).status != 0, "DryRun created no PriorityClass")
        #expect(try jsonpath("zoneplan", run, ".metadata.finalizers").isEmpty, "DryRun adds no finalizer")
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Ready\")].reason") == "DryRun")
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try Cluster.kubectl(["describe", "zoneplan", run]).out.contains("WouldScale") ? true : nil
        }

        try Cluster.kubectl(["patch", "zoneplan", run, "--type", "merge", "-p", #"{"spec":{"mode":"Enforce"}}"#])
        let raised = try await Cluster.eventually(timeout: 60) { () throws -> Int? in
            Int(try jsonpath("hpa", "web", ".spec.minReplicas", namespace: ns)).flatMap { $0 > 1 ? $0 : nil }
        }
        #expect(raised == required)
        #expect(try jsonpath("hpa", "web", ".metadata.annotations.foresight\\.dev/user-min-replicas", namespace: ns) == "1")
        #expect(try jsonpath("zoneplan", run, ".metadata.finalizers[0]") == "foresight.dev/zoneplan-cleanup")

        // Deleting the plan gives the HPA back the user's minReplicas, then the plan goes.
        try Cluster.kubectl(["delete", "zoneplan", run, "--wait=false"])
        _ = try await Cluster.eventually(timeout: 60) { () throws -> Bool? in
            try jsonpath("hpa", "web", ".spec.minReplicas", namespace: ns) == "1" ? true : nil
        }
        #expect(try jsonpath("hpa", "web", ".metadata.annotations").contains("foresight.dev") == false)
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try Cluster.kubectl(["get", "zoneplan", run], allowFailure: true).status != 0 ? true : nil
        }
    }

    /// A zone whose history turns to garbage is sized reactively and says so; fixed, it recovers.
    @Test func garbageHistoryDegradesToReactiveSizingAndRecovers() async throws {
        let bed = try ZonePlanTestBed(prefix: "zg")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try bed.startController()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": "timestamp,value\nyesterday,lots\n<html>502 Bad Gateway</html>"]))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: deploymentYAML("web", ns: ns, labels: "{tier: web}", replicas: 3))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: plan(run, ns: ns, mode: "Enforce"))
        let degraded = try await Cluster.eventually(timeout: 60) { () throws -> String? in
            let m = try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Degraded\")].message")
            return try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Degraded\")].status") == "True" ? m : nil
        }
        #expect(degraded.contains("web") && degraded.contains("history"), "the condition names the zone and the problem: \(degraded)")
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"ForecastReady\")].status") == "False")
        // Unreadable history gives no observation either: nothing says the load fell, so the zone
        // keeps its 3 replicas (it stepped down to its minimum of 1 once the stabilisation window had passed).
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].sizedBy") == "Held")
        #expect(degraded.contains("keeping 3 replicas"), "\(degraded)")
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].requiredReplicas") == "3")
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try Cluster.kubectl(["describe", "zoneplan", run]).out.contains("ReactiveFallback") ? true : nil
        }

        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": risingTraceCSV(now: Date(), days: 15, base: 300, amplitude: 0, peakAhead: 0, noiseSeed: 4)]))
        _ = try await Cluster.eventually(timeout: 90) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Degraded\")].status") == "False" ? true : nil
        }
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].sizedBy") == "Predicted")
        let replicas = try await Cluster.eventually(timeout: 30) { () throws -> Int? in
            Int(try jsonpath("deployment", "web", ".spec.replicas", namespace: ns)).flatMap { $0 >= 6 ? $0 : nil }
        }
        #expect(replicas <= 8, "300 ÷ 50 plus the interval")
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try Cluster.kubectl(["describe", "zoneplan", run]).out.contains("Recovered") ? true : nil
        }
    }

    /// The live forecast record (observations against the forecast made before them) is kept in
    /// status: a controller that replaces a stopped one carries it on instead of starting afresh.
    @Test func aRestartedControllerCarriesTheLiveForecastRecordOn() async throws {
        let bed = try ZonePlanTestBed(prefix: "zl")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try bed.startController()
        // History ending 65 minutes ago; the controller fits on it.
        let end = ((Date().timeIntervalSince1970 - 3900) / 300).rounded(.down) * 300
        var csv = risingTraceCSV(now: Date(timeIntervalSince1970: end), days: 15, base: 300, amplitude: 0, peakAhead: 0, noiseSeed: 5)
        func append(_ steps: ClosedRange<Int>) { for k in steps { csv += "\n\(Int64(end) + Int64(300 * k)),\(300 + (k % 3) * 5)" } }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: deploymentYAML("web", ns: ns, labels: "{tier: web}", replicas: 2))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": csv]))
        try Cluster.kubectl(["apply", "-f", "-"], stdin: plan(run, ns: ns, mode: "DryRun"))
        _ = try await Cluster.eventually(timeout: 90) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.window").hasPrefix("backtest") ? true : nil
        }
        let firstFit = try jsonpath("zoneplan", run, ".status.lastForecastTime")
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].predictedLoad.updatedThrough") == Timestamp.format(Date(timeIntervalSince1970: end)))
        // The next hour arrives: twelve observations after the fit.
        append(1...12)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": csv]))
        _ = try await Cluster.eventually(timeout: 120) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.live.observations") == "12" ? true : nil
        }
        // They moved the forecast along without a fit (refitEvery is a day).
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].predictedLoad.updatedThrough") == Timestamp.format(Date(timeIntervalSince1970: end + 3600)))
        #expect(try jsonpath("zoneplan", run, ".status.lastForecastTime") == firstFit)
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.window").hasPrefix("live: 12 observations"))
        let coverage = Double(try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.intervalCoverage")) ?? -1
        #expect(coverage >= 0 && coverage <= 1, "share inside the 90 % interval: \(coverage)")
        let fitBefore = try jsonpath("zoneplan", run, ".status.lastForecastTime")

        // Another controller takes over: it fits afresh and goes on from the record in status.
        bed.controller?.stop()
        try bed.startController()
        _ = try await Cluster.eventually(timeout: 120) { () throws -> Bool? in
            let fit = try jsonpath("zoneplan", run, ".status.lastForecastTime")
            return !fit.isEmpty && fit != fitBefore ? true : nil
        }
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.live.observations") == "12", "the record survived the restart")
        append(13...15)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["web": csv]))
        _ = try await Cluster.eventually(timeout: 120) { () throws -> Bool? in
            try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.live.observations") == "15" ? true : nil
        }
        #expect(try jsonpath("zoneplan", run, ".status.zones[0].forecastAccuracy.window").hasPrefix("live: 15 observations"))
    }

    /// A real Prometheus as the history source, with a backend zone that follows the frontend's
    /// load: both are raised ahead of the frontend's coming peak.
    @Test(.enabled(if: PrometheusFixture.available, "needs prometheus and promtool"))
    func prometheusHistoryAndAFollowingZone() async throws {
        let bed = try ZonePlanTestBed(prefix: "zq")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        let now = Date()
        func samples(_ csv: String, scale: Double) -> [(Int64, Double)] {
            csv.split(separator: "\n").dropFirst().compactMap { line in
                let f = line.split(separator: ",")
                guard f.count == 2, let t = Int64(f[0]), let v = Double(f[1]) else { return nil }
                return (t, v * scale)
            }
        }
        let front = risingTraceCSV(now: now, days: 15, base: 50, amplitude: 950, peakAhead: 90 * 60, noiseSeed: 5)
        let prometheus = try PrometheusFixture.start(series: [
            ("requests{tier=\"front\"}", samples(front, scale: 1)),
            ("requests{tier=\"back\"}", samples(front, scale: 0.25)),  // the backend sees a quarter of the frontend's load
        ])
        bed.onTearDown { prometheus.stop() }
        try bed.startController()
        try Cluster.kubectl(["apply", "-f", "-"], stdin: ["front", "back"].map { deploymentYAML($0, ns: ns, labels: "{tier: \($0)}") }.joined())
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(run)}
        spec:
          forecast:
            source: {prometheus: {url: "\(prometheus.url)"}}
            history: 14d
            horizon: 2h
            step: 5m
            seasonalities: [1d]
          zones:
          - name: front
            priority: 100
            workloads: {namespaceSelector: {matchLabels: {team: \(run)}}, selector: {matchLabels: {tier: front}}}
            load: {query: 'sum(requests{tier="front"})', perReplica: 50}
            buffer: 0
            maxReplicas: 50
          - name: back
            priority: 90
            workloads: {namespaceSelector: {matchLabels: {team: \(run)}}, selector: {matchLabels: {tier: back}}}
            load: {query: 'sum(requests{tier="back"})', perReplica: 25, follows: {zone: front}}
            buffer: 0
            maxReplicas: 50
        """)
        let front50 = try await Cluster.eventually(timeout: 120) { () throws -> Int? in
            Int(try jsonpath("deployment", "front", ".spec.replicas", namespace: ns)).flatMap { $0 >= 15 ? $0 : nil }
        }
        let back = try await Cluster.eventually(timeout: 30) { () throws -> Int? in
            Int(try jsonpath("deployment", "back", ".spec.replicas", namespace: ns)).flatMap { $0 >= 5 ? $0 : nil }
        }
        let model = try await Cluster.eventually(timeout: 30) { () throws -> String? in
            let m = try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"back\")].model")
            return m.hasPrefix("follows") ? m : nil
        }
        print("front \(front50) replicas, back \(back) replicas; back's model: \(model)")
        #expect(model.hasPrefix("follows front × 0.25"), "the learned ratio is the quarter the data holds: \(model)")
        // A quarter of the load at half the load per replica: about half the frontend's replicas.
        #expect(abs(Double(back) - Double(front50) / 2) <= 2, "front \(front50), back \(back)")
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"ForecastReady\")].status") == "True",
                "\((try? jsonpath("zoneplan", run, ".status.conditions")) ?? "")")
        #expect(Double(try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"front\")].observedLoad")).map { $0 < 300 } == true)
    }

    /// What the controller cannot act on safely is named, and the rest of the plan goes on: two
    /// zones selecting one Deployment, a node pool whose target has no scale subresource. A zone
    /// that asks for it gets its PriorityClass set on its Deployment.
    @Test func badPartsOfAPlanAreNamedWhileTheRestWorks() async throws {
        let bed = try ZonePlanTestBed(prefix: "zb")
        defer { bed.tearDown() }
        let run = bed.run, ns = bed.ns
        try bed.startController()
        let now = Date()
        let trace = risingTraceCSV(now: now, days: 15, base: 300, amplitude: 0, peakAhead: 0, noiseSeed: 6)
        try Cluster.kubectl(["apply", "-f", "-"], stdin: configMapYAML(ns, ["a": trace, "b": trace, "c": trace]))
        let objects = [("shared", "{a: x, b: x}"), ("only-a", "{a: x}"), ("only-c", "{c: x}")].map { deploymentYAML($0.0, ns: ns, labels: $0.1) }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: objects.joined())
        func zone(_ z: String, extra: String = "") -> String {
            """
              - name: \(z)
                priority: 10
                workloads: {namespaceSelector: {matchLabels: {team: \(run)}}, selector: {matchLabels: {\(z): x}}}
                load: {perReplica: 50}
                buffer: 0
                maxReplicas: 20\(extra)
            """
        }
        try Cluster.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: foresight.dev/v1alpha1
        kind: ZonePlan
        metadata: {name: \(run)}
        spec:
          nodePools:
          - name: wrong
            nodeSelector: {matchLabels: {pool: nothing-\(run)}}
            scaleTargetRef: {apiVersion: v1, kind: ConfigMap, namespace: \(ns), name: load-history}
            minNodes: 1
            maxNodes: 3
          forecast:
            source: {configMap: {namespace: \(ns), name: load-history}}
            horizon: 1h
            step: 5m
            seasonalities: [1d]
          zones:
        \(zone("a"))
        \(zone("b"))
        \(zone("c", extra: "\n    priorityClassName: \(run)-c\n    assignPriorityClass: true"))
        """)
        // c is scaled and its Deployment gets the zone's class; a and b are not scaled and say why.
        _ = try await Cluster.eventually(timeout: 90) { () throws -> Bool? in
            Int(try jsonpath("deployment", "only-c", ".spec.replicas", namespace: ns)).map { $0 >= 6 } == true ? true : nil
        }
        _ = try await Cluster.eventually(timeout: 30) { () throws -> Bool? in
            try jsonpath("deployment", "only-c", ".spec.template.spec.priorityClassName", namespace: ns) == "\(run)-c" ? true : nil
        }
        #expect(try jsonpath("deployment", "shared", ".spec.replicas", namespace: ns) == "1")
        #expect(try jsonpath("deployment", "only-a", ".spec.replicas", namespace: ns) == "1", "a zone with a contested Deployment is not scaled at all")
        let messageA = try await Cluster.eventually(timeout: 30) { () throws -> String? in
            let m = try jsonpath("zoneplan", run, ".status.zones[?(@.name==\"a\")].message")
            return m.isEmpty ? nil : m
        }
        #expect(messageA.contains("Deployment \(ns)/shared is selected by zones a, b"), "\(messageA)")
        let pool = try jsonpath("zoneplan", run, ".status.nodePools[0].message")
        #expect(pool.contains("no scale subresource"), "\(pool)")
        let ready = try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Ready\")].message")
        #expect(try jsonpath("zoneplan", run, ".status.conditions[?(@.type==\"Ready\")].status") == "False")
        #expect(ready.contains("a: not scaled") == false && ready.contains("selected by zones a, b") && ready.contains("node pool"), "\(ready)")
    }
}
}
