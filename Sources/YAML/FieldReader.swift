/// A configuration file's problem, naming the file, the line and column, and the field.
public struct YAMLFieldError: Error, CustomStringConvertible, Sendable {
    public var problem: String
    public var description: String { problem }
}

/// Reads typed fields of a YAML tree for configuration files checked like a CRD: every error
/// names the field and where it is (`scenario.yaml, line 4, column 3: zones[0].perReplica must be
/// a number, found "ten"`).
public struct YAMLFieldReader: Sendable {
    public var source: String
    public init(source: String) { self.source = source }

    public func fail(_ node: YAMLNode, _ what: String) -> YAMLFieldError { YAMLFieldError(problem: "\(source), \(node.mark): \(what)") }

    /// `node` is a mapping whose keys are all in `keys`.
    public func mapping(_ node: YAMLNode, _ what: String, keys: Set<String>) throws {
        guard case .mapping(let pairs, _) = node else { throw fail(node, "\(what) must be a mapping, found a \(node.kindName)") }
        for (key, _) in pairs where !keys.contains(key.string ?? "") {
            throw fail(key, "unknown key \"\(key.string ?? "?")\" in \(what) (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    public func required(_ node: YAMLNode, _ key: String, in what: String) throws -> YAMLNode {
        guard let v = node[key], !v.isNull else { throw fail(node, "\(what).\(key) is missing") }
        return v
    }

    public func string(_ node: YAMLNode, _ key: String) throws -> String {
        guard let s = node.string, !node.isNull else { throw fail(node, "\(key) must be a string, found a \(node.kindName)") }
        return s
    }

    public func number(_ node: YAMLNode, _ key: String, in range: ClosedRange<Double>) throws -> Double {
        guard let s = node.string, let v = Double(s), v.isFinite else { throw fail(node, "\(key) must be a number, found \"\(node.string ?? node.kindName)\"") }
        guard range.contains(v) else { throw fail(node, "\(key) is \(s); it must be between \(range.lowerBound) and \(range.upperBound)") }
        return v
    }

    public func integer(_ node: YAMLNode, _ key: String, in range: ClosedRange<Int>) throws -> Int {
        guard let s = node.string, let v = Int(s) else { throw fail(node, "\(key) must be a whole number, found \"\(node.string ?? node.kindName)\"") }
        guard range.contains(v) else { throw fail(node, "\(key) is \(v); it must be between \(range.lowerBound) and \(range.upperBound)") }
        return v
    }
}
