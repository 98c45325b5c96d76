import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server for `/metrics`, `/healthz` and `/readyz`: one short request per
/// connection, each connection on a thread of its own (at most `maxConnections` at once; more are
/// answered 503 at once), so a slow scraper never delays a kubelet probe. A client that hangs up
/// mid-answer is ignored (SIGPIPE is ignored process-wide, and writes use MSG_NOSIGNAL).
public final class HealthServer: @unchecked Sendable {
    public typealias Probe = @Sendable () -> (ok: Bool, detail: String)

    private let host: String
    private let port: UInt16
    private let metrics: @Sendable () -> String
    private let liveness: Probe
    private let readiness: Probe
    private let logger: Logger
    private var socketFD: Int32 = -1
    private let lock = NSLock()
    private var stopped = false
    private var connections = 0
    public let maxConnections = 16

    public init(address: String, metrics: @escaping @Sendable () -> String, liveness: @escaping Probe, readiness: @escaping Probe,
                logger: Logger = Logger(label: "foresight.health")) throws {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let p = UInt16(parts[1]) else { throw HealthServerError(message: "address \(address) must be HOST:PORT") }
        host = parts[0].isEmpty ? "0.0.0.0" : String(parts[0])
        port = p
        self.metrics = metrics
        self.liveness = liveness
        self.readiness = readiness
        self.logger = logger
    }

    /// The port actually bound (useful with port 0).
    public private(set) var boundPort: UInt16 = 0

    /// Binds and starts serving on a background thread.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HealthServerError(message: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw HealthServerError(message: "\(host) is not an IPv4 address") }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { let m = String(cString: strerror(errno)); close(fd); throw HealthServerError(message: "bind \(host):\(port): \(m)") }
        guard listen(fd, 64) == 0 else { close(fd); throw HealthServerError(message: "listen: \(String(cString: strerror(errno)))") }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        boundPort = UInt16(bigEndian: actual.sin_port)
        socketFD = fd
        let thread = Thread { [self] in acceptLoop(fd) }
        thread.start()
        logger.info("serving /metrics, /healthz and /readyz on \(host):\(boundPort)")
    }

    public func stop() {
        lock.lock()
        stopped = true
        let fd = socketFD
        socketFD = -1
        lock.unlock()
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                lock.lock(); let done = stopped; lock.unlock()
                if done { return }
                if errno == EINTR { continue }
                usleep(10_000)
                continue
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let admitted = lock.withLock { () -> Bool in
                guard connections < maxConnections else { return false }
                connections += 1
                return true
            }
            guard admitted else {
                respond(client, status: "503 Service Unavailable", type: "text/plain", body: "too many connections\n")
                close(client)
                continue
            }
            let thread = Thread { [self] in
                handle(client)
                close(client)
                lock.withLock { connections -= 1 }
            }
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    private func handle(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var request = [UInt8]()
        while request.count < 16384 {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            request.append(contentsOf: buffer[0..<n])
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
            if let text = String(bytes: request, encoding: .utf8), text.contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1].split(separator: "?").first ?? "") : ""
        let (status, type, body): (String, String, String)
        switch (parts.first ?? "", path) {
        case ("GET", "/metrics"):
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics())
        case ("GET", "/healthz"), ("GET", "/livez"):
            let r = liveness()
            (status, type, body) = (r.ok ? "200 OK" : "503 Service Unavailable", "text/plain", r.detail + "\n")
        case ("GET", "/readyz"):
            let r = readiness()
            (status, type, body) = (r.ok ? "200 OK" : "503 Service Unavailable", "text/plain", r.detail + "\n")
        case ("GET", _):
            (status, type, body) = ("404 Not Found", "text/plain", "not found: \(path)\n")
        default:
            (status, type, body) = ("405 Method Not Allowed", "text/plain", "only GET\n")
        }
        respond(fd, status: status, type: type, body: body)
    }

    private func respond(_ fd: Int32, status: String, type: String, body: String) {
        let payload = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let out = Array(head.utf8) + payload
        let total = out.count
        var sent = 0
        while sent < total {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress!.advanced(by: sent), total - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}

public struct HealthServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
