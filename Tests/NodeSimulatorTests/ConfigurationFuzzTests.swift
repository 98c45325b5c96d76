import Foundation
import Testing
@testable import NodeSimulator
import TestSupport

/// Mutated fleet files (bytes replaced, lines cut, dropped, repeated or re-indented, text
/// truncated) are read or refused with an error that names the file: never a crash.
@Suite struct ConfigurationFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func mutatedFleetFilesAreReadOrRefusedWithTheirName() throws {
        let original = try String(contentsOfFile: "\(Self.root)/examples/simulated-fleet.yaml", encoding: .utf8)
        var random = SplitMix(seed: 20261128)
        var accepted = 0, refused = 0
        for _ in 0..<500 {
            var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<(1 + random.next(4)) {
                let i = random.next(lines.count)
                switch random.next(6) {
                case 0:
                    var bytes = Array(lines[i].utf8)
                    if !bytes.isEmpty { bytes[random.next(bytes.count)] = UInt8(random.next(128)) }
                    lines[i] = String(decoding: bytes, as: UTF8.self)
                case 1: lines[i] = String(lines[i].prefix(random.next(30)))
                case 2: lines.remove(at: i)
                case 3: lines.insert(lines[i], at: i)
                case 4: lines[i] = String(repeating: " ", count: random.next(6)) + lines[i].drop { $0 == " " }
                default: lines[i] += [": x", " [", " {a: 1", " - 3", " -1", " 1e999", " \"unterminated"][random.next(7)]
                }
                if lines.isEmpty { lines = [""] }
            }
            var text = lines.joined(separator: "\n")
            if random.next(4) == 0 { text = String(text.prefix(random.next(text.count + 1))) }
            do {
                let config = try SimulatorConfiguration(yaml: text, source: "fleet.yaml")
                #expect(config.groups.allSatisfy { $0.count >= 0 && !$0.namePrefix.isEmpty }, "a read fleet is usable")
                accepted += 1
            } catch let error as SimulatorConfigurationError {
                #expect(error.description.hasPrefix("fleet.yaml"), "\(error)")
                refused += 1
            } catch {
                Issue.record("unexpected error type \(type(of: error)): \(error)")
            }
        }
        #expect(accepted > 20 && refused > 100, "accepted \(accepted), refused \(refused)")
    }
}
