import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// Records Kubernetes Events on the objects the controller acts on (what `kubectl describe`
/// shows). Repeats of the same reason and message on the same object are folded into one Event
/// whose `count` grows. Recording never fails the caller: errors are logged.
public actor EventRecorder {
    public let client: KubernetesClient
    public let component: String
    public let host: String
    private let logger: Logger
    private var seen: [String: (name: String, namespace: String, count: Int)] = [:]

    public init(client: KubernetesClient, component: String = "foresight-controller", host: String = ProcessInfo.processInfo.hostName,
                logger: Logger = Logger(label: "foresight.events")) {
        self.client = client
        self.component = component
        self.host = host
        self.logger = logger
    }

    public enum Kind: String, Sendable { case normal = "Normal", warning = "Warning" }

    /// Records one Event. Cluster-scoped objects get their Events in `default`, as kubectl expects.
    public func record(_ object: ObjectReference, _ kind: Kind, reason: String, message: String) async {
        let namespace = (object.namespace?.isEmpty ?? true) ? "default" : object.namespace!
        let key = "\(object.uid ?? object.name ?? "")|\(kind.rawValue)|\(reason)|\(message)"
        let now = Timestamp.format(Date())
        if let previous = seen[key] {
            let count = previous.count + 1
            do {
                try await client.patch(Event.self, namespace: previous.namespace, name: previous.name,
                                       body: ["count": .int(count), "lastTimestamp": .string(now)])
                seen[key] = (previous.name, previous.namespace, count)
                return
            } catch let e as ClientError where e.apiError?.isNotFound == true {
                seen[key] = nil  // expired (event TTL): create afresh
            } catch {
                logger.warning("event \(reason) on \(object.name ?? ""): \(error)")
                return
            }
        }
        let name = "\(object.name ?? "object").\(String(UInt64(Date().timeIntervalSince1970 * 1e9), radix: 16))"
        var involved: [(String, JSONValue)] = []
        if let v = object.apiVersion { involved.append(("apiVersion", .string(v))) }
        if let v = object.kind { involved.append(("kind", .string(v))) }
        if let v = object.namespace, !v.isEmpty { involved.append(("namespace", .string(v))) }
        if let v = object.name { involved.append(("name", .string(v))) }
        if let v = object.uid { involved.append(("uid", .string(v))) }
        let body: JSONValue = [
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "involvedObject": .object(involved),
            "reason": .string(reason), "message": .string(String(message.prefix(1024))), "type": .string(kind.rawValue),
            "count": 1, "firstTimestamp": .string(now), "lastTimestamp": .string(now),
            "source": ["component": .string(component), "host": .string(host)],
            "reportingComponent": .string(component), "reportingInstance": .string(host),
        ]
        do {
            try await client.create(Event.self, namespace: namespace, body: body)
            seen[key] = (name, namespace, 1)
            if seen.count > 4096 { seen.removeAll() }
        } catch {
            logger.warning("event \(reason) on \(object.name ?? ""): \(error)")
        }
    }
}
