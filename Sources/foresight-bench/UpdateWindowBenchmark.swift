import ArgumentParser
import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesCore
import Reconcilers
import UpdatePlanning

/// `foresight-bench updatewindow`: planning one pass of an UpdateWindow over a large fleet, from
/// caches filled as the informers would hold them: the same `previewWindow` and `decideRollout`
/// calls the reconciler makes each pass (the writes that follow are a handful per pass and are
/// measured by the end-to-end runs, not here).
struct UpdateWindowBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "updatewindow",
                                                    abstract: "Time and memory to plan an UpdateWindow pass over many nodes and pods.")

    @Option var nodes = 5000
    @Option var pods = 100_000
    @Option(help: "ZonePlan zones whose forecasts order the nodes (0: pods' requests stand in for load).") var zones = 20
    @Option(help: "Passes measured.") var passes = 20

    func run() throws {
        let heapBefore = heapBytesInUse()
        // The caches: nodes of 16 CPU, pods of 100–1000m spread over them, 20 pods per Deployment.
        let nodeStore = Store<Node>(indexers: Indexers.standard())
        let podStore = Store<CachedPod>(indexers: CachedPod.indexers)
        let decoder = JSONDecoder()
        var nodeObjects: [Node] = []
        for i in 0..<nodes {
            let json = #"{"metadata":{"name":"node-\#(i)","resourceVersion":"1","labels":{"pool":"general","zone":"z\#(i % 3)"}},"status":{"allocatable":{"cpu":"16","memory":"64Gi"},"nodeInfo":{"bootID":"b-\#(i)"}}}"#
            nodeObjects.append(try decoder.decode(Node.self, from: Data(json.utf8)))
        }
        _ = nodeStore.apply(.restarted(nodeObjects))
        var podObjects: [CachedPod] = []
        podObjects.reserveCapacity(pods)
        let deploymentCount = max(1, pods / 20)
        let ownerUIDs = (0..<deploymentCount).map { _ in UUID().uuidString.lowercased() }
        for i in 0..<pods {
            var m = ObjectMeta(name: "pod-\(i)", namespace: "ns-\(i % 50)", labels: ["app": "app-\(i % deploymentCount)"])
            m.uid = UUID().uuidString.lowercased()
            m.resourceVersion = "1"
            m.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "app-\(i % deploymentCount)-rs", uid: ownerUIDs[i % deploymentCount], controller: true)]
            var spec = PodSpec()
            spec.nodeName = "node-\(i % nodes)"
            spec.containers = [.init(name: "c", resources: .init(requests: ["cpu": "\(100 * (1 + i % 10))m"]))]
            var status = PodStatus()
            status.phase = "Running"
            podObjects.append(CachedPod(Pod(metadata: m, spec: spec, status: status)))
        }
        _ = podStore.apply(.restarted(podObjects))
        podObjects = []
        nodeObjects = []
        let cacheBytes = heapBytesInUse() - heapBefore

        let now = Date()
        let spec = try decoder.decode(UpdateWindow.Spec.self, from: Data("""
        {"nodeSelector": {"matchLabels": {"pool": "general"}}, "schedule": {"start": "\(Timestamp.format(now))", "duration": "8h"},
         "maxUnavailable": "10%", "update": {"nodeTimeout": "30m"}, "verify": {"settle": "2m"}, "zonePlanRef": {"name": "bench"}}
        """.utf8))
        // Zone forecasts: a daily wave per zone over the next 8 hours, a zone per group of Deployments.
        let start = Int64(now.timeIntervalSince1970) / 60 * 60
        var outlooks: [ZoneLoadOutlook] = []
        var zonePods: [String: Int] = [:]
        let minutes: [Int64] = (0..<480).map { start + Int64($0) * 60 }
        for z in 0..<zones {
            let phase = Double(z * 20)
            let need: [Double] = (0..<480).map { (m: Int) -> Double in 40 + 30 * sin((Double(m) + phase) / 480 * 2 * Double.pi) }
            var members: Set<String> = []
            for d in stride(from: z, to: deploymentCount, by: zones) { members.insert("ns-\(d % 50)/app-\(d)") }
            outlooks.append(ZoneLoadOutlook(zone: "zone-\(z)", times: minutes, replicasNeeded: need, cpuMillisPerReplica: 500, deployments: members))
            zonePods["zone-\(z)"] = members.count * 20
        }
        // As the reconciler resolves pods to zones: once per owner per pass, then by lookup.
        func deploymentOf(_ pod: borrowing CachedPod) -> String? {
            guard let rs = pod.ownerName, rs.hasSuffix("-rs") else { return nil }
            return "\(pod.namespace)/\(rs.dropLast(3))"
        }

        var times: [Double] = []
        var planned = 0, starts = 0
        for _ in 0..<(passes + 1) {
            var zoneResolver = PodZoneResolver(zones: outlooks, deploymentOf: deploymentOf)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let preview = previewWindow(spec, nodes: nodeStore.list(), podsOn: { podStore.forEachInPlace(inIndex: PodIndex.node, $0, $1) }, now: now,
                                        zones: outlooks, zoneOf: { zoneResolver.zone(at: $0) }, zonePods: zonePods)
            let order = (preview.plan?.nodes.map(\.node) ?? []) + (preview.plan?.unplaced ?? [])
            let plannedStart = Dictionary(preview.plan?.nodes.map { ($0.node, $0.start) } ?? [], uniquingKeysWith: { a, _ in a })
            let decision = decideRollout(order: order, records: [:], plannedStart: plannedStart, open: true, paused: false, expired: false,
                                         maxUnavailable: nodes / 10, maxFailedNodes: 1, now: now, mayStartEarly: { _ in zones == 0 })
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            planned = preview.plan?.nodes.count ?? 0
            starts = decision.start.count
        }
        // Where the time goes: the pods' lookup by node alone, and the planner alone.
        var t = DispatchTime.now().uptimeNanoseconds
        var total = 0
        for n in nodeStore.list() { podStore.forEachInPlace(inIndex: PodIndex.node, n.name) { total += $0.pointee.cpuMillis > 0 ? 1 : 0 } }
        let lookup = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
        let toUpdate = nodeStore.list().map { NodeToUpdate(name: $0.name, predictedLoad: Double($0.name.count)) }
        t = DispatchTime.now().uptimeNanoseconds
        _ = planUpdate(toUpdate, order: .predictedLoad, spare: .flat(start: now, end: now.addingTimeInterval(8 * 3600), step: 60), perNode: 1920,
                       maxUnavailable: nodes / 10, end: now.addingTimeInterval(8 * 3600))
        let planner = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
        times.removeFirst()  // the first pass warms the allocator
        times.sort()
        print("UpdateWindow planning pass: \(nodes) nodes, \(pods) pods, \(zones) zone forecasts, maxUnavailable 10 %, 8 h window")
        print(String(format: "  median %.1f ms, max %.1f ms over %d passes; %d nodes placed, %d start now", times[times.count / 2], times.last!, times.count, planned, starts))
        print(String(format: "  caches (nodes + pods, indexed): %.1f MiB of heap; peak RSS %.0f MiB", Double(cacheBytes) / 1_048_576, Double(selfPeakRSSKiB()) / 1024))
        print(String(format: "  of which: pods by node %.1f ms (%d pods), the planner alone %.1f ms", lookup, total, planner))
        print("  machine: \(machineDescription())")
    }
}
