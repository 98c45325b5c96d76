import Foundation
import Testing
import YAML

/// The Dockerfile and the manifests that run its images agree: the controller's Deployment runs as
/// the image's user, non-root, with the restrictions hack/image-test.sh proves the image runs
/// under; the node agent's DaemonSet uses the image target that has the shell and `nsenter` its
/// command needs.
@Suite struct ImageManifestTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Each stage of the Dockerfile (by its `AS` name) with its instructions.
    static func dockerfileStages() throws -> [String: [String]] {
        let text = try String(contentsOfFile: "\(root)/Dockerfile", encoding: .utf8)
        var stages: [String: [String]] = [:], current: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("FROM ") {
                let words = line.split(separator: " ").map(String.init)
                current = words.count >= 4 && words[2].uppercased() == "AS" ? words[3] : nil
                if let current { stages[current] = [line] }
            } else if let current, !line.hasPrefix("#") {
                stages[current, default: []].append(line)
            }
        }
        return stages
    }

    @Test func theControllerDeploymentRunsAsTheImagesUser() throws {
        let stages = try Self.dockerfileStages()
        let controller = try #require(stages["controller"], "the Dockerfile has a controller stage")
        #expect(try Self.dockerfileLastStage() == "controller", "the default target is the controller image")
        let user = try #require(controller.last { $0.hasPrefix("USER ") }?.dropFirst(5), "the controller image sets its user")
        let parts = user.split(separator: ":").map { Int($0) }
        #expect(parts.count == 2 && parts.allSatisfy { $0 != nil && $0 != 0 }, "numeric, non-root user and group: \(user)")
        #expect(controller.first?.hasPrefix("FROM scratch") == true, "no base: nothing but what the binary needs")

        let deployment = try YAMLParser.parse(String(contentsOfFile: "\(Self.root)/manifests/deployment.yaml", encoding: .utf8))
        let pod = try #require(deployment["spec"]?["template"]?["spec"])
        let podSecurity = try #require(pod["securityContext"])
        #expect(podSecurity["runAsNonRoot"]?.string == "true")
        #expect(podSecurity["runAsUser"]?.string == parts.first.flatMap { $0.map(String.init) }, "runAsUser is the image's user")
        #expect(podSecurity["runAsGroup"]?.string == parts.last.flatMap { $0.map(String.init) }, "runAsGroup is the image's group")
        let container = try #require(pod["containers"]?[0])
        #expect(container["securityContext"]?["readOnlyRootFilesystem"]?.string == "true")
        #expect(container["securityContext"]?["allowPrivilegeEscalation"]?.string == "false")
        #expect(container["securityContext"]?["capabilities"]?["drop"]?[0]?.string == "ALL")
        #expect(container["readinessProbe"]?["httpGet"]?["path"]?.string == "/readyz")
        #expect(container["livenessProbe"]?["httpGet"]?["path"]?.string == "/healthz")
        // The image's default command serves metrics where the probes look.
        let cmd = try #require(controller.last { $0.hasPrefix("CMD ") })
        let port = try #require(container["ports"]?[0]?["containerPort"]?.string)
        #expect(cmd.contains(":\(port)"), "the image's CMD listens on the probed port \(port): \(cmd)")
    }

    @Test func theNodeAgentUsesTheImageWithAShell() throws {
        let stages = try Self.dockerfileStages()
        let agent = try #require(stages["node-agent"], "the Dockerfile has a node-agent stage")
        #expect(agent.first?.contains("RUNTIME_IMAGE") == true, "built on Debian, which has /bin/sh and nsenter")
        let daemonSet = try String(contentsOfFile: "\(Self.root)/manifests/node-agent/daemonset.yaml", encoding: .utf8)
        #expect(daemonSet.contains("image: ghcr.io/foresight-dev/foresight-node-agent:"), "the DaemonSet runs the node-agent image")
    }

    static func dockerfileLastStage() throws -> String? {
        let text = try String(contentsOfFile: "\(root)/Dockerfile", encoding: .utf8)
        return text.split(separator: "\n").last { $0.hasPrefix("FROM ") }.map { $0.split(separator: " ").last.map(String.init) ?? "" }
    }
}
