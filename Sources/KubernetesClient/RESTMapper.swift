import Foundation
import KubernetesCore

/// A group and kind, without a version: what a user names (`apps` `Deployment`), resolved by
/// discovery to the resource and version this server serves.
public struct GroupKind: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var kind: String
    public init(group: String, kind: String) {
        self.group = group
        self.kind = kind
    }
    /// From an `apiVersion` (`cluster.x-k8s.io/v1beta1`, `v1`) and a kind.
    public init(apiVersion: String, kind: String) {
        let parts = apiVersion.split(separator: "/", maxSplits: 1)
        self.group = parts.count == 2 ? String(parts[0]) : ""
        self.kind = kind
    }
    public var description: String { group.isEmpty ? kind : "\(kind).\(group)" }
}

/// What discovery says of one group version: its resources by kind, and their subresources.
public struct DiscoveredGroupVersion: Sendable, Equatable {
    public var groupVersion: String
    public var resources: [String: APIResource]
    /// `deployments` → [`scale`, `status`].
    public var subresources: [String: Set<String>]

    /// Parses an `APIResourceList` document (`/api/v1`, `/apis/apps/v1`).
    public static func parse(_ data: Data) throws -> DiscoveredGroupVersion {
        struct List: Decodable {
            struct Entry: Decodable { var name: String; var kind: String; var namespaced: Bool; var group: String?; var version: String? }
            var groupVersion: String
            var resources: [Entry]
        }
        let list = try JSONDecoder().decode(List.self, from: data)
        let parts = list.groupVersion.split(separator: "/", maxSplits: 1)
        let group = parts.count == 2 ? String(parts[0]) : ""
        let version = String(parts.last ?? "")
        var resources: [String: APIResource] = [:]
        var subresources: [String: Set<String>] = [:]
        for entry in list.resources {
            let pieces = entry.name.split(separator: "/", maxSplits: 1)
            if pieces.count == 2 {
                subresources[String(pieces[0]), default: []].insert(String(pieces[1]))
            } else if resources[entry.kind] == nil {
                resources[entry.kind] = APIResource(group: group, version: version, plural: entry.name, kind: entry.kind, namespaced: entry.namespaced)
            }
        }
        return DiscoveredGroupVersion(groupVersion: list.groupVersion, resources: resources, subresources: subresources)
    }
}

/// The groups a server serves with their versions, preferred first, parsed from `/api` and `/apis`.
public struct DiscoveredGroups: Sendable, Equatable {
    public var versions: [String: [String]]

    public static func parse(core: Data, groups: Data) throws -> DiscoveredGroups {
        struct APIVersions: Decodable { var versions: [String] }
        struct APIGroupList: Decodable {
            struct Group: Decodable {
                struct Version: Decodable { var version: String }
                var name: String
                var versions: [Version]
                var preferredVersion: Version?
            }
            var groups: [Group]
        }
        var out: [String: [String]] = ["": try JSONDecoder().decode(APIVersions.self, from: core).versions]
        for g in try JSONDecoder().decode(APIGroupList.self, from: groups).groups {
            var versions = g.versions.map(\.version)
            if let preferred = g.preferredVersion?.version, let i = versions.firstIndex(of: preferred) {
                versions.remove(at: i)
                versions.insert(preferred, at: 0)
            }
            out[g.name] = versions
        }
        return DiscoveredGroups(versions: out)
    }
}

/// A kind the server does not serve (after discovery was refreshed).
public struct RESTMappingError: Error, CustomStringConvertible, Sendable {
    public var what: String
    public var description: String { what }
}

