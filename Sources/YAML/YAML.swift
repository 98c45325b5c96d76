import CYAML
import Foundation

/// A position in a YAML text, 1-based, as editors show it.
public struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "line \(line), column \(column)" }
}

/// A YAML node with the position it started at, so that errors about its content can say where.
public indirect enum YAMLNode: Sendable, Equatable {
    /// A scalar; `plain` is true when it was written without quotes (so `true`, `12`, `null` keep their YAML 1.1 meaning).
    case scalar(String, plain: Bool, mark: YAMLMark)
    case sequence([YAMLNode], mark: YAMLMark)
    case mapping([(key: YAMLNode, value: YAMLNode)], mark: YAMLMark)

    public static func == (a: YAMLNode, b: YAMLNode) -> Bool {
        switch (a, b) {
        case let (.scalar(x, px, mx), .scalar(y, py, my)): return x == y && px == py && mx == my
        case let (.sequence(x, mx), .sequence(y, my)): return x == y && mx == my
        case let (.mapping(x, mx), .mapping(y, my)):
            return mx == my && x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public var mark: YAMLMark {
        switch self {
        case .scalar(_, _, let m), .sequence(_, let m), .mapping(_, let m): return m
        }
    }

    /// The scalar's text, or nil for a collection.
    public var string: String? {
        if case .scalar(let s, _, _) = self { return s }
        return nil
    }

    /// True for an explicit or implicit null (`~`, `null`, empty plain scalar).
    public var isNull: Bool {
        if case .scalar(let s, let plain, _) = self { return plain && ["", "~", "null", "Null", "NULL"].contains(s) }
        return false
    }

    /// The value under `key` of a mapping, or nil.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs, _) = self else { return nil }
        return pairs.first(where: { $0.key.string == key })?.value
    }

    /// The item at `index` of a sequence, or nil.
    public subscript(index: Int) -> YAMLNode? {
        guard case .sequence(let items, _) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// A short word for the node's kind, for error messages.
    public var kindName: String {
        switch self {
        case .scalar: return "scalar"
        case .sequence: return "sequence"
        case .mapping: return "mapping"
        }
    }
}

/// A YAML text that libyaml could not read, with where.
public struct YAMLSyntaxError: Error, CustomStringConvertible, Sendable {
    public var problem: String
    public var context: String?
    public var mark: YAMLMark
    public var description: String {
        if let context, !context.isEmpty { return "\(context) at \(mark): \(problem)" }
        return "\(problem) at \(mark)"
    }
}

/// Parses YAML text (one or more documents) into node trees with libyaml.
public enum YAMLParser {
    /// Parses every document in `text`. An empty text has no documents.
    public static func parseAll(_ text: String) throws -> [YAMLNode] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(problem: "cannot initialise libyaml", context: nil, mark: YAMLMark(line: 0, column: 0))
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer -> [YAMLNode] in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    throw YAMLSyntaxError(
                        problem: parser.problem.map { String(cString: $0) } ?? "invalid YAML",
                        context: parser.context.map { String(cString: $0) },
                        mark: YAMLMark(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1))
                }
                defer { yaml_event_delete(&event) }
                let done = try builder.handle(&event)
                if done { break }
            }
            return builder.documents
        }
    }

    /// Parses a text that must hold exactly one document.
    public static func parse(_ text: String) throws -> YAMLNode {
        let docs = try parseAll(text)
        guard docs.count == 1 else {
            throw YAMLSyntaxError(problem: "expected one YAML document, found \(docs.count)", context: nil, mark: YAMLMark(line: 1, column: 1))
        }
        return docs[0]
    }
}

private struct TreeBuilder {
    enum Frame {
        case sequence([YAMLNode], YAMLMark, anchor: String?)
        case mapping([(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, YAMLMark, anchor: String?)
    }
    var stack: [Frame] = []
    var documents: [YAMLNode] = []
    var anchors: [String: YAMLNode] = [:]
    var currentRoot: YAMLNode?

    mutating func handle(_ event: inout yaml_event_t) throws -> Bool {
        let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            currentRoot = nil
            anchors = [:]
        case YAML_DOCUMENT_END_EVENT:
            if let root = currentRoot { documents.append(root) }
            currentRoot = nil
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            let node = YAMLNode.scalar(value, plain: s.style == YAML_PLAIN_SCALAR_STYLE && s.tag == nil, mark: mark)
            if let a = s.anchor { anchors[String(cString: a)] = node }
            try add(node)
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard let node = anchors[name] else {
                throw YAMLSyntaxError(problem: "unknown alias *\(name)", context: nil, mark: mark)
            }
            try add(node)
        case YAML_SEQUENCE_START_EVENT:
            stack.append(.sequence([], mark, anchor: event.data.sequence_start.anchor.map { String(cString: $0) }))
        case YAML_SEQUENCE_END_EVENT:
            guard case .sequence(let items, let m, let anchor)? = stack.popLast() else { break }
            let node = YAMLNode.sequence(items, mark: m)
            if let anchor { anchors[anchor] = node }
            try add(node)
        case YAML_MAPPING_START_EVENT:
            stack.append(.mapping([], pendingKey: nil, mark, anchor: event.data.mapping_start.anchor.map { String(cString: $0) }))
        case YAML_MAPPING_END_EVENT:
            guard case .mapping(let pairs, _, let m, let anchor)? = stack.popLast() else { break }
            let node = YAMLNode.mapping(Self.mergeKeys(pairs), mark: m)
            if let anchor { anchors[anchor] = node }
            try add(node)
        default:
            break
        }
        return false
    }

    /// Applies `<<` merge keys: the merged mapping's pairs come first, explicit keys override them.
    static func mergeKeys(_ pairs: [(key: YAMLNode, value: YAMLNode)]) -> [(key: YAMLNode, value: YAMLNode)] {
        guard pairs.contains(where: { $0.key.string == "<<" }) else { return pairs }
        var result: [(key: YAMLNode, value: YAMLNode)] = []
        var explicit = Set<String>()
        for p in pairs where p.key.string != "<<" { explicit.insert(p.key.string ?? "") }
        for p in pairs where p.key.string == "<<" {
            let sources: [YAMLNode]
            if case .sequence(let items, _) = p.value { sources = items } else { sources = [p.value] }
            for case .mapping(let inner, _) in sources {
                for q in inner where !explicit.contains(q.key.string ?? "") && !result.contains(where: { $0.key.string == q.key.string }) {
                    result.append(q)
                }
            }
        }
        result.append(contentsOf: pairs.filter { $0.key.string != "<<" })
        return result
    }

    mutating func add(_ node: YAMLNode) throws {
        guard let top = stack.popLast() else {
            currentRoot = node
            return
        }
        switch top {
        case .sequence(var items, let m, let anchor):
            items.append(node)
            stack.append(.sequence(items, m, anchor: anchor))
        case .mapping(var pairs, let pendingKey, let m, let anchor):
            if let key = pendingKey {
                pairs.append((key: key, value: node))
                stack.append(.mapping(pairs, pendingKey: nil, m, anchor: anchor))
            } else {
                stack.append(.mapping(pairs, pendingKey: node, m, anchor: anchor))
            }
        }
    }
}
