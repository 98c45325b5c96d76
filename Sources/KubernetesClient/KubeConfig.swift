import Foundation
import HTTPTransport
import YAML

/// A kubeconfig that cannot be used, naming the file, the line and the field at fault.
public struct KubeConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var field: String?
    public var problem: String

    public init(file: String, line: Int? = nil, field: String? = nil, problem: String) {
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
    }

    public var description: String {
        var s = "kubeconfig \(file)"
        if let line { s += ":\(line)" }
        if let field { s += ": \(field)" }
        return s + ": \(problem)"
    }
}

/// An `exec` credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`), as EKS and GKE use.
public struct ExecConfig: Sendable, Equatable {
    public var apiVersion: String
    public var command: String
    public var args: [String]
    public var env: [String: String]
    public var installHint: String?
    public var provideClusterInfo: Bool
    /// The directory of the kubeconfig that named the plugin; a relative command resolves against it.
    public var baseDirectory: String

    public init(apiVersion: String, command: String, args: [String], env: [String: String], installHint: String?, provideClusterInfo: Bool, baseDirectory: String) {
        self.apiVersion = apiVersion
        self.command = command
        self.args = args
        self.env = env
        self.installHint = installHint
        self.provideClusterInfo = provideClusterInfo
        self.baseDirectory = baseDirectory
    }
}

/// How requests are authenticated.
public enum Credentials: Sendable, Equatable {
    case none
    case token(String)
    /// Re-read when the file changes (projected service-account tokens rotate).
    case tokenFile(String)
    case exec(ExecConfig)
    case basic(username: String, password: String)
}

/// Everything needed to talk to one API server as one user.
public struct ClusterConnection: Sendable, Equatable {
    public var server: String
    public var tls: TLSConfiguration
    public var credentials: Credentials
    /// The default namespace of the context (or of the service account in-cluster).
    public var namespace: String
    /// Where it came from, for messages.
    public var origin: String

    public init(server: String, tls: TLSConfiguration = TLSConfiguration(), credentials: Credentials = .none, namespace: String = "default", origin: String = "") {
        self.server = server
        self.tls = tls
        self.credentials = credentials
        self.namespace = namespace
        self.origin = origin
    }
}

/// Loads connection settings the way kubectl does.
public enum KubeConfigLoader {
    /// `--kubeconfig` if given, else `$KUBECONFIG` (several files, merged), else `~/.kube/config`,
    /// else the in-cluster service account.
    public static func load(explicitPath: String? = nil, context: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClusterConnection {
        if let explicitPath { return try fromFiles([explicitPath], context: context) }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let paths = list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
            return try fromFiles(paths, context: context)
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let defaultPath = "\(home)/.kube/config"
        if FileManager.default.fileExists(atPath: defaultPath) { return try fromFiles([defaultPath], context: context) }
        if environment["KUBERNETES_SERVICE_HOST"] != nil { return try inCluster(environment: environment) }
        throw KubeConfigError(file: defaultPath, problem: "no kubeconfig found (set KUBECONFIG or --kubeconfig) and not running in a cluster")
    }

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`PORT`, the service account's token
    /// (re-read when rotated), CA and namespace.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount") throws -> ClusterConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubeConfigError(file: serviceAccountDirectory, problem: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set in a cluster")
        }
        let tokenPath = "\(serviceAccountDirectory)/token"
        guard FileManager.default.fileExists(atPath: tokenPath) else {
            throw KubeConfigError(file: tokenPath, problem: "service account token not found")
        }
        let caPath = "\(serviceAccountDirectory)/ca.crt"
        let namespace = (try? String(contentsOfFile: "\(serviceAccountDirectory)/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "default"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClusterConnection(server: "https://\(hostPart):\(port)",
                                 tls: TLSConfiguration(certificateAuthorityFile: FileManager.default.fileExists(atPath: caPath) ? caPath : nil),
                                 credentials: .tokenFile(tokenPath), namespace: namespace.isEmpty ? "default" : namespace,
                                 origin: "in-cluster service account")
    }

