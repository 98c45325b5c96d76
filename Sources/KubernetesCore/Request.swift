import Foundation

/// An API request, built without I/O: method, path, query and body. The client turns it into HTTP.
public struct APIRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: [(String, String)]
    public var body: Data?
    public var contentType: String?
    /// True for a watch: the response is a stream of events.
    public var isWatch: Bool
    /// The `Accept` header when not plain JSON (a `PartialObjectMetadata` read asks for less).
    public var accept: String?

    public init(method: String, path: String, query: [(String, String)] = [], body: Data? = nil, contentType: String? = nil, isWatch: Bool = false,
                accept: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.contentType = contentType
        self.isWatch = isWatch
        self.accept = accept
    }

    /// The Accept header that makes the apiserver answer with an object's metadata only.
    public static let partialObjectMetadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

    /// Path and percent-encoded query, e.g. `/api/v1/pods?limit=500`.
    public var pathAndQuery: String {
        guard !query.isEmpty else { return path }
        return path + "?" + query.map { "\(PathEscaping.query($0.0))=\(PathEscaping.query($0.1))" }.joined(separator: "&")
    }

    public static func == (a: APIRequest, b: APIRequest) -> Bool {
        a.method == b.method && a.pathAndQuery == b.pathAndQuery && a.body == b.body && a.contentType == b.contentType && a.isWatch == b.isWatch
            && a.accept == b.accept
    }
}

/// Options of list and watch calls (`metav1.ListOptions`).
public struct ListOptions: Sendable, Equatable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var `continue`: String?
    public var resourceVersion: String?
    public var resourceVersionMatch: String?
    public var timeoutSeconds: Int?
    public var allowWatchBookmarks: Bool

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continue: String? = nil,
                resourceVersion: String? = nil, resourceVersionMatch: String? = nil, timeoutSeconds: Int? = nil, allowWatchBookmarks: Bool = false) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continue = `continue`
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
    }

    var queryItems: [(String, String)] {
        var q: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { q.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { q.append(("fieldSelector", fieldSelector)) }
        if let limit { q.append(("limit", String(limit))) }
        if let c = self.continue, !c.isEmpty { q.append(("continue", c)) }
        if let resourceVersion { q.append(("resourceVersion", resourceVersion)) }
        if let resourceVersionMatch { q.append(("resourceVersionMatch", resourceVersionMatch)) }
        if let timeoutSeconds { q.append(("timeoutSeconds", String(timeoutSeconds))) }
        if allowWatchBookmarks { q.append(("allowWatchBookmarks", "true")) }
        return q
    }
}

/// The kinds of patch the API server accepts.
public enum PatchType: String, Sendable {
    case merge = "application/merge-patch+json"
    case json = "application/json-patch+json"
    case strategicMerge = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

/// Options common to writes.
public struct WriteOptions: Sendable, Equatable {
    public var dryRun: Bool
    public var fieldManager: String?
    public var force: Bool

    public init(dryRun: Bool = false, fieldManager: String? = nil, force: Bool = false) {
        self.dryRun = dryRun
        self.fieldManager = fieldManager
        self.force = force
    }

    var queryItems: [(String, String)] {
        var q: [(String, String)] = []
        if dryRun { q.append(("dryRun", "All")) }
        if let fieldManager { q.append(("fieldManager", fieldManager)) }
        if force { q.append(("force", "true")) }
        return q
    }
}

/// Builds the requests of every verb the project uses. Pure: unit tests assert exact paths.
public enum RequestBuilder {
    public static func get(_ r: APIResource, namespace: String?, name: String, subresource: String? = nil) -> APIRequest {
        APIRequest(method: "GET", path: r.objectPath(namespace: namespace, name: name, subresource: subresource))
    }

    public static func list(_ r: APIResource, namespace: String?, options: ListOptions = ListOptions()) -> APIRequest {
        APIRequest(method: "GET", path: r.collectionPath(namespace: namespace), query: options.queryItems)
    }

