import Foundation
import YAML

/// A simulator configuration read from YAML, for fleets too varied for flags:
///
/// ```yaml
/// nodeGroups:
///   - prefix: web-
///     count: 3
///     labels: {topology.kubernetes.io/zone: a}
///     cpu: "8"
///     memory: 32Gi
///     pods: 110
/// heartbeatSeconds: 10
/// podStartSeconds: 1
/// ```
///
/// Every key of `SimulatorConfiguration` has a YAML name (see `settingKeys`); an unknown key, a
/// value of the wrong kind or out of range is an error that names the key and its line.
public struct SimulatorConfigurationError: Error, CustomStringConvertible, Sendable {
    public var problem: String
    public var description: String { problem }
}

extension SimulatorConfiguration {
    static let groupKeys: Set<String> = ["prefix", "count", "labels", "cpu", "memory", "pods"]
    static let settingKeys: Set<String> = [
        "nodeGroups", "heartbeatSeconds", "statusSeconds", "podStartSeconds", "terminationSeconds", "updateSeconds",
        "updateFailureShare", "osImage", "kernelVersion", "updateOSImage", "updateKernel", "provisioningSeconds",
        "poolNamespace", "podWriteConcurrency",
    ]

    /// Reads a configuration from YAML text; `source` names it in errors.
    public init(yaml text: String, source: String) throws {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text) } catch { throw SimulatorConfigurationError(problem: "\(source): \(error)") }
        let reader = YAMLFieldReader(source: source)
        func fail(_ node: YAMLNode, _ what: String) -> SimulatorConfigurationError {
            SimulatorConfigurationError(problem: reader.fail(node, what).problem)
        }
        func field<T>(_ read: () throws -> T) throws -> T {
            do { return try read() } catch let e as YAMLFieldError { throw SimulatorConfigurationError(problem: e.problem) }
        }
        guard case .mapping(let pairs, _) = root else { throw fail(root, "expected a mapping with nodeGroups, found a \(root.kindName)") }
        for (key, _) in pairs where !Self.settingKeys.contains(key.string ?? "") {
            throw fail(key, "unknown key \"\(key.string ?? "?")\" (known: \(Self.settingKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ node: YAMLNode, _ key: String) throws -> String { try field { try reader.string(node, key) } }
        func number(_ node: YAMLNode, _ key: String, in range: ClosedRange<Double>) throws -> Double { try field { try reader.number(node, key, in: range) } }
        func integer(_ node: YAMLNode, _ key: String, in range: ClosedRange<Int>) throws -> Int { try field { try reader.integer(node, key, in: range) } }
        func duration(_ node: YAMLNode, _ key: String) throws -> Duration {
            .milliseconds(Int((try number(node, key, in: 0...86400) * 1000).rounded()))
        }

        guard let groupsNode = root["nodeGroups"] else { throw fail(root, "nodeGroups is missing: at least one group of nodes is needed") }
        guard case .sequence(let items, _) = groupsNode, !items.isEmpty else { throw fail(groupsNode, "nodeGroups must be a non-empty list") }
        var groups: [NodeGroup] = []
        var prefixes: Set<String> = []
        for item in items {
            guard case .mapping(let fields, _) = item else { throw fail(item, "a node group must be a mapping, found a \(item.kindName)") }
            for (key, _) in fields where !Self.groupKeys.contains(key.string ?? "") {
                throw fail(key, "unknown node group key \"\(key.string ?? "?")\" (known: \(Self.groupKeys.sorted().joined(separator: ", ")))")
            }
            guard let prefixNode = item["prefix"] else { throw fail(item, "a node group needs a prefix") }
            let prefix = try string(prefixNode, "prefix")
            guard !prefix.isEmpty, prefix.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
                throw fail(prefixNode, "prefix \"\(prefix)\" must be lowercase letters, digits, '-' or '.' (node names are DNS subdomains)")
            }
            guard prefixes.insert(prefix).inserted else { throw fail(prefixNode, "prefix \"\(prefix)\" is used by two groups") }
            guard let countNode = item["count"] else { throw fail(item, "node group \(prefix) needs a count") }
            var group = NodeGroup(namePrefix: prefix, count: try integer(countNode, "count", in: 0...100_000))
            if let labels = item["labels"], !labels.isNull {
                guard case .mapping(let pairs, _) = labels else { throw fail(labels, "labels must be a mapping, found a \(labels.kindName)") }
                for (k, v) in pairs { group.labels[try string(k, "a label key")] = try string(v, "label \(k.string ?? "")") }
            }
            if let v = item["cpu"] { group.cpu = try string(v, "cpu") }
            if let v = item["memory"] { group.memory = try string(v, "memory") }
            if let v = item["pods"] { group.pods = try integer(v, "pods", in: 1...10_000) }
            groups.append(group)
        }
        self.init(groups: groups)
        if let v = root["heartbeatSeconds"] { heartbeatInterval = try duration(v, "heartbeatSeconds") }
        if let v = root["statusSeconds"] { statusInterval = try duration(v, "statusSeconds") }
        if let v = root["podStartSeconds"] { podStartDelay = try duration(v, "podStartSeconds") }
        if let v = root["terminationSeconds"] { maxTerminationDelay = try duration(v, "terminationSeconds") }
        if let v = root["updateSeconds"] { updateDelay = try duration(v, "updateSeconds") }
        if let v = root["provisioningSeconds"] { provisioningDelay = try duration(v, "provisioningSeconds") }
        if let v = root["updateFailureShare"] { updateFailureShare = try number(v, "updateFailureShare", in: 0...1) }
        if let v = root["osImage"] { osImage = try string(v, "osImage") }
        if let v = root["kernelVersion"] { kernelVersion = try string(v, "kernelVersion") }
        if let v = root["updateOSImage"] { updateTargetOSImage = try string(v, "updateOSImage") }
        if let v = root["updateKernel"] { updateTargetKernel = try string(v, "updateKernel") }
        if let v = root["poolNamespace"] { poolNamespace = try string(v, "poolNamespace") }
        if let v = root["podWriteConcurrency"] { podWriteConcurrency = try integer(v, "podWriteConcurrency", in: 1...1024) }
        if heartbeatInterval < .milliseconds(100) { throw fail(root["heartbeatSeconds"]!, "heartbeatSeconds must be at least 0.1") }
    }
}
