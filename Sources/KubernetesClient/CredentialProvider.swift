import Foundation
import KubernetesCore

/// A credential plugin or token file that could not give a credential.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var problem: String
    public var description: String { "credentials from \(source): \(problem)" }
}

/// Produces the `Authorization` header for each request, from a fixed token, a token file, or an
/// `exec` plugin whose credential is cached until it expires or the server answers 401.
///
/// A token file is re-read when what it points to changes. Projected service-account tokens rotate
/// by swapping a `..data` symlink, so the `token` path itself never changes: the file is identified
/// by its resolved path, inode, size and modification time, checked on each request (a few system
/// calls), and re-read at least every `tokenFileMaximumAge` seconds whatever they say.
public actor CredentialProvider {
    private let credentials: Credentials
    private let server: String
    private var cachedToken: String?
    private var cachedExpiry: Date?
    private var tokenFileIdentity: FileIdentity?
    private var tokenFileReadAt: Date?
    private var execInFlight: Task<(String, Date?), Error>?
    /// How long an exec plugin may run before it is killed.
    public let execTimeout: Double
    public let tokenFileMaximumAge: Double

    public init(credentials: Credentials, server: String, execTimeout: Double = 60, tokenFileMaximumAge: Double = 60) {
        self.credentials = credentials
        self.server = server
        self.execTimeout = execTimeout
        self.tokenFileMaximumAge = tokenFileMaximumAge
    }

    /// The header value, or nil when the connection is unauthenticated (client certificates only).
    public func authorizationHeader() async throws -> String? {
        switch credentials {
        case .none: return nil
        case .token(let t): return "Bearer \(t)"
        case .basic(let u, let p): return "Basic \(Data("\(u):\(p)".utf8).base64EncodedString())"
        case .tokenFile(let path):
            let identity = FileIdentity(path: path)
            let stale = tokenFileReadAt.map { -$0.timeIntervalSinceNow > tokenFileMaximumAge } ?? true
            if cachedToken == nil || identity != tokenFileIdentity || stale {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw CredentialError(source: path, problem: "token file cannot be read")
                }
                let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !token.isEmpty else { throw CredentialError(source: path, problem: "token file is empty") }
                cachedToken = token
                tokenFileIdentity = identity
                tokenFileReadAt = Date()
            }
            return "Bearer \(cachedToken!)"
        case .exec(let config):
            if let t = cachedToken, cachedExpiry.map({ $0.timeIntervalSinceNow > 10 }) ?? true { return "Bearer \(t)" }
            // One plugin run serves every request waiting for it.
            let run = execInFlight ?? Task { [server, execTimeout] in
                // On a thread of its own: the plugin may run for up to `execTimeout`, which must not
                // hold one of the few threads of Swift's cooperative pool.
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<(String, Date?), Error>) in
                    Thread { c.resume(with: Result { try Self.runExec(config, server: server, timeout: execTimeout) }) }.start()
                }
            }
            execInFlight = run
            defer { execInFlight = nil }
            let (token, expiry) = try await run.value
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

    /// Runs the plugin (with a time limit, reading both of its pipes at once) and reads its
    /// ExecCredential. Its standard output holds the secret, so no error message ever quotes it;
    /// its standard error, meant for the user, is quoted.
    static func runExec(_ config: ExecConfig, server: String, timeout: Double) throws -> (String, Date?) {
        let command = config.command
        let executable: String, arguments: [String]
        if command.contains("/") {
            executable = command.hasPrefix("/") ? command : "\(config.baseDirectory)/\(command)"
            arguments = config.args
        } else {
            executable = "/usr/bin/env"
            arguments = [command] + config.args
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in config.env { env[k] = v }
        var info: JSONValue = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential", "spec": ["interactive": false]]
        if config.provideClusterInfo {
            info = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential",
                    "spec": ["interactive": false, "cluster": ["server": .string(server)]]]
        }
        env["KUBERNETES_EXEC_INFO"] = info.description
        let result: ChildProcessResult
        do { result = try runChildProcess(executable: executable, arguments: arguments, environment: env, timeout: timeout) } catch {
            var problem = "cannot start \(command): \(error)"
            if let hint = config.installHint { problem += ". \(hint)" }
            throw CredentialError(source: "exec plugin \(command)", problem: problem)
        }
        let errText = String(decoding: result.errorOutput.suffix(400), as: UTF8.self)
        if result.timedOut {
            throw CredentialError(source: "exec plugin \(command)", problem: "did not finish within \(Int(timeout)) s and was killed")
        }
        guard result.status == 0 else {
            var problem = "exited with status \(result.status): \(errText)"
            if result.status == 127, let hint = config.installHint { problem += ". \(hint)" }
            throw CredentialError(source: "exec plugin \(command)", problem: problem)
        }
        let output = result.output
        struct ExecCredential: Decodable {
            var apiVersion: String?
            var kind: String?
            var status: Status?
            struct Status: Decodable { var token: String?; var expirationTimestamp: String?; var clientCertificateData: String? }
        }
        guard let cred = try? JSONDecoder().decode(ExecCredential.self, from: output) else {
            throw CredentialError(source: "exec plugin \(command)", problem: "its output (\(output.count) bytes, not shown: it may hold a secret) is not an ExecCredential")
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

/// Identifies the file a path leads to now (through symlinks): when any part changes, the file
/// was replaced or rewritten.
struct FileIdentity: Equatable {
    var resolvedPath: String
    var inode: UInt64
    var size: Int64
    var modified: Int64

    init?(path: String) {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        var st = stat()
        guard stat(resolved, &st) == 0 else { return nil }
        resolvedPath = String(cString: resolved)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}
