import Foundation
import Testing
@testable import NodeSimulator

@Suite struct SimulatorConfigurationFromYAML {
    @Test func readsGroupsAndSettings() throws {
        let config = try SimulatorConfiguration(yaml: """
            nodeGroups:
              - prefix: web-
                count: 3
                labels: {topology.kubernetes.io/zone: a, tier: web}
                cpu: "16"
                memory: 64Gi
                pods: 200
              - prefix: batch-
                count: 2
            heartbeatSeconds: 5
            podStartSeconds: 0.25
            updateFailureShare: 0.5
            updateOSImage: Debian GNU/Linux 13 (trixie)
            podWriteConcurrency: 8
            """, source: "fleet.yaml")
        #expect(config.groups.count == 2)
        #expect(config.groups[0].namePrefix == "web-" && config.groups[0].count == 3)
        #expect(config.groups[0].labels == ["topology.kubernetes.io/zone": "a", "tier": "web"])
        #expect(config.groups[0].cpu == "16" && config.groups[0].memory == "64Gi" && config.groups[0].pods == 200)
        #expect(config.groups[1].cpu == "8" && config.groups[1].pods == 110, "defaults for what a group leaves out")
        #expect(config.heartbeatInterval == .seconds(5))
        #expect(config.podStartDelay == .milliseconds(250))
        #expect(config.updateFailureShare == 0.5)
        #expect(config.updateTargetOSImage == "Debian GNU/Linux 13 (trixie)")
        #expect(config.podWriteConcurrency == 8)
        #expect(config.statusInterval == .seconds(30), "untouched settings keep their defaults")
    }

    @Test func theShippedExampleIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("examples/simulated-fleet.yaml").path
        let config = try SimulatorConfiguration(yaml: try String(contentsOfFile: path, encoding: .utf8), source: path)
        #expect(config.groups.map(\.count).reduce(0, +) == 8)
        #expect(config.updateTargetKernel == "6.12.0-1-amd64")
    }

    @Test(arguments: [
        ("nodeGroups: []", "line 1, column 13: nodeGroups must be a non-empty list"),
        ("heartbeatSeconds: 5", "nodeGroups is missing"),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\nheartbeat: 5", "line 4, column 1: unknown key \"heartbeat\""),
        ("nodeGroups:\n  - prefix: a-\n    count: -1", "line 3, column 12: count is -1; it must be between 0 and 100000"),
        ("nodeGroups:\n  - prefix: a-\n    count: many", "count must be a whole number, found \"many\""),
        ("nodeGroups:\n  - prefix: A_\n    count: 1", "prefix \"A_\" must be lowercase letters"),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\n  - prefix: a-\n    count: 2", "line 4, column 13: prefix \"a-\" is used by two groups"),
        ("nodeGroups:\n  - count: 1", "a node group needs a prefix"),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\n    zone: b", "unknown node group key \"zone\""),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\nupdateFailureShare: 2", "updateFailureShare is 2; it must be between 0.0 and 1.0"),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\nheartbeatSeconds: 0", "heartbeatSeconds must be at least 0.1"),
        ("nodeGroups:\n  - prefix: a-\n    count: 1\n    labels: [a, b]", "labels must be a mapping, found a sequence"),
        ("nodeGroups: [ {prefix: a-", "fleet.yaml: "),
        ("- just\n- a list", "expected a mapping with nodeGroups, found a sequence"),
    ])
    func badInputIsNamed(yaml: String, expected: String) {
        do {
            _ = try SimulatorConfiguration(yaml: yaml, source: "fleet.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            let text = String(describing: error)
            #expect(text.hasPrefix("fleet.yaml"), "\(text)")
            #expect(text.contains(expected), "\(text)")
        }
    }
}
