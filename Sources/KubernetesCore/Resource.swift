import Foundation

/// Where a kind lives in the API: group, version, plural name, and whether it is namespaced.
public struct APIResource: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `v1` for the core group, `group/version` otherwise.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` for the core group, `/apis/group/version` otherwise.
    public var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The collection path, in one namespace or across all (`nil`).
    public func collectionPath(namespace: String?) -> String {
        if namespaced, let namespace { return "\(groupVersionPath)/namespaces/\(PathEscaping.segment(namespace))/\(plural)" }
        return "\(groupVersionPath)/\(plural)"
    }

    /// The path of one object, with an optional subresource (`status`, `scale`, `eviction`).
    public func objectPath(namespace: String?, name: String, subresource: String? = nil) -> String {
        var p = "\(collectionPath(namespace: namespaced ? namespace : nil))/\(PathEscaping.segment(name))"
        if let subresource { p += "/\(subresource)" }
        return p
    }
}

/// A type that is a Kubernetes kind the client can read and write.
public protocol KubernetesResource: Codable, Sendable {
    static var resource: APIResource { get }
    var metadata: ObjectMeta { get }
}

extension KubernetesResource {
    public var name: String { metadata.name ?? "" }
    public var namespace: String? { metadata.namespace }
    /// `namespace/name`, or `name` for cluster-scoped objects: the key a work queue uses.
    public var key: ObjectKey { ObjectKey(namespace: metadata.namespace, name: metadata.name ?? "") }
}

/// Identifies one object of a known kind.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var namespace: String?
    public var name: String
    public init(namespace: String? = nil, name: String) {
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.name = name
    }
    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.description < b.description }
}

enum PathEscaping {
    static let allowed: CharacterSet = {
        var s = CharacterSet.alphanumerics
        s.insert(charactersIn: "-._~:@")
        return s
    }()
    static func segment(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }

    static let queryAllowed: CharacterSet = {
        var s = CharacterSet.alphanumerics
        s.insert(charactersIn: "-._~")
        return s
    }()
    static func query(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? s }
}
