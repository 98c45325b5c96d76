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
}

extension ValidatedResource {

    /// The conditions the object's status holds now (none when it has no status yet).
    public var statusConditions: [Condition] {
        (try? status?["conditions"].map { try JSONDecoder().decode([Condition].self, from: $0.serialized()) }) ?? []
    }
}

extension ZonePlan: ValidatedResource {
    public func specProblems() -> [SpecProblem] { spec?.validate() ?? [SpecProblem("spec", "required")] }
}

extension UpdateWindow: ValidatedResource {
    public func specProblems() -> [SpecProblem] { spec?.validate() ?? [SpecProblem("spec", "required")] }
}

/// The conditions of an object whose spec the controller cannot accept: `Ready=False/InvalidSpec`
/// naming every field at fault (the transition time kept while it stays so), or nil when the spec
/// is valid. Both reconcilers publish it and act on nothing else. Pure, for tests.
public func invalidSpecConditions<K: ValidatedResource>(for object: K, now: Date) -> (conditions: [Condition], problems: [SpecProblem])? {
    let problems = object.specProblems()
    guard !problems.isEmpty else { return nil }
    var conditions = object.statusConditions
    conditions.set("Ready", false, reason: "InvalidSpec", message: problems.map(\.description).joined(separator: "; "),
                   generation: object.metadata.generation, at: now)
    return (conditions, problems)
}

/// Patches `fields` into the object's status unless each already holds that value, compared
/// through `comparable` (which may leave out what alone is no reason to write). Returns whether it
/// wrote. Both reconcilers write status only through this, so nothing is written when nothing changed.
func writeStatusIfChanged<K: ValidatedResource>(_ object: K, _ fields: [(String, JSONValue)], client: KubernetesClient,
                                                 comparable: (JSONValue?) -> JSONValue? = { $0 }) async throws -> Bool {
    if let current = object.status, fields.allSatisfy({ comparable(current[$0.0]) == comparable($0.1) }) { return false }
    try await client.patchStatus(K.self, namespace: object.metadata.namespace, name: object.name, status: .object(fields))
    return true
}
