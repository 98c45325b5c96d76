import Foundation

/// `metav1.LabelSelector`: `matchLabels` and `matchExpressions`, matched as the API server does.
public struct LabelSelector: Codable, Sendable, Equatable, Hashable {
    public var matchLabels: [String: String]?
    public var matchExpressions: [Requirement]?

    public struct Requirement: Codable, Sendable, Equatable, Hashable {
        public var key: String
        public var `operator`: String
        public var values: [String]?

        public init(key: String, operator: String, values: [String]? = nil) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    public init(matchLabels: [String: String]? = nil, matchExpressions: [Requirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// An empty selector matches everything (as for Deployments and PDBs).
    public var isEmpty: Bool { (matchLabels?.isEmpty ?? true) && (matchExpressions?.isEmpty ?? true) }

    /// Errors in operators or values, named as a user would see them in a spec.
    public func validate(field: String) -> String? {
        for (i, r) in (matchExpressions ?? []).enumerated() {
            switch r.operator {
            case "In", "NotIn":
                if (r.values ?? []).isEmpty { return "\(field).matchExpressions[\(i)].values: must be non-empty for operator \(r.operator)" }
            case "Exists", "DoesNotExist":
                if !(r.values ?? []).isEmpty { return "\(field).matchExpressions[\(i)].values: must be empty for operator \(r.operator)" }
            default:
                return "\(field).matchExpressions[\(i)].operator: unknown operator \"\(r.operator)\" (In, NotIn, Exists, DoesNotExist)"
            }
        }
        return nil
    }

    public func matches(_ labels: [String: String]?) -> Bool {
        let labels = labels ?? [:]
        for (k, v) in matchLabels ?? [:] where labels[k] != v { return false }
        for r in matchExpressions ?? [] {
            let value = labels[r.key]
            switch r.operator {
            case "In": if value == nil || !(r.values ?? []).contains(value!) { return false }
            case "NotIn": if let value, (r.values ?? []).contains(value) { return false }
            case "Exists": if value == nil { return false }
            case "DoesNotExist": if value != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// The selector in the query-string syntax of `?labelSelector=`.
    public var queryString: String {
        var parts: [String] = []
        for (k, v) in (matchLabels ?? [:]).sorted(by: { $0.key < $1.key }) { parts.append("\(k)=\(v)") }
        for r in matchExpressions ?? [] {
            let values = (r.values ?? []).sorted().joined(separator: ",")
            switch r.operator {
            case "In": parts.append("\(r.key) in (\(values))")
            case "NotIn": parts.append("\(r.key) notin (\(values))")
            case "Exists": parts.append(r.key)
            case "DoesNotExist": parts.append("!\(r.key)")
            default: break
            }
        }
        return parts.joined(separator: ",")
    }
}
