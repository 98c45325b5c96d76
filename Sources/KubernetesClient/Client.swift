import Foundation
import HTTPTransport
import KubernetesCore
import Logging

/// A failure talking to the API server, with the step that failed and its cause.
public enum ClientError: Error, CustomStringConvertible, Sendable {
    /// The server answered with an error status.
    case api(APIError)
    /// The request never got an HTTP answer.
    case transport(HTTPTransportError)
    /// Credentials could not be obtained.
    case credentials(CredentialError)
    /// The answer could not be decoded as the expected type.
    case decoding(method: String, path: String, type: String, detail: String)
    /// A watch stream broke in a way that is not a clean end.
    case watch(path: String, detail: String)

    public var description: String {
        switch self {
        case .api(let e): return e.description
        case .transport(let e): return e.description
        case .credentials(let e): return e.description
        case .decoding(let m, let p, let t, let d): return "\(m) \(p): response is not a valid \(t): \(d)"
        case .watch(let p, let d): return "watch \(p): \(d)"
        }
    }

    /// The server's error, when this is one.
    public var apiError: APIError? { if case .api(let e) = self { return e }; return nil }
}

extension Error {
    /// The API server's error status if this error carries one.
    public var kubernetesAPIError: APIError? {
        (self as? ClientError)?.apiError ?? (self as? APIError)
    }
}

/// The typed Kubernetes client: every verb the project uses, over the libcurl transport.
///
/// Requests are built by `RequestBuilder` (pure), sent by `HTTPClient`, and answered either with a
/// decoded value or a `ClientError` that keeps the server's `Status`.
public final class KubernetesClient: Sendable {
    public let connection: ClusterConnection
    public let http: HTTPClient
    public let credentials: CredentialProvider
    public let userAgent: String
    /// How failed requests are retried unless a call says otherwise.
    public let retryPolicy: RetryPolicy
    /// What this client has counted: 401s answered, retries made.
    public let statistics = ClientStatistics()
    let logger: Logger
    private let discoveryCache = DiscoveryCache()
    /// Kinds to resources, versions and scopes, from the server's discovery documents.
    public let restMapper: RESTMapper

    public init(connection: ClusterConnection, userAgent: String = "foresight", retryPolicy: RetryPolicy = RetryPolicy(),
                maxConcurrentRequests: Int = 32, logger: Logger = Logger(label: "foresight.client")) {
        self.connection = connection
        self.http = HTTPClient(tls: connection.tls, maxConcurrentRequests: maxConcurrentRequests)
        self.credentials = CredentialProvider(credentials: connection.credentials, server: connection.server)
        self.userAgent = userAgent
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.restMapper = RESTMapper()
    }

    /// Loads a connection as kubectl does and builds a client for it.
    public convenience init(kubeconfig: String? = nil, context: String? = nil, userAgent: String = "foresight") throws {
        self.init(connection: try KubeConfigLoader.load(explicitPath: kubeconfig, context: context), userAgent: userAgent)
    }

    // MARK: raw

