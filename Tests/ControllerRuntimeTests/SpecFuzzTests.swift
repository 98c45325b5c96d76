import Foundation
import Testing
@testable import ForesightAPI
import Reconcilers

/// Mutated ZonePlans and UpdateWindows (lines dropped, repeated, cut or given odd values) are
/// either refused when decoded or validated into problems that name their fields; the status
/// written for them always explains itself. Never a crash.
@Suite struct SpecFuzzTests {
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(max(bound, 1)))
        }
    }

    static func mutations(of text: String, seed: UInt64, count: Int) -> [String] {
        var random = Random(state: seed)
        let values = ["-1", "0", "1e9", "\"\"", "null", "[]", "{}", "x", "25h", "-5m", "2026-02-30", "999999999999999999999", "1.5", "\"0 0 * * *\"", "\"* * *\""]
        return (0..<count).map { _ in
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<(1 + random.next(3)) {
                let i = random.next(lines.count)
                switch random.next(4) {
                case 0: lines.remove(at: i)
                case 1: lines.insert(lines[i], at: i)
                case 2: lines[i] = String(lines[i].prefix(random.next(lines[i].count + 1)))
                default:
                    // Replace a value: everything after the first ": " on the line.
                    if let colon = lines[i].range(of: ": ") { lines[i] = String(lines[i][..<colon.upperBound]) + values[random.next(values.count)] }
                }
                if lines.isEmpty { lines = [""] }
            }
            return lines.joined(separator: "\n")
        }
    }

    @Test func mutatedZonePlansAreRefusedOrExplained() throws {
        let text = try String(contentsOfFile: "\(SpecValidationTests.root)/examples/zoneplan-shop.yaml", encoding: .utf8)
        var decoded = 0, invalid = 0
        for yaml in Self.mutations(of: text, seed: 1, count: 300) {
            guard let plan = try? decode(yaml, as: ZonePlan.self) else { continue }
            decoded += 1
            let problems = plan.specProblems()
            #expect(problems.allSatisfy { $0.field.hasPrefix("spec") || $0.field.hasPrefix("metadata") })
            let (conditions, _) = specConditions(for: plan, now: Date(timeIntervalSince1970: 0))
            if !problems.isEmpty {
                invalid += 1
                #expect(conditions["Ready"]?.reason == "InvalidSpec")
                #expect(conditions["Ready"]?.message.isEmpty == false)
            }
        }
        #expect(decoded > 100 && invalid > 20, "decoded \(decoded), invalid \(invalid)")
    }

    @Test func mutatedUpdateWindowsAreRefusedOrExplained() throws {
        let text = try String(contentsOfFile: "\(SpecValidationTests.root)/examples/updatewindow-kernel.yaml", encoding: .utf8)
        var decoded = 0, invalid = 0
        for yaml in Self.mutations(of: text, seed: 2, count: 300) {
            guard let window = try? decode(yaml, as: UpdateWindow.self) else { continue }
            decoded += 1
            let problems = window.specProblems()
            #expect(problems.allSatisfy { $0.field.hasPrefix("spec") || $0.field.hasPrefix("metadata") })
            let (conditions, _) = specConditions(for: window, now: Date(timeIntervalSince1970: 0))
            if !problems.isEmpty {
                invalid += 1
                #expect(conditions["Ready"]?.reason == "InvalidSpec")
            }
        }
        // The schema (enforced by the apiserver, not here) catches most bad values; the
        // cross-field checks still see some.
        #expect(decoded > 100 && invalid > 5, "decoded \(decoded), invalid \(invalid)")
    }
}
