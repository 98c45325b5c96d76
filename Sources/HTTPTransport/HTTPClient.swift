import CCurl
import Foundation

/// An HTTP request as the transport sends it: method, absolute URL, headers and an optional body.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// Total time allowed for the exchange; `nil` means no limit (watches).
    public var timeout: Duration?
    /// A transfer that receives fewer than `bytes` per second for `seconds` in a row is aborted as
    /// dead (a watch whose connection silently stopped): curl's low-speed limit.
    public var stallLimit: StallLimit?

    /// The least a live transfer receives: `bytes` within every `seconds`.
    public struct StallLimit: Sendable, Equatable {
        public var bytes: Int
        public var seconds: Int
        public init(bytes: Int, seconds: Int) {
            self.bytes = bytes
            self.seconds = seconds
        }
    }

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil, timeout: Duration? = .seconds(60),
                stallLimit: StallLimit? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.stallLimit = stallLimit
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body && a.timeout == b.timeout && a.stallLimit == b.stallLimit
            && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }
}

/// A complete response: status, headers (names lower-cased) and the whole body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// One piece of a streamed response: the head once, then body chunks as they arrive.
/// Chunks have no relation to message boundaries; framing is the reader's job.
public enum HTTPStreamPart: Sendable {
    case head(status: Int, headers: [String: String])
    case body(Data)
}

/// Where trust and client identity come from. Each item may be given as a file or inline PEM bytes.
public struct TLSConfiguration: Sendable, Equatable {
    public var certificateAuthorityFile: String?
    public var certificateAuthorityData: Data?
    public var clientCertificateFile: String?
    public var clientCertificateData: Data?
    public var clientKeyFile: String?
    public var clientKeyData: Data?
    /// Only ever true when a user asked for it explicitly (`insecure-skip-tls-verify: true`).
    public var insecureSkipVerify: Bool

    public init(certificateAuthorityFile: String? = nil, certificateAuthorityData: Data? = nil,
                clientCertificateFile: String? = nil, clientCertificateData: Data? = nil,
                clientKeyFile: String? = nil, clientKeyData: Data? = nil, insecureSkipVerify: Bool = false) {
        self.certificateAuthorityFile = certificateAuthorityFile
        self.certificateAuthorityData = certificateAuthorityData
        self.clientCertificateFile = clientCertificateFile
        self.clientCertificateData = clientCertificateData
        self.clientKeyFile = clientKeyFile
        self.clientKeyData = clientKeyData
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// A failure below HTTP: connection refused, TLS failure, timeout, aborted transfer.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public var code: Int
    public var message: String
    public var method: String
    public var url: String
    public var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }
    public var isCancelled: Bool { code == Int(CURLE_ABORTED_BY_CALLBACK.rawValue) }
    /// The connection failed or broke (refused, reset, a stream closed early): the same request
    /// may succeed on a new connection.
    public var isConnectionFailure: Bool {
        [CURLE_COULDNT_CONNECT, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM]
            .map { Int($0.rawValue) }.contains(code)
    }
    public var description: String { "\(method) \(url): \(message) (curl error \(code))" }
}

/// The one HTTP client of the project, over libcurl.
///
/// - TLS is verified unless the configuration says otherwise.
/// - Easy handles are pooled and reused, so connections (and HTTP/2 sessions) are kept alive.
/// - Every transfer runs on a thread of its own outside Swift's cooperative pool, so a long watch
///   never starves the async tasks of the process. At most `maxConcurrentRequests` requests are in
///   flight at once; more wait their turn (streams, which live for minutes, are not counted).
/// - Cancelling the calling task aborts its transfer within about a second (curl's progress
///   callback), whether it is waiting for its turn, connecting, or reading.
/// - A streamed response is read no faster than it is consumed: the transfer thread waits while
///   `streamBufferLimit` bytes are unread, so TCP flow control slows the server, and memory stays flat.
/// - Idle connections are probed with TCP keepalives (30 s idle, every 10 s), so a peer that
///   vanished is noticed even on a silent stream.
public final class HTTPClient: @unchecked Sendable {
    public let tls: TLSConfiguration
    public let connectTimeout: Duration
    public let maxConcurrentRequests: Int
    public let streamBufferLimit: Int
    private let lock = NSLock()
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private let maxIdleHandles = 8
    private let slots: TransferSlots

