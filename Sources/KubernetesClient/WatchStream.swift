import Foundation
import HTTPTransport
import KubernetesCore

extension KubernetesClient {
    /// Opens one watch and yields its events as they arrive. The stream ends when the server
    /// closes the watch (its `timeoutSeconds` ran out); an ERROR event is yielded as `.error` and
    /// ends the stream; a broken connection throws. Each event is decoded once.
    ///
    /// - A 401 with a refreshable credential is retried once with a fresh one, as requests are.
    /// - A connection that delivers nothing for `stallSeconds` is taken as dead and throws (the
    ///   server sends bookmarks on a quiet watch that asked for them; nil waits for ever).
    /// - Pull-driven: events are read and decoded as the consumer asks for them, so a slow
    ///   consumer slows the transfer (the transport reads at most its buffer limit ahead) instead
    ///   of growing memory.
    public func watch<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, options: ListOptions, resource: APIResource? = nil,
                                             stallSeconds: Int? = nil) -> WatchEventStream<K> {
        WatchEventStream(client: self, request: RequestBuilder.watch(resource ?? K.resource, namespace: namespace, options: options), stallSeconds: stallSeconds)
    }
}

/// The events of one watch request; see `KubernetesClient.watch`.
public struct WatchEventStream<K: KubernetesResource>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<K>
    let client: KubernetesClient
    let request: APIRequest
    let stallSeconds: Int?

    public func makeAsyncIterator() -> Iterator { Iterator(stream: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let stream: WatchEventStream<K>
        var body: HTTPResponseStream.AsyncIterator?
        var framer = LineFramer()
        var pending: [WatchEvent<K>] = []
        var pendingIndex = 0
        var finished = false
        var refreshedCredentials = false
        let decoder = WatchEventDecoder<K>()
        let json = JSONDecoder()

        init(stream: WatchEventStream<K>) { self.stream = stream }

        public mutating func next() async throws -> WatchEvent<K>? {
            do { return try await nextEvent() } catch {
                finished = true
                body = nil  // drops the transfer
                switch error {
                case let e as HTTPTransportError: throw ClientError.transport(e)
                case let e as WatchStreamError: throw ClientError.watch(path: stream.request.path, detail: e.description)
                default: throw error
                }
            }
        }

        private mutating func nextEvent() async throws -> WatchEvent<K>? {
            let client = stream.client, request = stream.request
            while true {
                if pendingIndex < pending.count {
                    let event = pending[pendingIndex]
                    pendingIndex += 1
                    if case .error = event { finished = true; body = nil; pending = []; pendingIndex = 0 }
                    return event
                }
                pending = []
                pendingIndex = 0
                if finished { return nil }
                if body == nil {
                    var http = try await client.httpRequest(request, timeout: nil)
                    if let s = stream.stallSeconds { http.stallLimit = HTTPRequest.StallLimit(bytes: 1, seconds: s) }
                    var it = client.http.stream(http).makeAsyncIterator()
                    guard case .head(let status, let headers)? = try await it.next() else {
                        try Task.checkCancellation()
                        throw ClientError.watch(path: request.path, detail: "the connection closed before a response")
                    }
                    if !(200..<300).contains(status) {
                        var errorBody = Data()
                        while let part = try await it.next() { if case .body(let d) = part { errorBody.append(d) } }
                        if status == 401 && !refreshedCredentials && client.credentials.canRefresh {
                            refreshedCredentials = true
                            await client.statistics.countUnauthorized()
                            await client.credentials.invalidate()
                            continue
                        }
                        throw ClientError.api(APIError.from(method: "GET", path: request.pathAndQuery, statusCode: status, body: errorBody,
                                                            retryAfterHeader: headers["retry-after"]))
                    }
                    body = it
                }
                guard let part = try await body!.next() else {
                    finished = true
                    body = nil
                    if let rest = framer.finish() {
                        // A last line without its newline: decode it if whole, else the stream was cut.
                        guard let event = try? decoder.decode(rest, with: json) else {
                            throw ClientError.watch(path: request.path, detail: "stream ended inside an event (\(rest.count) bytes)")
                        }
                        return event
                    }
                    return nil
                }
                if case .body(let chunk) = part {
                    pending = try framer.push(chunk).map { try decoder.decode($0, with: json) }
                }
            }
        }
    }
}
