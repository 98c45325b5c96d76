import Foundation
import Testing
import HTTPTransport
@testable import KubernetesClient
import YAML

@Suite struct KubeConfigTests {
    let base = """
    apiVersion: v1
    kind: Config
    current-context: dev
    clusters:
    - name: c1
      cluster:
        server: https://10.1.2.3:6443/
        certificate-authority-data: \(Data("PEMCA".utf8).base64EncodedString())
    - name: c2
      cluster: {server: "https://b:443", certificate-authority: ca.pem, insecure-skip-tls-verify: true}
    users:
    - name: u1
      user: {token: abc}
    - name: u2
      user:
        client-certificate: certs/me.crt
        client-key-data: \(Data("KEY".utf8).base64EncodedString())
        client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
    - name: u3
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1beta1
          command: aws
          args: [eks, get-token]
          env: [{name: AWS_PROFILE, value: prod}]
    contexts:
    - name: dev
      context: {cluster: c1, user: u1, namespace: shop}
    - name: prod
      context: {cluster: c2, user: u2}
    - name: eks
      context: {cluster: c1, user: u3}
    """

    @Test func currentContext() throws {
        let c = try KubeConfigLoader.fromText(base, path: "/home/u/.kube/config")
        #expect(c.server == "https://10.1.2.3:6443")
        #expect(c.credentials == .token("abc"))
        #expect(c.namespace == "shop")
        #expect(c.tls.certificateAuthorityData == Data("PEMCA".utf8))
        #expect(!c.tls.insecureSkipVerify)
    }

    @Test func contextOverrideAndRelativePaths() throws {
        let c = try KubeConfigLoader.fromText(base, path: "/home/u/.kube/config", context: "prod")
        #expect(c.tls.certificateAuthorityFile == "/home/u/.kube/ca.pem")
        #expect(c.tls.clientCertificateFile == "/home/u/.kube/certs/me.crt")
        #expect(c.tls.clientKeyData == Data("KEY".utf8))
        #expect(c.tls.insecureSkipVerify)
        #expect(c.namespace == "default")
    }

    @Test func execPlugin() throws {
        let c = try KubeConfigLoader.fromText(base, path: "/k", context: "eks")
        guard case .exec(let e) = c.credentials else { Issue.record("expected exec"); return }
        #expect(e.command == "aws")
        #expect(e.args == ["eks", "get-token"])
        #expect(e.env == ["AWS_PROFILE": "prod"])
    }

