import Foundation
import Testing
import TestSupport
import YAML

/// The shipped alerting rules: every alert fires when it should and not before (promtool's own
/// rule tests), and the PrometheusRule carries exactly the plain file's rules.
@Suite struct AlertingRulesTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var promtoolAvailable: Bool {
        if ProcessInfo.processInfo.environment["FORESIGHT_REQUIRE_E2E"] == "1" { return true }  // hack/test.sh installs it: its absence is a failure
        return FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")
    }

    @Test(.enabled(if: promtoolAvailable, "needs promtool (Debian package prometheus)"))
    func everyAlertFiresWhenItShould() throws {
        let (status, out, err) = try runCommand(["promtool", "test", "rules", "hack/testing/alerting-rules-test.yaml"], stdin: nil,
                                                environment: ProcessInfo.processInfo.environment, directory: Self.root)
        #expect(status == 0, "promtool: \(out) \(err)")
        #expect(out.contains("SUCCESS"))
    }

    @Test func thePrometheusRuleHasThePlainFilesRules() throws {
        let plain = try YAMLParser.parse(String(contentsOfFile: "\(Self.root)/manifests/monitoring/foresight-rules.yaml", encoding: .utf8))
        let operatorRule = try YAMLParser.parse(String(contentsOfFile: "\(Self.root)/manifests/monitoring/prometheusrule.yaml", encoding: .utf8))
        #expect(operatorRule["kind"]?.string == "PrometheusRule")
        #expect(plain["groups"] != nil)
        #expect(sameContent(operatorRule["spec"]?["groups"], plain["groups"]))
    }

    /// Equal as YAML, wherever each node was written.
    func sameContent(_ a: YAMLNode?, _ b: YAMLNode?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case let (.scalar(x, px, _)?, .scalar(y, py, _)?): return x == y && px == py
        case let (.sequence(x, _)?, .sequence(y, _)?): return x.count == y.count && zip(x, y).allSatisfy { sameContent($0, $1) }
        case let (.mapping(x, _)?, .mapping(y, _)?):
            return x.count == y.count && zip(x, y).allSatisfy { sameContent($0.key, $1.key) && sameContent($0.value, $1.value) }
        default: return false
        }
    }
}
