import Foundation
import Testing
@testable import KubernetesCore
import TestSupport

/// A watch stream with mutated events (bytes replaced, cut, doubled), fed in random chunks, yields
/// each line once and decodes every line to an event or a `WatchStreamError`: never a crash.
@Suite struct WatchFuzzTests {
    static let events = [
        #"{"type":"ADDED","object":{"metadata":{"name":"n1","resourceVersion":"5","labels":{"pool":"a"}},"spec":{"unschedulable":true}}}"#,
        #"{"type":"MODIFIED","object":{"metadata":{"name":"n1","resourceVersion":"6"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}}"#,
        #"{"type":"DELETED","object":{"metadata":{"name":"n1","resourceVersion":"7"}}}"#,
        #"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"77"}}}"#,
        #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old","reason":"Expired","code":410}}"#,
    ]

    @Test func mutatedStreamsInRandomChunksAreFramedAndDecodedOrRefused() throws {
        var random = SplitMix(seed: 410)
        var decoded = 0, refused = 0
        for _ in 0..<300 {
            // A stream of mutated lines; no mutation adds or removes a newline.
            var lines: [[UInt8]] = []
            for _ in 0..<(1 + random.next(6)) {
                var line = Array(Self.events[random.next(Self.events.count)].utf8)
                switch random.next(4) {
                case 0: line[random.next(line.count)] = UInt8(32 + random.next(95))  // a printable byte replaced
                case 1: line = Array(line.prefix(1 + random.next(line.count)))        // cut short
                case 2: line += line                                                    // two objects on one line
                default: break                                                          // intact
                }
                lines.append(line)
            }
            let stream: [UInt8] = lines.flatMap { (line: [UInt8]) -> [UInt8] in line + [0x0A] }
            var framer = LineFramer()
            var framed: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let size = 1 + random.next(64)
                framed += try framer.push(stream[offset..<min(stream.count, offset + size)])
                offset += size
            }
            #expect(framer.finish() == nil)
            #expect(framed == lines.filter { !$0.isEmpty }, "every line framed once, in order")
            for line in framed {
                do {
                    _ = try WatchEventDecoder<Node>().decode(line)
                    decoded += 1
                } catch is WatchStreamError {
                    refused += 1
                }
            }
        }
        #expect(decoded > 100 && refused > 100, "decoded \(decoded), refused \(refused)")
    }
}
