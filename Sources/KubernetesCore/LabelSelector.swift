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

/// A label selector string that cannot be read.
public struct LabelSelectorSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var selector: String
    public var problem: String
    public var description: String { "label selector \"\(selector)\": \(problem)" }
}

extension LabelSelector {
    /// Reads the string syntax of `kubectl -l` and `?labelSelector=`: comma-separated
    /// requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. An empty
    /// string selects everything. (`k!=v` is NotIn, which, as in the API, also matches pods without `k`.)
    public init(parsing text: String) throws {
        self.init()
        func fail(_ problem: String) -> LabelSelectorSyntaxError { LabelSelectorSyntaxError(selector: text, problem: problem) }
        // Split on commas outside parentheses.
        var parts: [String] = [], current = "", depth = 0
        for c in text {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1; if depth < 0 { throw fail("unbalanced parentheses") } }
            if c == "," && depth == 0 { parts.append(current); current = "" } else { current.append(c) }
        }
        if depth != 0 { throw fail("unbalanced parentheses") }
        parts.append(current)
        func key(_ k: Substring) throws -> String {
            let k = k.trimmingCharacters(in: .whitespaces)
            guard !k.isEmpty, k.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else { throw fail("\"\(k)\" is not a label key") }
            return k
        }
        func value(_ v: Substring) throws -> String {
            let v = v.trimmingCharacters(in: .whitespaces)
            guard v.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else { throw fail("\"\(v)\" is not a label value") }
            return v
        }
        var labels: [String: String] = [:], expressions: [Requirement] = []
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { if parts.count == 1 { break } else { throw fail("an empty requirement") } }
            let words = part.split(separator: " ", maxSplits: 1)
            if words.count == 2, let set = words[1].trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).first,
               set == "in" || set == "notin" || words[1].hasPrefix("in") || words[1].hasPrefix("notin") {
                let rest = words[1].trimmingCharacters(in: .whitespaces)
                let op = rest.hasPrefix("notin") ? "NotIn" : "In"
                let list = rest.dropFirst(op == "In" ? 2 : 5).trimmingCharacters(in: .whitespaces)
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw fail("\(part): \(op == "In" ? "in" : "notin") needs a (list)") }
                let values = try list.dropFirst().dropLast().split(separator: ",").map(value)
                guard !values.isEmpty else { throw fail("\(part): an empty list") }
                expressions.append(Requirement(key: try key(words[0]), operator: op, values: values))
            } else if let r = part.range(of: "!=") {
                expressions.append(Requirement(key: try key(part[..<r.lowerBound]), operator: "NotIn", values: [try value(part[r.upperBound...])]))
            } else if let r = part.range(of: "==") ?? part.range(of: "=") {
                labels[try key(part[..<r.lowerBound])] = try value(part[r.upperBound...])
            } else if part.hasPrefix("!") {
                expressions.append(Requirement(key: try key(part.dropFirst()), operator: "DoesNotExist"))
            } else {
                expressions.append(Requirement(key: try key(Substring(part)), operator: "Exists"))
            }
        }
        self.matchLabels = labels.isEmpty ? nil : labels
        self.matchExpressions = expressions.isEmpty ? nil : expressions
    }
}