/// Kind → resource, version and scope, from the server's discovery documents, as client-go's
/// RESTMapper does: a type no longer fixes its version (PodDisruptionBudgets are `policy/v1beta1`
/// on 1.20 and `policy/v1` from 1.21), and a scale target can name any kind.
///
/// Documents are fetched lazily (the group list once, each group version when first needed) and
/// cached; a miss refreshes them, at most once per `refreshInterval`, so a CRD installed after
/// start is found and a typo is not a request storm.
public actor RESTMapper {
    private var groups: DiscoveredGroups?
    private var groupVersions: [String: DiscoveredGroupVersion] = [:]
    private var lastRefresh: Double = -.infinity
    public let refreshInterval: Double

    public init(refreshInterval: Double = 5) { self.refreshInterval = refreshInterval }

    /// The resource serving `groupKind` in the server's preferred version for it.
    public func resource(for groupKind: GroupKind, using client: KubernetesClient) async throws -> APIResource {
        if let found = try await lookUp(groupKind, version: nil, client: client) { return found }
        if try await refreshIfAllowed(client) , let found = try await lookUp(groupKind, version: nil, client: client) { return found }
        throw RESTMappingError(what: "the server serves no resource of kind \(groupKind)")
    }

    /// The resource serving `kind` in exactly `apiVersion`.
    public func resource(apiVersion: String, kind: String, using client: KubernetesClient) async throws -> APIResource {
        let gk = GroupKind(apiVersion: apiVersion, kind: kind)
        let version = String(apiVersion.split(separator: "/").last ?? "")
        if let found = try await lookUp(gk, version: version, client: client) { return found }
        if try await refreshIfAllowed(client), let found = try await lookUp(gk, version: version, client: client) { return found }
        throw RESTMappingError(what: "the server serves no \(kind) in \(apiVersion)")
    }

    /// The subresources (`scale`, `status`, `eviction`) of a resource, per discovery.
    public func subresources(of resource: APIResource, using client: KubernetesClient) async throws -> Set<String> {
        let gv = try await groupVersion(resource.apiVersion, client: client)
        return gv?.subresources[resource.plural] ?? []
    }

    private func lookUp(_ gk: GroupKind, version: String?, client: KubernetesClient) async throws -> APIResource? {
        if groups == nil { try await fetchGroups(client) }
        guard let versions = groups?.versions[gk.group] else { return nil }
        for v in versions where version == nil || v == version {
            let gv = gk.group.isEmpty ? v : "\(gk.group)/\(v)"
            if let found = try await groupVersion(gv, client: client)?.resources[gk.kind] { return found }
        }
        return nil
    }

    private func groupVersion(_ gv: String, client: KubernetesClient) async throws -> DiscoveredGroupVersion? {
        if let cached = groupVersions[gv] { return cached }
        let path = gv.contains("/") ? "/apis/\(gv)" : "/api/\(gv)"
        let data: Data
        do { data = try await client.send(APIRequest(method: "GET", path: path)) } catch let e as ClientError where e.apiError?.isNotFound == true {
            return nil
        }
        let parsed = try DiscoveredGroupVersion.parse(data)
        groupVersions[gv] = parsed
        return parsed
    }

    private func fetchGroups(_ client: KubernetesClient) async throws {
        let core = try await client.send(APIRequest(method: "GET", path: "/api"))
        let all = try await client.send(APIRequest(method: "GET", path: "/apis"))
        groups = try DiscoveredGroups.parse(core: core, groups: all)
    }

    /// Forgets everything and fetches the group list again, unless that was done moments ago.
    private func refreshIfAllowed(_ client: KubernetesClient) async throws -> Bool {
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        guard now - lastRefresh >= refreshInterval else { return false }
        lastRefresh = now
        groupVersions = [:]
        try await fetchGroups(client)
        return true
    }
}

extension KubernetesClient {
    /// The resource for `K` as this server serves it: `K.resource`'s group and kind in the version
    /// discovery prefers (for example PodDisruptionBudget in `policy/v1beta1` on a 1.20 server).
    public func resolvedResource<K: KubernetesResource>(_ type: K.Type) async throws -> APIResource {
        try await restMapper.resource(for: GroupKind(group: K.resource.group, kind: K.resource.kind), using: self)
    }
}
