import ControllerRuntime
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// A Foresight resource whose spec can be checked beyond its schema.
public protocol ValidatedResource: KubernetesResource {
    var status: JSONValue? { get }
    func specProblems() -> [SpecProblem]
    /// What the controller can say about a valid spec in this version.
    static var acceptedMessage: String { get }
    /// Status fields of this kind besides conditions and observedGeneration.
    var extraStatus: [(String, JSONValue)] { get }
}

extension ValidatedResource {
    public var extraStatus: [(String, JSONValue)] { [] }

    /// The conditions the object's status holds now (none when it has no status yet).
    public var statusConditions: [Condition] {
        (try? status?["conditions"].map { try JSONDecoder().decode([Condition].self, from: $0.serialized()) }) ?? []
    }
}

extension ZonePlan: ValidatedResource {
    public func specProblems() -> [SpecProblem] { spec?.validate() ?? [SpecProblem("spec", "required")] }
    public static let acceptedMessage = "the spec is valid; this version of Foresight checks ZonePlans and reports on them but does not plan zones yet"
    public var extraStatus: [(String, JSONValue)] { [("zoneCount", .int(spec?.zones?.count ?? 0))] }
}

extension UpdateWindow: ValidatedResource {
    public func specProblems() -> [SpecProblem] { spec?.validate() ?? [SpecProblem("spec", "required")] }
    public static let acceptedMessage = "the spec is valid; this version of Foresight checks UpdateWindows and reports on them but does not run them yet"
}

/// The status a spec check leads to: `Ready=False/InvalidSpec` naming every field at fault, or
/// `Ready=Unknown/SpecAccepted` with what this version does with it. Pure, for tests.
public func specConditions<K: ValidatedResource>(for object: K, now: Date) -> (conditions: [Condition], problems: [SpecProblem]) {
    var conditions = object.statusConditions
    let problems = object.specProblems()
    let stamp = Timestamp.format(now)
    let generation = object.metadata.generation
    if problems.isEmpty {
        conditions.set(Condition(type: "Ready", status: "Unknown", observedGeneration: generation, lastTransitionTime: stamp,
                                 reason: "SpecAccepted", message: K.acceptedMessage))
    } else {
        conditions.set(Condition(type: "Ready", status: "False", observedGeneration: generation, lastTransitionTime: stamp,
                                 reason: "InvalidSpec", message: problems.map(\.description).joined(separator: "; ")))
    }
    return (conditions, problems)
}

/// Checks each object's spec and publishes the result in its status: `observedGeneration` and a
/// `Ready` condition; a Warning Event names the fields of an invalid spec. It never acts on a spec
/// it cannot accept, and never crashes on one.
public struct SpecStatusReconciler<K: ValidatedResource>: Sendable {
    public let client: KubernetesClient
    public let store: Store<K>
    public let events: EventRecorder
    let logger: Logger

    public init(client: KubernetesClient, store: Store<K>, events: EventRecorder, logger: Logger = Logger(label: "foresight.reconciler")) {
        self.client = client
        self.store = store
        self.events = events
        self.logger = logger
    }

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileAction {
        guard let object = store.get(key) else { return .awaitChange }  // deleted: nothing of ours to clean up
        let (conditions, problems) = specConditions(for: object, now: Date())
        let previous = object.statusConditions
        let observed = object.status?["observedGeneration"]?.intValue
        if previous == conditions && observed == object.metadata.generation { return .awaitChange }
        let encoded = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(conditions))
        var status: [(String, JSONValue)] = [("conditions", encoded)]
        if let g = object.metadata.generation { status.append(("observedGeneration", .int(g))) }
        status.append(contentsOf: object.extraStatus)
        try await client.patchStatus(K.self, name: key.name, status: .object(status))
        if !problems.isEmpty && previous["Ready"]?.message != conditions["Ready"]?.message {
            let ref = ObjectReference(apiVersion: K.resource.apiVersion, kind: K.resource.kind, name: key.name, uid: object.metadata.uid)
            await events.record(ref, .warning, reason: "InvalidSpec", message: problems.map(\.description).joined(separator: "; "))
        }
        logger.info("\(K.resource.kind) \(key): \(problems.isEmpty ? "spec accepted" : "invalid spec: \(problems.map(\.description).joined(separator: "; "))")")
        return .awaitChange
    }
}