    public static func watch(_ r: APIResource, namespace: String?, options: ListOptions) -> APIRequest {
        var q: [(String, String)] = [("watch", "true")]
        q.append(contentsOf: options.queryItems)
        return APIRequest(method: "GET", path: r.collectionPath(namespace: namespace), query: q, isWatch: true)
    }

    public static func create(_ r: APIResource, namespace: String?, body: Data, options: WriteOptions = WriteOptions()) -> APIRequest {
        APIRequest(method: "POST", path: r.collectionPath(namespace: namespace), query: options.queryItems, body: body, contentType: "application/json")
    }

    public static func replace(_ r: APIResource, namespace: String?, name: String, subresource: String? = nil, body: Data, options: WriteOptions = WriteOptions()) -> APIRequest {
        APIRequest(method: "PUT", path: r.objectPath(namespace: namespace, name: name, subresource: subresource), query: options.queryItems, body: body, contentType: "application/json")
    }

    public static func patch(_ r: APIResource, namespace: String?, name: String, subresource: String? = nil, type: PatchType, body: Data, options: WriteOptions = WriteOptions()) -> APIRequest {
        APIRequest(method: "PATCH", path: r.objectPath(namespace: namespace, name: name, subresource: subresource), query: options.queryItems, body: body, contentType: type.rawValue)
    }

    /// Server-side apply: a PATCH of the whole intent, owned by `fieldManager`.
    public static func apply(_ r: APIResource, namespace: String?, name: String, subresource: String? = nil, body: Data, fieldManager: String, force: Bool = false) -> APIRequest {
        patch(r, namespace: namespace, name: name, subresource: subresource, type: .apply, body: body, options: WriteOptions(fieldManager: fieldManager, force: force))
    }

    /// Delete with `DeleteOptions` (grace period, preconditions, propagation).
    public static func delete(_ r: APIResource, namespace: String?, name: String, options: DeleteOptions = DeleteOptions()) -> APIRequest {
        APIRequest(method: "DELETE", path: r.objectPath(namespace: namespace, name: name), body: options.json.serialized(), contentType: "application/json")
    }

    /// An Eviction of a pod through the `eviction` subresource, in the policy group version the server offers.
    public static func evict(namespace: String, pod: String, policyVersion: String, options: DeleteOptions = DeleteOptions()) -> APIRequest {
        let body: JSONValue = [
            "apiVersion": .string("policy/\(policyVersion)"),
            "kind": "Eviction",
            "metadata": ["name": .string(pod), "namespace": .string(namespace)],
            "deleteOptions": options.json,
        ]
        return APIRequest(method: "POST", path: Pod.resource.objectPath(namespace: namespace, name: pod, subresource: "eviction"),
                          body: body.serialized(), contentType: "application/json")
    }
}

/// `metav1.DeleteOptions`: grace period (negative = the pod's own, 0 = now), preconditions, dry run.
public struct DeleteOptions: Sendable, Equatable {
    public var gracePeriodSeconds: Int?
    public var preconditionUID: String?
    public var preconditionResourceVersion: String?
    public var propagationPolicy: String?
    public var dryRun: Bool

    public init(gracePeriodSeconds: Int? = nil, preconditionUID: String? = nil, preconditionResourceVersion: String? = nil, propagationPolicy: String? = nil, dryRun: Bool = false) {
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.propagationPolicy = propagationPolicy
        self.dryRun = dryRun
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("apiVersion", "v1"), ("kind", "DeleteOptions")]
        if let g = gracePeriodSeconds, g >= 0 { o.append(("gracePeriodSeconds", .int(g))) }
        var pre: [(String, JSONValue)] = []
        if let u = preconditionUID { pre.append(("uid", .string(u))) }
        if let v = preconditionResourceVersion { pre.append(("resourceVersion", .string(v))) }
        if !pre.isEmpty { o.append(("preconditions", .object(pre))) }
        if let p = propagationPolicy { o.append(("propagationPolicy", .string(p))) }
        if dryRun { o.append(("dryRun", ["All"])) }
        return .object(o)
    }
}
