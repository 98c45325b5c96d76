import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
import Logging
import UpdatePlanning

/// Reports an UpdateWindow's schedule and plan in its status: the window open now or next
/// (`windowStart`, `windowEnd`), the phase, and `plan` (node, slot, predicted load, ETA) with
/// conditions saying whether it fits the window and keeps capacity. This version plans and reports;
/// it does not cordon, drain or update nodes (`Ready=False`, reason `PlanOnly`, says so). Writes
/// only when the status changes.
public struct UpdateWindowReconciler: Sendable {
    public let client: KubernetesClient
    public let windows: Store<UpdateWindow>
    public let nodes: Store<Node>
    public let pods: Store<CachedPod>
    public let events: EventRecorder
    public var clock: @Sendable () -> Date = { Date() }

    public init(client: KubernetesClient, windows: Store<UpdateWindow>, nodes: Store<Node>, pods: Store<CachedPod>, events: EventRecorder) {
        self.client = client
        self.windows = windows
        self.nodes = nodes
        self.pods = pods
        self.events = events
    }

    public static let planOnlyMessage = "this version plans update windows and reports the plan; it does not cordon, drain or update nodes"

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileAction {
        guard let window = windows.get(key), let spec = window.spec else { return .awaitChange }
        let now = clock()
        var conditions = window.statusConditions
        let generation = window.metadata.generation
        func condition(_ type: String, _ status: Bool?, _ reason: String, _ message: String) {
            conditions.set(type, status, reason: reason, message: message, generation: generation, at: now)
        }
        var status: [(String, JSONValue)] = [("observedGeneration", generation.map(JSONValue.int) ?? .null)]
        let ref = ObjectReference(apiVersion: UpdateWindow.resource.apiVersion, kind: "UpdateWindow", name: window.name, uid: window.metadata.uid)
        if let (invalid, problems) = invalidSpecConditions(for: window, now: now) {
            status.append(("conditions", try JSONValue(encoding: invalid)))
            if try await writeStatusIfChanged(window, status, client: client) {
                await events.record(ref, .warning, reason: "InvalidSpec", message: problems.map(\.description).joined(separator: "; "))
            }
            return .awaitChange
        }
        let preview = previewWindow(spec, nodes: nodes.list(), podsOn: { pods.byIndex(PodIndex.node, $0) }, now: now)
        status.append(("phase", .string(preview.phase)))
        status.append(("progress", .string("0/\(preview.nodeCount)")))
        if let w = preview.window {
            status.append(("windowStart", .string(Timestamp.format(w.start))))
            status.append(("windowEnd", .string(Timestamp.format(w.end))))
        }
        if let plan = preview.plan {
            status.append(("plan", .array(plan.nodes.map { p in
                .object([("node", .string(p.node)), ("slot", .int(p.slot)), ("predictedLoad", .double((p.predictedLoad * 1000).rounded() / 1000)),
                         ("eta", .string(Timestamp.format(p.eta)))])
            })))
            condition("PlanFits", plan.fits, plan.fits ? "Fits" : "DoesNotFit",
                      plan.fits ? "\(plan.nodes.count) nodes fit the window" : "\(plan.unplaced.count) nodes do not fit before \(Timestamp.format(preview.window!.end)): \(plan.unplaced.joined(separator: ", "))")
            condition("CapacityHeld", plan.wouldDip.isEmpty, plan.wouldDip.isEmpty ? "Held" : "WouldDip",
                      plan.wouldDip.isEmpty ? "the other nodes can hold each node's pods while it is out"
                        : "the other nodes cannot hold the pods of \(plan.wouldDip.joined(separator: ", ")) while it is out (pod CPU requests against allocatable)")
        }
        condition("Ready", false, "PlanOnly", preview.problem ?? Self.planOnlyMessage)
        status.append(("conditions", try JSONValue(encoding: conditions)))
        _ = try await writeStatusIfChanged(window, status, client: client)
        // Look again when the window opens or closes, and at least every five minutes.
        let nextEdge = [preview.window?.start, preview.window?.end].compactMap { $0 }.filter { $0 > now }.min()
        return .requeue(after: min(300, max(1, nextEdge.map { $0.timeIntervalSince(now) + 1 } ?? 300)))
    }
}
