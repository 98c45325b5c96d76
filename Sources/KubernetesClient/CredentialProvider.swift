import Foundation
import KubernetesCore

/// A credential plugin or token file that could not give a credential.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var problem: String
    public var description: String { "credentials from \(source): \(problem)" }
}

/// Produces the `Authorization` header for each request, from a fixed token, a token file that is
/// re-read when it changes (projected service-account tokens rotate), or an `exec` plugin whose
/// credential is cached until it expires or the server answers 401.
public actor CredentialProvider {
    private let credentials: Credentials
    private let server: String
    private var cachedToken: String?
    private var cachedExpiry: Date?
    private var tokenFileStamp: Date?

    public init(credentials: Credentials, server: String) {
        self.credentials = credentials
        self.server = server
    }

    /// The header value, or nil when the connection is unauthenticated (client certificates only).
    public func authorizationHeader() throws -> String? {
        switch credentials {
        case .none: return nil
        case .token(let t): return "Bearer \(t)"
        case .basic(let u, let p): return "Basic \(Data("\(u):\(p)".utf8).base64EncodedString())"
        case .tokenFile(let path):
            let stamp = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
            if cachedToken == nil || stamp != tokenFileStamp {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw CredentialError(source: path, problem: "token file cannot be read")
                }
                let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !token.isEmpty else { throw CredentialError(source: path, problem: "token file is empty") }
                cachedToken = token
                tokenFileStamp = stamp
            }
            return "Bearer \(cachedToken!)"
        case .exec(let config):
            if let t = cachedToken, cachedExpiry.map({ $0.timeIntervalSinceNow > 10 }) ?? true { return "Bearer \(t)" }
            let (token, expiry) = try Self.runExec(config, server: server)
            cachedToken = token
            cachedExpiry = expiry
            return "Bearer \(token)"
        }
    }

    /// Forget a cached credential after a 401, so the next request asks again.
    public func invalidate() {
        if case .exec = credentials { cachedToken = nil; cachedExpiry = nil }
        if case .tokenFile = credentials { cachedToken = nil }
    }

    /// Whether a 401 may be fixed by asking again.
    public nonisolated var canRefresh: Bool {
        switch credentials {
        case .exec, .tokenFile: return true
        default: return false
        }
    }

    static func runExec(_ config: ExecConfig, server: String) throws -> (String, Date?) {
        let process = Process()
        let command = config.command
        if command.contains("/") {
            process.executableURL = URL(fileURLWithPath: command.hasPrefix("/") ? command : "\(config.baseDirectory)/\(command)")
            process.arguments = config.args
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [command] + config.args
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in config.env { env[k] = v }
        var info: JSONValue = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential", "spec": ["interactive": false]]
        if config.provideClusterInfo {
            info = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential",
                    "spec": ["interactive": false, "cluster": ["server": .string(server)]]]
        }
        env["KUBERNETES_EXEC_INFO"] = info.description
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            var problem = "cannot start \(command): \(error.localizedDescription)"
            if let hint = config.installHint { problem += ". \(hint)" }
            throw CredentialError(source: "exec plugin \(command)", problem: problem)
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CredentialError(source: "exec plugin \(command)", problem: "exited with status \(process.terminationStatus): \(errText.suffix(400))")
        }
        struct ExecCredential: Decodable {
            var apiVersion: String?
            var kind: String?
            var status: Status?
            struct Status: Decodable { var token: String?; var expirationTimestamp: String?; var clientCertificateData: String? }
        }
        guard let cred = try? JSONDecoder().decode(ExecCredential.self, from: output) else {
            throw CredentialError(source: "exec plugin \(command)", problem: "output is not an ExecCredential: \(String(decoding: output.prefix(200), as: UTF8.self))")
        }
        guard cred.kind == "ExecCredential" else {
            throw CredentialError(source: "exec plugin \(command)", problem: "output kind is \(cred.kind ?? "missing"), expected ExecCredential")
        }
        if let v = cred.apiVersion, v != config.apiVersion {
            throw CredentialError(source: "exec plugin \(command)", problem: "output apiVersion \(v) does not match the requested \(config.apiVersion)")
        }
        guard let token = cred.status?.token, !token.isEmpty else {
            let why = cred.status?.clientCertificateData != nil ? "client certificates from exec plugins are not supported; use a token" : "status.token is missing"
            throw CredentialError(source: "exec plugin \(command)", problem: why)
        }
        return (token, cred.status?.expirationTimestamp.flatMap(Timestamp.parse))
    }
}