    func httpRequest(_ request: APIRequest, timeout: Duration?) async throws -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Accept", request.accept ?? "application/json"), ("User-Agent", userAgent)]
        if let ct = request.contentType { headers.append(("Content-Type", ct)) }
        do {
            if let auth = try await credentials.authorizationHeader() { headers.append(("Authorization", auth)) }
        } catch let e as CredentialError {
            throw ClientError.credentials(e)
        }
        return HTTPRequest(method: request.method, url: connection.server + request.pathAndQuery, headers: headers, body: request.body, timeout: timeout)
    }

    /// Sends a request; a 2xx answer returns the body, anything else throws `ClientError.api`.
    ///
    /// - A 401 with a refreshable credential (token file, exec plugin) is retried once with a fresh one.
    /// - A broken connection (reset, HTTP/2 stream closed early) is retried twice for every verb but
    ///   POST, whose effect cannot be known; the others are idempotent or guarded by resourceVersion.
    /// - 429 with Retry-After, and 5xx on idempotent requests, follow `retry` (see `RetryPolicy`).
    /// - Cancelling the calling task aborts the transfer and throws `CancellationError`.
    public func send(_ request: APIRequest, timeout: Duration? = .seconds(60), retry: RetryPolicy? = nil) async throws -> Data {
        let policy = retry ?? retryPolicy
        var refreshedCredentials = false
        var connectionRetries = 0
        var attempt = 0
        while true {
            try Task.checkCancellation()
            attempt += 1
            await statistics.countRequest(request.method)
            let response: HTTPResponse
            do { response = try await http.send(try await httpRequest(request, timeout: timeout)) } catch let e as HTTPTransportError {
                if e.isConnectionFailure && request.method != "POST" && connectionRetries < 2 && !Task.isCancelled {
                    connectionRetries += 1
                    logger.debug("\(request.method) \(request.path): \(e.message); retrying on a new connection")
                    try await Task.sleep(for: .milliseconds(100 * connectionRetries))
                    continue
                }
                throw ClientError.transport(e)
            }
            if (200..<300).contains(response.status) { return response.body }
            if response.status == 401 && !refreshedCredentials && credentials.canRefresh {
                refreshedCredentials = true
                await statistics.countUnauthorized()
                await credentials.invalidate()
                continue
            }
            let error = APIError.from(method: request.method, path: request.pathAndQuery, statusCode: response.status,
                                      body: response.body, retryAfterHeader: response.headers["retry-after"])
            let retryAfter = error.retryAfter.map { Double($0.components.seconds) }
            if let delay = policy.delay(afterAttempt: attempt, method: request.method, contentType: request.contentType,
                                        statusCode: response.status, retryAfterSeconds: retryAfter) {
                await statistics.countRetry(status: response.status)
                logger.debug("\(request.method) \(request.path): \(response.status); retrying in \(delay) s")
                try await Task.sleep(for: .seconds(delay))
                continue
            }
            throw ClientError.api(error)
        }
    }

    /// Sends a request and decodes the answer.
    public func send<T: Decodable>(_ request: APIRequest, as type: T.Type, timeout: Duration? = .seconds(60), retry: RetryPolicy? = nil) async throws -> T {
        let body = try await send(request, timeout: timeout, retry: retry)
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw ClientError.decoding(method: request.method, path: request.path, type: String(describing: T.self), detail: "\(error)")
        }
    }

    // MARK: typed verbs

    /// Reads one object. `resource` overrides `K.resource` (a version found by discovery).
    public func get<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, resource: APIResource? = nil,
                                           timeout: Duration? = .seconds(60)) async throws -> K {
        try await send(RequestBuilder.get(resource ?? K.resource, namespace: namespace, name: name), as: K.self, timeout: timeout)
    }

    /// An object's metadata only (the apiserver sends a `PartialObjectMetadata`): to learn whether a
    /// large object changed (its resourceVersion) without transferring it. Nil when it does not exist.
    public func getMetadataIfExists(_ resource: APIResource, namespace: String? = nil, name: String) async throws -> ObjectMeta? {
        struct Partial: Decodable { var metadata: ObjectMeta }
        var request = RequestBuilder.get(resource, namespace: namespace, name: name)
        request.accept = APIRequest.partialObjectMetadata
        do { return try await send(request, as: Partial.self).metadata } catch let e as ClientError where e.apiError?.isNotFound == true {
            return nil
        }
    }

    /// Like `get`, but nil when the object does not exist.
    public func getIfExists<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, resource: APIResource? = nil,
                                                   timeout: Duration? = .seconds(60)) async throws -> K? {
        do { return try await get(type, namespace: namespace, name: name, resource: resource, timeout: timeout) } catch let e as ClientError where e.apiError?.isNotFound == true {
            return nil
        }
    }

    /// One page of a list.
    public func list<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, options: ListOptions = ListOptions(), resource: APIResource? = nil) async throws -> ObjectList<K> {
        try await send(RequestBuilder.list(resource ?? K.resource, namespace: namespace, options: options), as: ObjectList<K>.self)
    }

    /// Every page of a list, `pageSize` at a time, with the resourceVersion to watch from.
    public func listAll<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, options: ListOptions = ListOptions(), pageSize: Int = 500,
                                               resource: APIResource? = nil) async throws -> ObjectList<K> {
        var opts = options
        opts.limit = pageSize
        var items: [K] = []
        var meta = ListMeta()
        repeat {
            let page = try await list(type, namespace: namespace, options: opts, resource: resource)
            items.append(contentsOf: page.items)
            meta = page.metadata
            opts.continue = page.metadata.continue
        } while !(opts.continue ?? "").isEmpty
        meta.continue = nil
        return ObjectList(metadata: meta, items: items)
    }

    /// Creates an object from a JSON body and returns what the server stored.
    @discardableResult
    public func create<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, body: JSONValue, options: WriteOptions = WriteOptions(),
                                              timeout: Duration? = .seconds(60)) async throws -> K {
        try await send(RequestBuilder.create(K.resource, namespace: namespace, body: body.serialized(), options: options), as: K.self, timeout: timeout)
    }

    /// Patches an object (merge, JSON patch, strategic merge) and returns the result.
    @discardableResult
    public func patch<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, subresource: String? = nil,
                                             type patchType: PatchType = .merge, body: JSONValue, options: WriteOptions = WriteOptions(),
                                             resource: APIResource? = nil) async throws -> K {
        try await send(RequestBuilder.patch(resource ?? K.resource, namespace: namespace, name: name, subresource: subresource, type: patchType, body: body.serialized(), options: options), as: K.self)
    }

    /// Server-side apply of `body` (a full intent) as `fieldManager`.
    @discardableResult
    public func apply<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, subresource: String? = nil,
                                             body: JSONValue, fieldManager: String, force: Bool = true) async throws -> K {
        try await send(RequestBuilder.apply(K.resource, namespace: namespace, name: name, subresource: subresource, body: body.serialized(), fieldManager: fieldManager, force: force), as: K.self)
    }

    /// Replaces an object (PUT); the body must carry the resourceVersion it was read at, so a stale write gets 409.
    @discardableResult
    public func replace<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, subresource: String? = nil, body: JSONValue,
                                               timeout: Duration? = .seconds(60)) async throws -> K {
        try await send(RequestBuilder.replace(K.resource, namespace: namespace, name: name, subresource: subresource, body: body.serialized()), as: K.self, timeout: timeout)
    }

    /// Deletes an object. NotFound is an error here; callers that do not care use `deleteIfExists`.
    public func delete(_ resource: APIResource, namespace: String? = nil, name: String, options: DeleteOptions = DeleteOptions()) async throws {
        _ = try await send(RequestBuilder.delete(resource, namespace: namespace, name: name, options: options))
    }

    /// Deletes an object; true if it was there.
    @discardableResult
    public func deleteIfExists(_ resource: APIResource, namespace: String? = nil, name: String, options: DeleteOptions = DeleteOptions()) async throws -> Bool {
        do { try await delete(resource, namespace: namespace, name: name, options: options); return true } catch let e as ClientError where e.apiError?.isNotFound == true {
            return false
        }
    }

    // MARK: subresources

    /// Reads the `scale` subresource of any scalable kind.
    public func getScale(_ resource: APIResource, namespace: String?, name: String) async throws -> Scale {
        try await send(RequestBuilder.get(resource, namespace: namespace, name: name, subresource: "scale"), as: Scale.self)
    }

    /// Writes `spec.replicas` through the `scale` subresource (a merge patch of that one field).
    @discardableResult
    public func setScale(_ resource: APIResource, namespace: String?, name: String, replicas: Int) async throws -> Scale {
        let body: JSONValue = ["spec": ["replicas": .int(replicas)]]
        return try await send(RequestBuilder.patch(resource, namespace: namespace, name: name, subresource: "scale", type: .merge, body: body.serialized()), as: Scale.self)
    }

    /// Patches the `status` subresource with a merge patch.
    @discardableResult
    public func patchStatus<K: KubernetesResource>(_ type: K.Type, namespace: String? = nil, name: String, status: JSONValue) async throws -> K {
        try await patch(type, namespace: namespace, name: name, subresource: "status", type: .merge, body: ["status": status])
    }

    /// Evicts a pod through the eviction subresource, in the policy version the server offers
    /// (`policy/v1` from 1.22, `policy/v1beta1` on older servers).
    public func evict(namespace: String, pod: String, options: DeleteOptions = DeleteOptions()) async throws {
        let version = try await evictionPolicyVersion()
        _ = try await send(RequestBuilder.evict(namespace: namespace, pod: pod, policyVersion: version, options: options))
    }

    // MARK: discovery

    /// The group versions the server serves (`v1`, `apps/v1`, `policy/v1beta1`, ...).
    public func serverGroupVersions() async throws -> Set<String> {
        if let cached = await discoveryCache.groupVersions { return cached }
        struct APIGroupList: Decodable {
            struct Group: Decodable { struct Version: Decodable { var groupVersion: String }; var versions: [Version] }
            var groups: [Group]
        }
        struct APIVersions: Decodable { var versions: [String] }
        let core = try await send(APIRequest(method: "GET", path: "/api"), as: APIVersions.self)
        let groups = try await send(APIRequest(method: "GET", path: "/apis"), as: APIGroupList.self)
        var all = Set(core.versions)
        for g in groups.groups { for v in g.versions { all.insert(v.groupVersion) } }
        await discoveryCache.set(all)
        return all
    }

    /// `v1` when the server serves `policy/v1`, else `v1beta1`.
    public func evictionPolicyVersion() async throws -> String {
        try await serverGroupVersions().contains("policy/v1") ? "v1" : "v1beta1"
    }

    /// The PodDisruptionBudget resource in the version the server serves.
    public func podDisruptionBudgetResource() async throws -> APIResource {
        var r = PodDisruptionBudget.resource
        r.version = try await serverGroupVersions().contains("policy/v1") ? "v1" : "v1beta1"
        return r
    }
}

/// Counters a client keeps about itself, for tests and diagnostics.
public actor ClientStatistics {
    public private(set) var unauthorizedAnswers = 0
    public private(set) var retries: [Int: Int] = [:]
    /// Requests sent, by method (watches not included).
    public private(set) var requests: [String: Int] = [:]
    func countUnauthorized() { unauthorizedAnswers += 1 }
    func countRequest(_ method: String) { requests[method, default: 0] += 1 }
    func countRetry(status: Int) { retries[status, default: 0] += 1 }
}

actor DiscoveryCache {
    var groupVersions: Set<String>?
    func set(_ v: Set<String>) { groupVersions = v }
}