    @Test func execPluginRunsAndIsCached() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = "\(dir)/plugin.sh"
        try """
        #!/bin/sh
        echo run >> \(dir)/count
        echo "$KUBERNETES_EXEC_INFO" > \(dir)/info
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-'$MY_SUFFIX'","expirationTimestamp":"2099-01-01T00:00:00Z"}}'
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let exec = ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: script, args: [], env: ["MY_SUFFIX": "42"],
                              installHint: nil, provideClusterInfo: false, baseDirectory: dir)
        let p = CredentialProvider(credentials: .exec(exec), server: "https://x")
        #expect(try await p.authorizationHeader() == "Bearer tok-42")
        #expect(try await p.authorizationHeader() == "Bearer tok-42")
        let runs = try String(contentsOfFile: "\(dir)/count", encoding: .utf8).split(separator: "\n").count
        #expect(runs == 1)
        #expect(try String(contentsOfFile: "\(dir)/info", encoding: .utf8).contains("\"kind\":\"ExecCredential\""))
        await p.invalidate()
        _ = try await p.authorizationHeader()
        #expect(try String(contentsOfFile: "\(dir)/count", encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func failingExecPluginIsExplained() async throws {
        let exec = ExecConfig(apiVersion: "client.authentication.k8s.io/v1", command: "/bin/false", args: [], env: [:],
                              installHint: nil, provideClusterInfo: false, baseDirectory: "/")
        let p = CredentialProvider(credentials: .exec(exec), server: "https://x")
        await #expect(throws: CredentialError.self) { try await p.authorizationHeader() }
    }

    @Test func tokenFileIsReReadWhenItRotates() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID())").path
        try "first\n".write(toFile: path, atomically: true, encoding: .utf8)
        let p = CredentialProvider(credentials: .tokenFile(path), server: "https://x")
        #expect(try await p.authorizationHeader() == "Bearer first")
        try "second".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: path)
        #expect(try await p.authorizationHeader() == "Bearer second")
    }

    @Test func mergesFilesFirstWins() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kcm-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        clusters: [{name: c1, cluster: {server: "https://first"}}]
        users: [{name: u1, user: {token: first}}]
        """.write(toFile: "\(dir)/a", atomically: true, encoding: .utf8)
        try """
        current-context: x
        clusters: [{name: c1, cluster: {server: "https://second"}}]
        users: [{name: u1, user: {token: second}}]
        contexts: [{name: x, context: {cluster: c1, user: u1}}]
        """.write(toFile: "\(dir)/b", atomically: true, encoding: .utf8)
        let c = try KubeConfigLoader.load(environment: ["KUBECONFIG": "\(dir)/a:\(dir)/missing:\(dir)/b"])
        #expect(c.server == "https://first")
        #expect(c.credentials == .token("first"))
    }

    @Test(arguments: [
        ("clusters:\n- name: c\n  cluster:\n    certificate-authority-data: x\n", 4, "clusters[0].cluster.server", "missing"),
        ("clusters:\n- name: c\n  cluster: {server: ftp://x}\n", 3, "clusters[0].cluster.server", "must be an http"),
        ("users:\n- name: u\n  user:\n    client-certificate-data: '!!!'\n", 4, "users[0].user.client-certificate-data", "base64"),
        ("clusters: {a: b}\n", 1, "clusters", "expected a list"),
        ("users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\n", 4, "users[0].user.exec.apiVersion", "unsupported"),
        ("users:\n- name: u\n  user: {client-certificate: a.crt}\n", 3, "users[0].user", "together"),
    ])
    func errorsNameFileLineAndField(text: String, line: Int, field: String, problem: String) {
        do {
            _ = try KubeConfigLoader.fromText(text, path: "/cfg")
            Issue.record("expected an error for \(text)")
        } catch let e as KubeConfigError {
            #expect(e.file == "/cfg")
            #expect(e.line == line, "\(e)")
            #expect(e.field == field, "\(e)")
            #expect(e.problem.contains(problem), "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func unknownContextAndSyntaxErrors() {
        #expect(throws: KubeConfigError.self) { try KubeConfigLoader.fromText(base, path: "/c", context: "nope") }
        do { _ = try KubeConfigLoader.fromText("a: [b\n", path: "/c") } catch let e as KubeConfigError {
            #expect(e.line != nil)
            #expect(e.problem.contains("invalid YAML"))
        } catch { Issue.record("\(error)") }
    }

    @Test func inClusterConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "tok".write(toFile: "\(dir)/token", atomically: true, encoding: .utf8)
        try "CA".write(toFile: "\(dir)/ca.crt", atomically: true, encoding: .utf8)
        try "foresight-system\n".write(toFile: "\(dir)/namespace", atomically: true, encoding: .utf8)
        let c = try KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: dir)
        #expect(c.server == "https://[fd00::1]:443")
        #expect(c.credentials == .tokenFile("\(dir)/token"))
        #expect(c.namespace == "foresight-system")
        #expect(c.tls.certificateAuthorityFile == "\(dir)/ca.crt")
        #expect(throws: KubeConfigError.self) { try KubeConfigLoader.inCluster(environment: [:], serviceAccountDirectory: dir) }
    }
}

@Suite struct YAMLTests {
    @Test func anchorsMergeKeysAndMarks() throws {
        let n = try YAMLParser.parse("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n")
        #expect(n["derived"]?["x"]?.string == "1")
        #expect(n["derived"]?["y"]?.string == "3")
        #expect(n["derived"]?.mark.line == 3)
    }

    @Test func multipleDocumentsAndQuotedScalars() throws {
        let docs = try YAMLParser.parseAll("a: 'true'\n---\nb: true\n")
        #expect(docs.count == 2)
        guard case .scalar(_, let plain, _) = docs[0]["a"]! else { Issue.record("scalar"); return }
        #expect(!plain)
    }

    @Test func syntaxErrorHasPosition() {
        do { _ = try YAMLParser.parse("a: b\n  c: d\n"); Issue.record("expected error") } catch let e as YAMLSyntaxError {
            #expect(e.mark.line == 2)
        } catch { Issue.record("\(error)") }
    }
}