    public init(tls: TLSConfiguration = TLSConfiguration(), connectTimeout: Duration = .seconds(10),
                maxConcurrentRequests: Int = 32, streamBufferLimit: Int = 4 << 20) {
        HTTPClient.globalInit
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.maxConcurrentRequests = max(1, maxConcurrentRequests)
        self.streamBufferLimit = max(1 << 16, streamBufferLimit)
        self.slots = TransferSlots(count: max(1, maxConcurrentRequests))
    }

    /// Requests in flight now (for tests and metrics).
    public var requestsInFlight: Int { maxConcurrentRequests - slots.available }

    deinit {
        for h in idleHandles { curl_easy_cleanup(h) }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    /// Sends a request and returns the whole response. Non-2xx statuses are responses, not errors.
    /// Throws `CancellationError` when the calling task is cancelled before the answer is complete.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await slots.acquire()
        defer { slots.release() }
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponse, Error>) in
                let thread = Thread { [self] in
                    let sink = BufferingSink()
                    do {
                        try self.perform(request, sink: sink, cancelled: { cancelled.isSet })
                        cont.resume(returning: HTTPResponse(status: sink.status, headers: sink.headers, body: sink.body))
                    } catch let error as HTTPTransportError where error.isCancelled && cancelled.isSet {
                        cont.resume(throwing: CancellationError())
                    } catch {
                        cont.resume(throwing: error)
                    }
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Sends a request whose response is read as it arrives (a watch). The stream ends when the
    /// server closes the response; cancelling the consuming task (or dropping the stream) aborts
    /// the transfer. At most `streamBufferLimit` bytes are read ahead of the consumer.
    public func stream(_ request: HTTPRequest) -> HTTPResponseStream {
        let (stream, continuation) = AsyncThrowingStream<HTTPStreamPart, Error>.makeStream()
        let cancelled = CancelFlag()
        let gate = FlowGate(limit: streamBufferLimit)
        continuation.onTermination = { _ in cancelled.set(); gate.close() }
        let thread = Thread { [self] in
            let sink = StreamingSink(continuation: continuation, gate: gate)
            do {
                try self.perform(request, sink: sink, cancelled: { cancelled.isSet })
                continuation.finish()
            } catch let error as HTTPTransportError where error.isCancelled && cancelled.isSet {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
        return HTTPResponseStream(base: stream, gate: gate, lifetime: StreamLifetime { cancelled.set(); gate.close() })
    }

    // MARK: - libcurl

    private func checkout() -> UnsafeMutableRawPointer {
        lock.lock()
        defer { lock.unlock() }
        if let h = idleHandles.popLast() { return h }
        return curl_easy_init()
    }

    private func checkin(_ handle: UnsafeMutableRawPointer) {
        curl_easy_reset(handle)
        lock.lock()
        if idleHandles.count < maxIdleHandles {
            idleHandles.append(handle)
            lock.unlock()
        } else {
            lock.unlock()
            curl_easy_cleanup(handle)
        }
    }

    private func perform(_ request: HTTPRequest, sink: ResponseSink, cancelled: @escaping @Sendable () -> Bool) throws {
        let h = checkout()
        var reusable = false
        // A transfer that failed or was aborted leaves its connection in an unknown state (an
        // aborted HTTP/2 stream may not be reset): the handle and its connections are closed, so
        // the server sees the request end.
        defer { if reusable { checkin(h) } else { curl_easy_cleanup(h) } }
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        let context = TransferContext(sink: sink, cancelled: cancelled)
        let contextPointer = Unmanaged.passRetained(context).toOpaque()
        defer { Unmanaged<TransferContext>.fromOpaque(contextPointer).release() }

        fs_curl_setopt_string(h, CURLOPT_URL, request.url)
        fs_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        fs_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        fs_curl_setopt_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        fs_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, connectTimeout.milliseconds)
        fs_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        fs_curl_setopt_long(h, CURLOPT_TCP_KEEPIDLE, 30)
        fs_curl_setopt_long(h, CURLOPT_TCP_KEEPINTVL, 10)
        if let timeout = request.timeout { fs_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, timeout.milliseconds) }
        if let stall = request.stallLimit {
            fs_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, stall.bytes)
            fs_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, stall.seconds)
        }
        fs_curl_setopt_string(h, CURLOPT_ACCEPT_ENCODING, "")  // accept whatever libcurl can decode

