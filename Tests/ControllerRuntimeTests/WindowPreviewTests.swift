import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesCore
import Reconcilers
import Testing

@Suite struct WindowPreviewTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute

    func node(_ name: String, cpu: String = "8") throws -> Node {
        try JSONDecoder().decode(Node.self, from: Data("""
        {"metadata": {"name": "\(name)", "labels": {"pool": "p"}}, "status": {"allocatable": {"cpu": "\(cpu)"}}}
        """.utf8))
    }

    func spec(hours: Int) throws -> UpdateWindow.Spec {
        try JSONDecoder().decode(UpdateWindow.Spec.self, from: Data("""
        {"nodeSelector": {"matchLabels": {"pool": "p"}}, "schedule": {"start": "\(Timestamp.format(t0))", "duration": "\(hours)h"},
         "update": {"nodeTimeout": "25m"}, "verify": {"settle": "5m"}, "zonePlanRef": {"name": "shop"}}
        """.utf8))
    }

    /// Node `busy` holds most of zone `web`'s pods; `web`'s forecast is high for two hours, then
    /// drops to a trough. With the forecast the busy node goes in the trough; without it, first.
    @Test func theForecastPutsTheBusiestNodeInTheTrough() throws {
        var pods: [String: [CachedPod]] = ["busy": [], "idle": [], "other": []]
        for i in 0..<6 { pods["busy"]!.append(pod("web-\(i)", node: "busy", owner: ("ReplicaSet", "web-1", "u"))) }
        pods["idle"]!.append(pod("web-6", node: "idle", owner: ("ReplicaSet", "web-1", "u")))
        let nodes = try ["busy", "idle", "other"].map { try node($0) }
        let minute: Int64 = 60, start = Int64(t0.timeIntervalSince1970)
        let times = (0..<240).map { start + Int64($0) * minute }
        let needed = (0..<240).map { $0 < 120 ? 7.0 : 1.0 }
        let web = ZoneLoadOutlook(zone: "web", times: times, replicasNeeded: needed, cpuMillisPerReplica: 500, deployments: ["shop/web"])
        let withForecast = previewWindow(try spec(hours: 4), nodes: nodes, podsOn: { name, visit in for p in pods[name] ?? [] { withUnsafePointer(to: p) { visit($0) } } }, now: t0.addingTimeInterval(-60),
                                         zones: [web], zoneOf: { $0.pointee.ownerName == "web-1" ? 0 : nil }, zonePods: ["web": 7])
        let plan = try #require(withForecast.plan)
        let busy = try #require(plan.nodes.first { $0.node == "busy" })
        #expect(busy.start.timeIntervalSince(t0) >= 2 * 3600, "the busy node waits for the trough: \(busy.start.timeIntervalSince(t0) / 60) min")
        #expect(plan.fits && plan.wouldDip.isEmpty, "\(plan)")
        #expect(abs(busy.predictedLoad - 6.0 / 7.0 * 4 * 500) < 1, "its share of the zone's mean need: \(busy.predictedLoad)")

        let flat = previewWindow(try spec(hours: 4), nodes: nodes, podsOn: { name, visit in for p in pods[name] ?? [] { withUnsafePointer(to: p) { visit($0) } } }, now: t0.addingTimeInterval(-60))
        #expect(flat.plan?.nodes.first?.node == "busy" && flat.plan?.nodes.first?.start == t0, "by requests the busiest goes first")
    }

    @Test func podsAreResolvedToZonesOncePerOwner() {
        final class Count: @unchecked Sendable { var calls = 0 }
        let count = Count()
        let web = ZoneLoadOutlook(zone: "web", times: [0], replicasNeeded: [1], cpuMillisPerReplica: 1, deployments: ["shop/web"])
        var resolver = PodZoneResolver(zones: [web]) { pod in
            count.calls += 1
            return pod.ownerName == "web-1" ? "shop/web" : "shop/other"
        }
        let uid = UUID().uuidString.lowercased()
        for i in 0..<50 { #expect(resolver.zone(of: pod("w\(i)", node: "n", owner: ("ReplicaSet", "web-1", uid))) == 0) }
        #expect(resolver.zone(of: pod("o", node: "n", owner: ("ReplicaSet", "other-1", UUID().uuidString.lowercased()))) == nil)
        #expect(count.calls == 2, "one resolution per owner: \(count.calls)")
        var none = PodZoneResolver(zones: []) { _ in "shop/web" }
        #expect(none.zone(of: pod("x", node: "n")) == nil)
    }

    @Test func pastTheForecastTheZoneIsAssumedBusy() {
        let z = ZoneLoadOutlook(zone: "z", times: [0, 60, 120], replicasNeeded: [1, 5, 2], cpuMillisPerReplica: 100, deployments: [])
        #expect(z.needed(at: -10) == 1)
        #expect(z.needed(at: 61) == 5)
        #expect(z.needed(at: 150) == 2)
        #expect(z.needed(at: 500) == 5, "beyond the horizon: the largest value")
        #expect(ZoneLoadOutlook(zone: "e", times: [], replicasNeeded: [], cpuMillisPerReplica: 1, deployments: []).needed(at: 0) == nil)
    }
}
