import Foundation

/// The part of `metav1.ObjectMeta` the project reads. Unknown fields are ignored when decoding and
/// never written back: writes go through patches of exactly the fields the project owns.
public struct ObjectMeta: Codable, Sendable, Equatable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var finalizers: [String]?

    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }

    /// The controlling owner (the one with `controller: true`), as kubectl drain reads it.
    public var controllerReference: OwnerReference? { ownerReferences?.first(where: { $0.controller == true }) }
}

/// `metav1.OwnerReference`.
public struct OwnerReference: Codable, Sendable, Equatable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil, blockOwnerDeletion: Bool? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// `metav1.ListMeta`.
public struct ListMeta: Codable, Sendable, Equatable {
    public init(resourceVersion: String? = nil, continue: String? = nil, remainingItemCount: Int? = nil) {
        self.resourceVersion = resourceVersion
        self.continue = `continue`
        self.remainingItemCount = remainingItemCount
    }
    public var resourceVersion: String?
    public var `continue`: String?
    public var remainingItemCount: Int?
}

/// A list response: `items` plus list metadata.
public struct ObjectList<Item: Decodable & Sendable>: Decodable, Sendable {
    public var metadata: ListMeta
    public var items: [Item]

    public init(metadata: ListMeta, items: [Item]) {
        self.metadata = metadata
        self.items = items
    }

    enum CodingKeys: String, CodingKey { case metadata, items }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try c.decodeIfPresent(ListMeta.self, forKey: .metadata) ?? ListMeta()
        items = try c.decodeIfPresent([Item].self, forKey: .items) ?? []
    }
}

/// `metav1.Condition`, the standard shape of a status condition.
public struct Condition: Codable, Sendable, Equatable {
    public var type: String
    public var status: String
    public var observedGeneration: Int?
    public var lastTransitionTime: String
    public var reason: String
    public var message: String

    public init(type: String, status: String, observedGeneration: Int? = nil, lastTransitionTime: String, reason: String, message: String) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

extension Array where Element == Condition {
    /// Sets a condition, keeping its `lastTransitionTime` when the status did not change.
    public mutating func set(_ condition: Condition) {
        if let i = firstIndex(where: { $0.type == condition.type }) {
            var c = condition
            if self[i].status == condition.status { c.lastTransitionTime = self[i].lastTransitionTime }
            self[i] = c
        } else {
            append(condition)
        }
    }

    /// Sets a condition from its parts: `status` true, false, or nil for Unknown.
    public mutating func set(_ type: String, _ status: Bool?, reason: String, message: String, generation: Int?, at now: Date) {
        set(Condition(type: type, status: status.map { $0 ? "True" : "False" } ?? "Unknown", observedGeneration: generation,
                      lastTransitionTime: Timestamp.format(now), reason: reason, message: message))
    }

    public subscript(type: String) -> Condition? { first(where: { $0.type == type }) }
}

/// RFC 3339 timestamps as the API server writes them (`2026-11-23T18:00:00Z`).
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// RFC 3339 with microseconds, as `MicroTime` fields (a Lease's renewTime) require.
    public static func formatMicro(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var s = f.string(from: date)  // milliseconds
        if s.hasSuffix("Z") { s.removeLast(); s += "000Z" }
        return s
    }

    public static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}