        switch request.method {
        case "GET": fs_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
        case "HEAD": fs_curl_setopt_long(h, CURLOPT_NOBODY, 1)
        default: fs_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            context.requestBody = body
            fs_curl_setopt_long(h, CURLOPT_UPLOAD, 0)
            fs_curl_setopt_long(h, CURLOPT_POST, 1)
            if request.method != "POST" { fs_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method) }
            fs_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            fs_curl_setopt_read_function(h, readCallback)
            fs_curl_setopt_pointer(h, CURLOPT_READDATA, contextPointer)
            // POSTFIELDS = nil with a read function makes libcurl read the body from the callback.
            fs_curl_setopt_pointer(h, CURLOPT_POSTFIELDS, nil)
        }
        var hasExpect = false
        for header in request.headers {
            if header.name.lowercased() == "expect" { hasExpect = true }
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        if !hasExpect { headerList = curl_slist_append(headerList, "Expect:") }
        fs_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList)

        try applyTLS(h)

        fs_curl_setopt_write_function(h, writeCallback)
        fs_curl_setopt_pointer(h, CURLOPT_WRITEDATA, contextPointer)
        fs_curl_setopt_header_function(h, headerCallback)
        fs_curl_setopt_pointer(h, CURLOPT_HEADERDATA, contextPointer)
        fs_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
        fs_curl_setopt_xferinfo_function(h, progressCallback)
        fs_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, contextPointer)

        let code = curl_easy_perform(h)
        if code != CURLE_OK {
            var message = String(cString: errorBuffer)
            if message.isEmpty { message = String(cString: curl_easy_strerror(code)) }
            throw HTTPTransportError(code: Int(code.rawValue), message: message, method: request.method, url: request.url)
        }
        reusable = true
        var status: Int = 0
        fs_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        context.deliverHeadIfNeeded(status: status)
    }

    private func applyTLS(_ h: UnsafeMutableRawPointer) throws {
        if tls.insecureSkipVerify {
            fs_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 0)
            fs_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 0)
        } else {
            fs_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1)
            fs_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2)
        }
        if let file = tls.certificateAuthorityFile { fs_curl_setopt_string(h, CURLOPT_CAINFO, file) }
        if var data = tls.certificateAuthorityData {
            data.withUnsafeMutableBytes { fs_curl_setopt_blob(h, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
        }
        if let file = tls.clientCertificateFile { fs_curl_setopt_string(h, CURLOPT_SSLCERT, file) }
        if var data = tls.clientCertificateData {
            data.withUnsafeMutableBytes { fs_curl_setopt_blob(h, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }
        }
        if tls.clientCertificateFile != nil || tls.clientCertificateData != nil {
            fs_curl_setopt_string(h, CURLOPT_SSLCERTTYPE, "PEM")
        }
        if let file = tls.clientKeyFile { fs_curl_setopt_string(h, CURLOPT_SSLKEY, file) }
        if var data = tls.clientKeyData {
            data.withUnsafeMutableBytes { fs_curl_setopt_blob(h, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }
        }
    }
}

extension Duration {
    var milliseconds: Int {
        let (s, atto) = components
        return Int(s) * 1000 + Int(atto / 1_000_000_000_000_000)
    }
}

// MARK: - transfer plumbing

final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

protocol ResponseSink: AnyObject {
    func head(status: Int, headers: [String: String])
    func body(_ data: Data)
}

final class BufferingSink: ResponseSink {
    var status = 0
    var headers: [String: String] = [:]
    var body = Data()
    func head(status: Int, headers: [String: String]) { self.status = status; self.headers = headers }
    func body(_ data: Data) { body.append(data) }
}

final class StreamingSink: ResponseSink {
    let continuation: AsyncThrowingStream<HTTPStreamPart, Error>.Continuation
    let gate: FlowGate
    init(continuation: AsyncThrowingStream<HTTPStreamPart, Error>.Continuation, gate: FlowGate) {
        self.continuation = continuation
        self.gate = gate
    }
    func head(status: Int, headers: [String: String]) { continuation.yield(.head(status: status, headers: headers)) }
    func body(_ data: Data) {
        gate.admit(data.count)  // waits (on the transfer's own thread) while the consumer is behind
        continuation.yield(.body(data))
    }
}

/// A streamed response, read as it arrives; each body chunk handed out frees its room in the
/// read-ahead buffer.
/// The transfer is aborted when the last copy of the stream and its iterators is gone, so a
/// consumer that stops reading without cancelling its task does not leave a transfer running.
public struct HTTPResponseStream: AsyncSequence, Sendable {
    public typealias Element = HTTPStreamPart
    let base: AsyncThrowingStream<HTTPStreamPart, Error>
    let gate: FlowGate
    let lifetime: StreamLifetime

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<HTTPStreamPart, Error>.AsyncIterator
        let gate: FlowGate
        let lifetime: StreamLifetime
        public mutating func next() async throws -> HTTPStreamPart? {
            let part = try await base.next()
            if case .body(let d)? = part { gate.release(d.count) }
            return part
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), gate: gate, lifetime: lifetime) }

    /// Bytes received and not yet handed to the consumer.
    public var bufferedBytes: Int { gate.buffered }
}

