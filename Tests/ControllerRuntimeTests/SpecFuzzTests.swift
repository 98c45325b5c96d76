import Foundation
import Testing
@testable import ForesightAPI
import Reconcilers
import TestSupport

/// Mutated ZonePlans and UpdateWindows (lines dropped, repeated, cut or given odd values) are
/// either refused when decoded or validated into problems that name their fields; the status
/// written for them always explains itself. Never a crash.
@Suite struct SpecFuzzTests {
    /// Mutations of a shipped example that decode: how many, and how many the controller refused.
    /// Each refused one must have problems that name spec fields and a Ready condition that
    /// explains them.
    static func check<K: ValidatedResource>(example: String, as kind: K.Type, seed: UInt64) throws -> (decoded: Int, invalid: Int) {
        let text = try String(contentsOfFile: "\(SpecValidationTests.root)/examples/\(example)", encoding: .utf8)
        var decoded = 0, invalid = 0
        for yaml in TextMutations.of(text, seed: seed, count: 300) {
            guard let object = try? decode(yaml, as: K.self) else { continue }
            decoded += 1
            let problems = object.specProblems()
            #expect(problems.allSatisfy { $0.field.hasPrefix("spec") || $0.field.hasPrefix("metadata") })
            let conditions = invalidSpecConditions(for: object, now: Date(timeIntervalSince1970: 0))?.conditions ?? []
            #expect(problems.isEmpty == conditions.isEmpty, "a condition exactly when there are problems")
            if !problems.isEmpty {
                invalid += 1
                #expect(conditions["Ready"]?.reason == "InvalidSpec")
                #expect(conditions["Ready"]?.message.isEmpty == false)
            }
        }
        return (decoded, invalid)
    }

    @Test func mutatedZonePlansAreRefusedOrExplained() throws {
        let (decoded, invalid) = try Self.check(example: "zoneplan-shop.yaml", as: ZonePlan.self, seed: 1)
        #expect(decoded > 100 && invalid > 20, "decoded \(decoded), invalid \(invalid)")
    }

    @Test func mutatedUpdateWindowsAreRefusedOrExplained() throws {
        let (decoded, invalid) = try Self.check(example: "updatewindow-kernel.yaml", as: UpdateWindow.self, seed: 2)
        // The schema (enforced by the apiserver, not here) catches most bad values; the
        // cross-field checks still see some.
        #expect(decoded > 100 && invalid > 5, "decoded \(decoded), invalid \(invalid)")
    }
}
