import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scripted HTTP/1.1 server on 127.0.0.1 for client tests: each request is answered by
/// `respond(method, path, body)`; a nil answer *stalls* the connection (it stays open, nothing is
/// sent), as a partitioned network would. Every request is recorded.
public final class FakeHTTPServer: @unchecked Sendable {
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        public init(status: Int, headers: [String: String] = [:], body: String = "{}") {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var requests: [(method: String, path: String, at: Date)] = []
    private let respond: @Sendable (String, String, String) -> Answer?
    private var stopped = false

    public init(respond: @escaping @Sendable (_ method: String, _ path: String, _ body: String) -> Answer?) throws {
        self.respond = respond
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 64)
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: actual.sin_port)
        let listener = fd
        Thread { [self] in
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { if lock.withLock({ stopped }) { return } else { continue } }
                Thread { self.serve(c) }.start()
            }
        }.start()
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Requests received so far: method, path (with query) and arrival time.
    public var received: [(method: String, path: String, at: Date)] { lock.withLock { requests } }

    public func stop() {
        lock.withLock { stopped = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func serve(_ c: Int32) {
        defer { close(c) }
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            // Read one request: head, then Content-Length bytes of body.
            while !containsHeadEnd(pending) {
                let n = read(c, &buffer, buffer.count)
                if n <= 0 { return }
                pending.append(contentsOf: buffer[0..<n])
            }
            let headEnd = headEndIndex(pending)!
            let head = String(decoding: pending[..<headEnd], as: UTF8.self)
            let lines = head.components(separatedBy: "\r\n")
            let first = lines[0].split(separator: " ")
            guard first.count >= 2 else { return }
            var length = 0
            for l in lines.dropFirst() where l.lowercased().hasPrefix("content-length:") {
                length = Int(l.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
            while pending.count < headEnd + 4 + length {
                let n = read(c, &buffer, buffer.count)
                if n <= 0 { return }
                pending.append(contentsOf: buffer[0..<n])
            }
            let body = String(decoding: pending[(headEnd + 4)..<(headEnd + 4 + length)], as: UTF8.self)
            pending.removeFirst(headEnd + 4 + length)
            let method = String(first[0]), path = String(first[1])
            lock.withLock { requests.append((method, path, Date())) }
            guard let answer = respond(method, path, body) else {
                // Stall: keep the connection open and silent until the client gives up.
                while read(c, &buffer, buffer.count) > 0 {}
                return
            }
            var text = "HTTP/1.1 \(answer.status) X\r\nContent-Type: application/json\r\nContent-Length: \(answer.body.utf8.count)\r\n"
            for (k, v) in answer.headers { text += "\(k): \(v)\r\n" }
            text += "\r\n" + answer.body
            let bytes = Array(text.utf8)
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(c, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
        }
    }

    private func headEndIndex(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }
    private func containsHeadEnd(_ b: [UInt8]) -> Bool { headEndIndex(b) != nil }
}
