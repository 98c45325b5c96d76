import Foundation
import HTTPTransport
import KubernetesCore

extension KubernetesClient {
    /// Opens one watch and yields its events as they arrive. The stream ends when the server
    /// closes the watch (its `timeoutSeconds` ran out); an ERROR event is yielded as `.error` and
    /// ends the stream; a broken connection throws. Each event is decoded once.
    public func watch<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, options: ListOptions) -> AsyncThrowingStream<WatchEvent<K>, Error> {
        let request = RequestBuilder.watch(K.resource, namespace: namespace, options: options)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let http = try await self.httpRequest(request, timeout: nil)
                    var framer = LineFramer()
                    let decoder = WatchEventDecoder<K>()
                    let json = JSONDecoder()
                    var status = 0
                    var errorBody = Data()
                    for try await part in self.http.stream(http) {
                        switch part {
                        case .head(let s, _):
                            status = s
                        case .body(let chunk):
                            if !(200..<300).contains(status) { errorBody.append(chunk); continue }
                            for line in try framer.push(chunk) {
                                let event = try decoder.decode(line, with: json)
                                continuation.yield(event)
                                if case .error = event { continuation.finish(); return }
                            }
                        }
                    }
                    if !(200..<300).contains(status) {
                        throw ClientError.api(APIError.from(method: "GET", path: request.pathAndQuery, statusCode: status, body: errorBody, retryAfterHeader: nil))
                    }
                    if let rest = framer.finish() {
                        // A last line without its newline: decode it if whole, else the stream was cut.
                        if let event = try? decoder.decode(rest, with: json) { continuation.yield(event) } else {
                            throw ClientError.watch(path: request.path, detail: "stream ended inside an event (\(rest.count) bytes)")
                        }
                    }
                    continuation.finish()
                } catch let e as HTTPTransportError {
                    continuation.finish(throwing: ClientError.transport(e))
                } catch let e as WatchStreamError {
                    continuation.finish(throwing: ClientError.watch(path: request.path, detail: e.description))
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
