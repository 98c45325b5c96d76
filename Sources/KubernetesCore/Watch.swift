import Foundation

/// Splits a byte stream into lines. A chunk may end anywhere: mid-line, mid-character, or on
/// several lines at once. Lines are returned without their `\n` (and without a trailing `\r`).
public struct LineFramer: Sendable {
    private var buffer: [UInt8] = []
    private var scanFrom = 0
    public let maxLineBytes: Int

    public init(maxLineBytes: Int = 64 << 20) { self.maxLineBytes = maxLineBytes }

    /// Bytes held that do not yet form a whole line.
    public var pendingByteCount: Int { buffer.count }

    /// Feeds a chunk and returns the complete lines it finished.
    public mutating func push(_ chunk: some Collection<UInt8>) throws -> [[UInt8]] {
        buffer.append(contentsOf: chunk)
        var lines: [[UInt8]] = []
        var start = 0
        var i = scanFrom
        while i < buffer.count {
            if buffer[i] == 0x0A {
                var end = i
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                if end > start { lines.append(Array(buffer[start..<end])) }
                start = i + 1
            }
            i += 1
        }
        if start > 0 { buffer.removeFirst(start) }
        scanFrom = buffer.count
        if buffer.count > maxLineBytes { throw WatchStreamError.lineTooLong(buffer.count) }
        return lines
    }

    /// At end of stream: the unterminated last line, if any (a truncated stream).
    public mutating func finish() -> [UInt8]? {
        defer { buffer = []; scanFrom = 0 }
        return buffer.isEmpty ? nil : buffer
    }
}

public enum WatchStreamError: Error, CustomStringConvertible, Equatable {
    case lineTooLong(Int)
    case undecodableEvent(String)
    case unknownEventType(String)

    public var description: String {
        switch self {
        case .lineTooLong(let n): return "watch event line longer than the limit (\(n) bytes buffered)"
        case .undecodableEvent(let s): return "watch event could not be decoded: \(s)"
        case .unknownEventType(let t): return "unknown watch event type \(t)"
        }
    }
}

/// One event of a watch, decoded once into the typed object.
public enum WatchEvent<Object: Decodable & Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// Only the resourceVersion is meaningful; the stream is current up to it.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with a Status (410 Gone when the resourceVersion is too old).
    case error(Status)
}

/// Decodes watch lines (`{"type":"ADDED","object":{...}}`) into typed events, decoding each object once.
public struct WatchEventDecoder<Object: Decodable & Sendable>: Sendable {
    public init() {}

    /// Reads `type` first, then decodes `object` once, as what the type says it is.
    private struct Envelope: Decodable {
        var event: WatchEvent<Object>
        private struct BookmarkObject: Decodable { var metadata: ListMeta }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            let type = try c.decode(String.self, forKey: AnyKey("type"))
            let key = AnyKey("object")
            switch type {
            case "ADDED": event = .added(try c.decode(Object.self, forKey: key))
            case "MODIFIED": event = .modified(try c.decode(Object.self, forKey: key))
            case "DELETED": event = .deleted(try c.decode(Object.self, forKey: key))
            case "BOOKMARK":
                guard let rv = try c.decode(BookmarkObject.self, forKey: key).metadata.resourceVersion else {
                    throw WatchStreamError.undecodableEvent("BOOKMARK without metadata.resourceVersion")
                }
                event = .bookmark(resourceVersion: rv)
            case "ERROR": event = .error(try c.decode(Status.self, forKey: key))
            default: throw WatchStreamError.unknownEventType(type)
            }
        }
    }

    public func decode(_ line: [UInt8], with decoder: JSONDecoder = JSONDecoder()) throws -> WatchEvent<Object> {
        do {
            return try decoder.decode(Envelope.self, from: Data(line)).event
        } catch let error as WatchStreamError {
            throw error
        } catch {
            throw WatchStreamError.undecodableEvent("\(error) in \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
    }
}
