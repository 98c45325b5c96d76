import Foundation
import Testing
@testable import KubernetesCore

@Suite struct WatchFramingTests {
    let added = #"{"type":"ADDED","object":{"metadata":{"name":"n1","resourceVersion":"5"},"spec":{"unschedulable":true}}}"#
    let bookmark = #"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"77"}}}"#
    let gone = #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (50)","reason":"Expired","code":410}}"#

    @Test func splitsChunksAtAnyByte() throws {
        let stream = Array((added + "\n" + bookmark + "\n" + gone + "\n").utf8)
        // Every split point, including inside multi-byte boundaries and right at newlines.
        for cut in 0...stream.count {
            var f = LineFramer()
            var lines = try f.push(stream[0..<cut])
            lines += try f.push(stream[cut...])
            #expect(lines.count == 3)
            #expect(f.finish() == nil)
        }
    }

    @Test func oneByteAtATimeAndJoinedLines() throws {
        var f = LineFramer()
        var lines: [[UInt8]] = []
        for b in Array((added + "\r\n" + added + "\n").utf8) { lines += try f.push([b]) }
        #expect(lines.count == 2)
        #expect(lines[0] == Array(added.utf8))
    }

    @Test func keepsUnterminatedTail() throws {
        var f = LineFramer()
        #expect(try f.push(Array("{\"type\":".utf8)).isEmpty)
        #expect(f.finish() == Array("{\"type\":".utf8))
    }

    @Test func rejectsRunawayLine() {
        var f = LineFramer(maxLineBytes: 8)
        #expect(throws: WatchStreamError.self) { try f.push(Array("0123456789".utf8)) }
    }

    @Test func decodesEventsOnce() throws {
        let d = WatchEventDecoder<Node>()
        guard case .added(let n) = try d.decode(Array(added.utf8)) else { Issue.record("not added"); return }
        #expect(n.name == "n1")
        #expect(n.isUnschedulable)
        guard case .bookmark(let rv) = try d.decode(Array(bookmark.utf8)) else { Issue.record("not bookmark"); return }
        #expect(rv == "77")
        guard case .error(let s) = try d.decode(Array(gone.utf8)) else { Issue.record("not error"); return }
        #expect(s.code == 410)
    }

    @Test func badEventsAreNamed() {
        let d = WatchEventDecoder<Node>()
        #expect(throws: WatchStreamError.unknownEventType("WHAT")) { try d.decode(Array(#"{"type":"WHAT","object":{}}"#.utf8)) }
        #expect(throws: WatchStreamError.self) { try d.decode(Array("{not json".utf8)) }
    }
}