    /// Merges the files as kubectl does: the first file to define a cluster, user or context by a
    /// name wins, and the first `current-context` set wins. Missing files in a list are skipped,
    /// as kubectl skips them; a single missing file is an error.
    public static func fromFiles(_ paths: [String], context: String? = nil) throws -> ClusterConnection {
        var files: [ParsedFile] = []
        for path in paths {
            guard FileManager.default.fileExists(atPath: path) else {
                if paths.count == 1 { throw KubeConfigError(file: path, problem: "file not found") }
                continue
            }
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw KubeConfigError(file: path, problem: "cannot read: \(error.localizedDescription)")
            }
            files.append(try ParsedFile(path: path, text: text))
        }
        guard !files.isEmpty else { throw KubeConfigError(file: paths.joined(separator: ":"), problem: "none of the files exists") }
        return try resolve(files, context: context)
    }

    /// Parses one kubeconfig text (used by tests and by `fromFiles`).
    public static func fromText(_ text: String, path: String, context: String? = nil) throws -> ClusterConnection {
        try resolve([try ParsedFile(path: path, text: text)], context: context)
    }

    static func resolve(_ files: [ParsedFile], context requested: String?) throws -> ClusterConnection {
        func first<T>(_ pick: (ParsedFile) -> T?) -> (T, ParsedFile)? {
            for f in files { if let v = pick(f) { return (v, f) } }
            return nil
        }
        let contextName: String
        if let requested { contextName = requested } else if let (c, _) = first({ $0.currentContext }) { contextName = c } else {
            throw KubeConfigError(file: files[0].path, field: "current-context", problem: "no current-context is set and no --context was given")
        }
        guard let (ctx, ctxFile) = first({ $0.contexts[contextName] }) else {
            throw KubeConfigError(file: files.map(\.path).joined(separator: ":"), field: "contexts", problem: "context \"\(contextName)\" not found")
        }
        guard let (cluster, _) = first({ $0.clusters[ctx.cluster] }) else {
            throw KubeConfigError(file: ctxFile.path, line: ctx.line, field: "contexts[\(contextName)].context.cluster", problem: "cluster \"\(ctx.cluster)\" not found")
        }
        var credentials = Credentials.none
        var tls = TLSConfiguration(insecureSkipVerify: cluster.insecureSkipTLSVerify)
        tls.certificateAuthorityFile = cluster.certificateAuthority
        tls.certificateAuthorityData = cluster.certificateAuthorityData
        if let userName = ctx.user, !userName.isEmpty {
            guard let (user, _) = first({ $0.users[userName] }) else {
                throw KubeConfigError(file: ctxFile.path, line: ctx.line, field: "contexts[\(contextName)].context.user", problem: "user \"\(userName)\" not found")
            }
            tls.clientCertificateFile = user.clientCertificate
            tls.clientCertificateData = user.clientCertificateData
            tls.clientKeyFile = user.clientKey
            tls.clientKeyData = user.clientKeyData
            if let t = user.token { credentials = .token(t) } else if let f = user.tokenFile { credentials = .tokenFile(f) } else if let e = user.exec { credentials = .exec(e) } else if let u = user.username, let p = user.password { credentials = .basic(username: u, password: p) }
        }
        return ClusterConnection(server: cluster.server, tls: tls, credentials: credentials, namespace: ctx.namespace ?? "default",
                                 origin: "context \(contextName) of \(files.map(\.path).joined(separator: ":"))")
    }
}

// MARK: - parsing one file

struct ParsedFile {
    struct Cluster { var server: String; var certificateAuthority: String?; var certificateAuthorityData: Data?; var insecureSkipTLSVerify: Bool }
    struct User {
        var token: String?; var tokenFile: String?
        var clientCertificate: String?; var clientCertificateData: Data?
        var clientKey: String?; var clientKeyData: Data?
        var exec: ExecConfig?
        var username: String?; var password: String?
    }
    struct Context { var cluster: String; var user: String?; var namespace: String?; var line: Int }

    let path: String
    var currentContext: String?
    var clusters: [String: Cluster] = [:]
    var users: [String: User] = [:]
    var contexts: [String: Context] = [:]

