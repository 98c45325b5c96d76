import Foundation
import Testing
@testable import ForesightAPI
import KubernetesCore
import Reconcilers
import YAML

/// Decodes YAML (through the project's libyaml layer) into a typed resource, as the API server would hand it over.
func decode<T: Decodable>(_ yaml: String, as: T.Type) throws -> T {
    func json(_ n: YAMLNode) -> Any {
        switch n {
        case .scalar(let s, let plain, _):
            if plain { if let i = Int(s) { return i }; if let d = Double(s) { return d }; if s == "true" { return true }; if s == "false" { return false }; if n.isNull { return NSNull() } }
            return s
        case .sequence(let items, _): return items.map(json)
        case .mapping(let pairs, _): return Dictionary(pairs.map { ($0.key.string ?? "", json($0.value)) }, uniquingKeysWith: { _, last in last })
        }
    }
    let data = try JSONSerialization.data(withJSONObject: json(try YAMLParser.parse(yaml)))
    return try JSONDecoder().decode(T.self, from: data)
}

@Suite struct SpecValidationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func shippedExamplesAreValid() throws {
        let zp = try decode(try String(contentsOfFile: "\(Self.root)/examples/zoneplan-shop.yaml", encoding: .utf8), as: ZonePlan.self)
        #expect(zp.specProblems() == [])
        let uw = try decode(try String(contentsOfFile: "\(Self.root)/examples/updatewindow-kernel.yaml", encoding: .utf8), as: UpdateWindow.self)
        #expect(uw.specProblems() == [])
    }

    @Test func zonePlanProblemsNameTheirFields() throws {
        let zp = try decode("""
        metadata: {name: x, generation: 3}
        spec:
          forecast: {source: {}, step: 7m, seasonalities: [1d], holidays: [christmas]}
          zones:
          - {name: a, priority: 1, load: {perReplica: 5}, minReplicas: 9, maxReplicas: 3, buffer: "lots"}
          - {name: a, priority: 2, load: {perReplica: 0}}
          generalPurpose: {zone: nowhere}
          nodePools: [{name: p, minNodes: 5, maxNodes: 2, provisioningLeadTime: soon}]
        """, as: ZonePlan.self)
        let fields = zp.specProblems().map(\.field)
        #expect(fields.contains("spec.zones[0].minReplicas"))
        #expect(fields.contains("spec.zones[0].buffer"))
        #expect(fields.contains("spec.zones[1].name"))
        #expect(fields.contains("spec.zones[1].load.perReplica"))
        #expect(fields.contains("spec.generalPurpose.zone"))
        #expect(fields.contains("spec.nodePools[0].minNodes"))
        #expect(fields.contains("spec.nodePools[0].provisioningLeadTime"))
        #expect(fields.contains("spec.forecast.source"))
        #expect(fields.contains("spec.forecast.holidays[0]"))
        #expect(fields.contains("spec.forecast.seasonalities[0]"), "1d is not a multiple of 7m")

        let conditions = invalidSpecConditions(for: zp, now: Date(timeIntervalSince1970: 0))?.conditions ?? []
        #expect(conditions["Ready"]?.status == "False")
        #expect(conditions["Ready"]?.reason == "InvalidSpec")
        #expect(conditions["Ready"]?.observedGeneration == 3)
        #expect(conditions["Ready"]?.message.contains("spec.generalPurpose.zone: names no zone of this plan") == true)
    }

    /// `refitEvery` is a duration no shorter than the step (every step updates the forecast anyway).
    @Test func refitEveryIsADurationNoShorterThanTheStep() throws {
        func problems(_ forecast: String) throws -> [SpecProblem] {
            try decode("""
            metadata: {name: x}
            spec:
              forecast: {source: {configMap: {namespace: n, name: h}}, \(forecast)}
              zones: [{name: a, priority: 1, load: {perReplica: 5}}]
            """, as: ZonePlan.self).specProblems().filter { $0.field == "spec.forecast.refitEvery" }
        }
        #expect(try problems("step: 5m, refitEvery: 1d").isEmpty)
        #expect(try problems("refitEvery: 5m").isEmpty, "the default step is 5m")
        #expect(try problems("refitEvery: soon").count == 1)
        let short = try problems("step: 5m, refitEvery: 1m")
        #expect(short.count == 1 && short.first?.message.contains("shorter than the step 5m") == true, "\(short)")
    }

    @Test func updateWindowProblemsNameTheirFields() throws {
        let uw = try decode("""
        metadata: {name: w}
        spec:
          nodeSelector: {matchExpressions: [{key: pool, operator: In}]}
          schedule: {cron: "0 1 * *", timeZone: Mars/Olympus, duration: 4h}
          maxUnavailable: "0%"
          order: Given
          drain: {timeout: later}
        """, as: UpdateWindow.self)
        let fields = uw.specProblems().map(\.field)
        #expect(fields == ["spec.nodeSelector", "spec.schedule.cron", "spec.schedule.timeZone", "spec.maxUnavailable", "spec.nodes", "spec.drain.timeout"])
    }

    @Test func conditionKeepsTransitionTimeWhileStatusHolds() throws {
        var uw = try decode("""
        metadata: {name: w, generation: 1}
        spec: {nodeSelector: {}, schedule: {start: "2026-11-29T01:00:00Z", duration: 1h}, maxUnavailable: 0}
        """, as: UpdateWindow.self)
        #expect(invalidSpecConditions(for: UpdateWindow(metadata: uw.metadata, spec: { var s = uw.spec!; s.maxUnavailable = .int(1); return s }()), now: Date()) == nil,
                "a valid spec has no InvalidSpec condition")
        let first = invalidSpecConditions(for: uw, now: Date(timeIntervalSince1970: 100))!.conditions
        #expect(first["Ready"]?.reason == "InvalidSpec")
        uw.status = ["conditions": try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(first))]
        uw.metadata.generation = 2
        let second = invalidSpecConditions(for: uw, now: Date(timeIntervalSince1970: 999))!.conditions
        #expect(second["Ready"]?.lastTransitionTime == first["Ready"]?.lastTransitionTime)
        #expect(second["Ready"]?.observedGeneration == 2)
    }
}