/// Runs `end` when the last reference goes.
final class StreamLifetime: @unchecked Sendable {
    private let end: @Sendable () -> Void
    init(_ end: @escaping @Sendable () -> Void) { self.end = end }
    deinit { end() }
}

/// Bounds the bytes a stream reads ahead of its consumer: the producer waits in `admit` while
/// `limit` bytes are unread (or until the stream is closed).
final class FlowGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var unread = 0
    private var closed = false
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func admit(_ n: Int) {
        condition.lock()
        while unread >= limit && !closed { condition.wait() }
        unread += n
        condition.unlock()
    }

    func release(_ n: Int) {
        condition.lock()
        unread -= n
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var buffered: Int { condition.lock(); defer { condition.unlock() }; return unread }
}

/// A counting semaphore for async callers: at most `count` holders; waiters are served first come,
/// first served; a waiter whose task is cancelled leaves the line with `CancellationError`.
final class TransferSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var free: Int
    private var nextID: UInt64 = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []

    init(count: Int) { free = count }

    var available: Int { lock.lock(); defer { lock.unlock() }; return free }

    /// Takes a slot at once if one is free and nobody waits; else returns the waiter id to use.
    private func tryTake() -> UInt64? {
        lock.withLock {
            if free > 0 && waiters.isEmpty { free -= 1; return nil }
            nextID += 1
            return nextID
        }
    }

    func acquire() async throws {
        guard let id = tryTake() else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                lock.lock()
                if Task.isCancelled { lock.unlock(); c.resume(throwing: CancellationError()); return }
                if free > 0 && waiters.isEmpty { free -= 1; lock.unlock(); c.resume(); return }
                waiters.append((id, c))
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let index = waiters.firstIndex { $0.id == id }
            let waiter = index.map { waiters.remove(at: $0) }
            lock.unlock()
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    func release() {
        lock.lock()
        if waiters.isEmpty {
            free += 1
            lock.unlock()
        } else {
            let next = waiters.removeFirst()
            lock.unlock()
            next.continuation.resume()
        }
    }
}

final class TransferContext {
    let sink: ResponseSink
    let cancelled: @Sendable () -> Bool
    var requestBody = Data()
    var readOffset = 0
    var status = 0
    var headers: [String: String] = [:]
    var headDelivered = false

    init(sink: ResponseSink, cancelled: @escaping @Sendable () -> Bool) {
        self.sink = sink
        self.cancelled = cancelled
    }

    func deliverHeadIfNeeded(status fallback: Int) {
        guard !headDelivered else { return }
        headDelivered = true
        sink.head(status: status != 0 ? status : fallback, headers: headers)
    }

    func headerLine(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            // The end of a header block: a final status (not 1xx, not a redirect followed) is the head.
            if status >= 200 && !(300..<400).contains(status) { deliverHeadIfNeeded(status: status) }
            return
        }
        if trimmed.hasPrefix("HTTP/") {
            // A new status line (after 100-continue or a redirect) starts a new head.
            headers = [:]
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        } else if let colon = trimmed.firstIndex(of: ":") {
            let name = trimmed[..<colon].lowercased()
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = value
        }
    }
}

private let writeCallback: fs_curl_data_callback = { ptr, size, nmemb, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let count = size * nmemb
    if context.cancelled() { return 0 }
    context.deliverHeadIfNeeded(status: 0)
    if count > 0, let ptr { context.sink.body(Data(bytes: ptr, count: count)) }
    return count
}

private let headerCallback: fs_curl_data_callback = { ptr, size, nmemb, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let count = size * nmemb
    if let ptr, count > 0 {
        let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
        context.headerLine(line)
    }
    return count
}

private let readCallback: fs_curl_data_callback = { ptr, size, nmemb, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let room = size * nmemb
    let remaining = context.requestBody.count - context.readOffset
    let n = min(room, remaining)
    guard n > 0, let ptr else { return 0 }
    context.requestBody.withUnsafeBytes { raw in
        let src = raw.baseAddress!.advanced(by: context.readOffset)
        UnsafeMutableRawPointer(ptr).copyMemory(from: src, byteCount: n)
    }
    context.readOffset += n
    return n
}

private let progressCallback: fs_curl_xfer_callback = { userdata, _, _, _, _ in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    return context.cancelled() ? 1 : 0
}