    init(path: String, text: String) throws {
        self.path = path
        let baseDirectory = (path as NSString).deletingLastPathComponent
        let root: YAMLNode
        do {
            let docs = try YAMLParser.parseAll(text)
            guard let first = docs.first else { return }  // an empty file contributes nothing
            root = first
        } catch let e as YAMLSyntaxError {
            throw KubeConfigError(file: path, line: e.mark.line, problem: "invalid YAML: \(e.problem)")
        }
        let r = Reader(file: path)
        guard case .mapping = root else { throw r.error(root, "", "the document must be a mapping, found a \(root.kindName)") }

        if let cc = root["current-context"], !cc.isNull { currentContext = try r.string(cc, "current-context") }

        func resolvePath(_ p: String?) -> String? {
            guard let p, !p.isEmpty else { return nil }
            return p.hasPrefix("/") ? p : "\(baseDirectory)/\(p)"
        }

        for (i, item) in try r.list(root["clusters"], "clusters").enumerated() {
            let f = "clusters[\(i)]"
            let name = try r.requiredString(item, "name", f)
            guard let c = item["cluster"] else { throw r.error(item, "\(f).cluster", "missing") }
            let server = try r.requiredString(c, "server", "\(f).cluster")
            guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
                throw r.error(c["server"]!, "\(f).cluster.server", "must be an http:// or https:// URL, got \"\(server)\"")
            }
            let caData = try r.optionalBase64(c, "certificate-authority-data", "\(f).cluster")
            let skip = try r.optionalBool(c, "insecure-skip-tls-verify", "\(f).cluster") ?? false
            if clusters[name] == nil {
                clusters[name] = Cluster(server: server.hasSuffix("/") ? String(server.dropLast()) : server,
                                         certificateAuthority: resolvePath(try r.optionalString(c, "certificate-authority", "\(f).cluster")),
                                         certificateAuthorityData: caData, insecureSkipTLSVerify: skip)
            }
        }
        for (i, item) in try r.list(root["users"], "users").enumerated() {
            let f = "users[\(i)]"
            let name = try r.requiredString(item, "name", f)
            let u = item["user"] ?? .mapping([], mark: item.mark)
            let uf = "\(f).user"
            var user = User()
            user.token = try r.optionalString(u, "token", uf)
            user.tokenFile = resolvePath(try r.optionalString(u, "tokenFile", uf))
            user.clientCertificate = resolvePath(try r.optionalString(u, "client-certificate", uf))
            user.clientCertificateData = try r.optionalBase64(u, "client-certificate-data", uf)
            user.clientKey = resolvePath(try r.optionalString(u, "client-key", uf))
            user.clientKeyData = try r.optionalBase64(u, "client-key-data", uf)
            user.username = try r.optionalString(u, "username", uf)
            user.password = try r.optionalString(u, "password", uf)
            if (user.clientCertificate != nil || user.clientCertificateData != nil) != (user.clientKey != nil || user.clientKeyData != nil) {
                throw r.error(u, uf, "client-certificate and client-key must be given together")
            }
            if let e = u["exec"], !e.isNull {
                let ef = "\(uf).exec"
                let apiVersion = try r.requiredString(e, "apiVersion", ef)
                guard ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"].contains(apiVersion) else {
                    throw r.error(e["apiVersion"]!, "\(ef).apiVersion", "unsupported \"\(apiVersion)\" (client.authentication.k8s.io/v1 or v1beta1)")
                }
                let command = try r.requiredString(e, "command", ef)
                var args: [String] = []
                for (j, a) in try r.list(e["args"], "\(ef).args").enumerated() { args.append(try r.string(a, "\(ef).args[\(j)]")) }
                var env: [String: String] = [:]
                for (j, pair) in try r.list(e["env"], "\(ef).env").enumerated() {
                    env[try r.requiredString(pair, "name", "\(ef).env[\(j)]")] = try r.requiredString(pair, "value", "\(ef).env[\(j)]")
                }
                user.exec = ExecConfig(apiVersion: apiVersion, command: command, args: args, env: env,
                                       installHint: try r.optionalString(e, "installHint", ef),
                                       provideClusterInfo: try r.optionalBool(e, "provideClusterInfo", ef) ?? false,
                                       baseDirectory: baseDirectory)
            }
            if users[name] == nil { users[name] = user }
        }
        for (i, item) in try r.list(root["contexts"], "contexts").enumerated() {
            let f = "contexts[\(i)]"
            let name = try r.requiredString(item, "name", f)
            guard let c = item["context"] else { throw r.error(item, "\(f).context", "missing") }
            let ctx = Context(cluster: try r.requiredString(c, "cluster", "\(f).context"), user: try r.optionalString(c, "user", "\(f).context"),
                              namespace: try r.optionalString(c, "namespace", "\(f).context"), line: c.mark.line)
            if contexts[name] == nil { contexts[name] = ctx }
        }
    }

    /// Field readers that turn shape errors into `KubeConfigError`s with line and field.
    struct Reader {
        let file: String
        func error(_ node: YAMLNode, _ field: String, _ problem: String) -> KubeConfigError {
            KubeConfigError(file: file, line: node.mark.line, field: field.isEmpty ? nil : field, problem: problem)
        }
        func string(_ node: YAMLNode, _ field: String) throws -> String {
            guard case .scalar(let s, _, _) = node else { throw error(node, field, "expected a string, found a \(node.kindName)") }
            return s
        }
        func list(_ node: YAMLNode?, _ field: String) throws -> [YAMLNode] {
            guard let node, !node.isNull else { return [] }
            guard case .sequence(let items, _) = node else { throw error(node, field, "expected a list, found a \(node.kindName)") }
            return items
        }
        func requiredString(_ parent: YAMLNode, _ key: String, _ field: String) throws -> String {
            guard case .mapping = parent else { throw error(parent, field, "expected a mapping, found a \(parent.kindName)") }
            guard let v = parent[key], !v.isNull else { throw error(parent, "\(field).\(key)", "missing") }
            let s = try string(v, "\(field).\(key)")
            if s.isEmpty { throw error(v, "\(field).\(key)", "must not be empty") }
            return s
        }
        func optionalString(_ parent: YAMLNode, _ key: String, _ field: String) throws -> String? {
            guard let v = parent[key], !v.isNull else { return nil }
            return try string(v, "\(field).\(key)")
        }
        func optionalBool(_ parent: YAMLNode, _ key: String, _ field: String) throws -> Bool? {
            guard let v = parent[key], !v.isNull else { return nil }
            switch try string(v, "\(field).\(key)").lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw error(v, "\(field).\(key)", "expected true or false")
            }
        }
        func optionalBase64(_ parent: YAMLNode, _ key: String, _ field: String) throws -> Data? {
            guard let s = try optionalString(parent, key, field) else { return nil }
            let cleaned = s.filter { !$0.isWhitespace }
            guard let d = Data(base64Encoded: cleaned), !d.isEmpty else { throw error(parent[key]!, "\(field).\(key)", "not valid base64") }
            return d
        }
    }
}
