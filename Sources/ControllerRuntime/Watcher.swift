import Foundation
import KubernetesClient
import KubernetesCore
import Logging

/// What a watcher reports. `restarted` carries the complete current list (after the first list and
/// after every relist); the others are changes since.
public enum WatcherEvent<K: KubernetesResource>: Sendable {
    case restarted([K])
    case applied(K)
    case deleted(K)
}

/// Jittered exponential backoff: 0.8 s doubling to 30 s, reset after a success.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    public var jitter: Double
    private var current: Double

    public init(initial: Double = 0.8, maximum: Double = 30, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.current = initial
    }

    /// The next delay in seconds.
    public mutating func next() -> Double {
        let d = current * (1 + Double.random(in: -jitter...jitter))
        current = min(current * 2, maximum)
        return d
    }

    public mutating func reset() { current = initial }
}

/// Lists then watches one kind, for ever, as an explicit state machine:
///
/// - `empty`: list every page (`limit` 500, following `continue`), yield `.restarted(all)`, then watch
///   from the list's resourceVersion;
/// - `watching(rv)`: stream events with bookmarks; each event or bookmark advances `rv`. When the
///   server closes the watch (its `timeoutSeconds`, randomised 5–10 min as client-go does) the
///   watcher re-watches from `rv` at once. A dropped connection re-watches from `rv` after a
///   jittered backoff; a `410 Gone` (resourceVersion too old) goes back to `empty` and relists.
///
/// Errors never end the stream: they are logged and retried with backoff. Cancel the consuming task to stop.
public struct Watcher<K: KubernetesResource>: Sendable {
    public let client: KubernetesClient
    public let namespace: String?
    public let labelSelector: String?
    public let fieldSelector: String?
    public var pageSize = 500
    /// Start by watching from this resourceVersion instead of listing (resuming; tests of 410 recovery).
    public var startingResourceVersion: String?
    let logger: Logger

    public init(client: KubernetesClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                logger: Logger = Logger(label: "foresight.watcher")) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        var l = logger
        l[metadataKey: "kind"] = "\(K.resource)"
        self.logger = l
    }

    enum State { case empty, watching(String) }

    public func events() -> AsyncStream<WatcherEvent<K>> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let task = Task {
                var state = startingResourceVersion.map { State.watching($0) } ?? State.empty
                var backoff = Backoff()
                while !Task.isCancelled {
                    switch state {
                    case .empty:
                        do {
                            let list = try await client.listAll(K.self, namespace: namespace,
                                                                options: ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector), pageSize: pageSize)
                            continuation.yield(.restarted(list.items))
                            state = .watching(list.metadata.resourceVersion ?? "0")
                            backoff.reset()
                        } catch {
                            if Task.isCancelled { break }
                            let delay = backoff.next()
                            logger.warning("list failed, retrying in \(String(format: "%.1f", delay)) s: \(error)")
                            try? await Task.sleep(for: .seconds(delay))
                        }
                    case .watching(let rv):
                        var current = rv
                        let timeout = Int.random(in: 300...600)
                        let options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: rv,
                                                  timeoutSeconds: timeout, allowWatchBookmarks: true)
                        do {
                            var gone = false
                            for try await event in client.watch(K.self, namespace: namespace, options: options) {
                                switch event {
                                case .added(let o), .modified(let o):
                                    current = o.metadata.resourceVersion ?? current
                                    continuation.yield(.applied(o))
                                case .deleted(let o):
                                    current = o.metadata.resourceVersion ?? current
                                    continuation.yield(.deleted(o))
                                case .bookmark(let v):
                                    current = v
                                case .error(let status):
                                    if status.code == 410 || status.reason == "Expired" || status.reason == "Gone" {
                                        gone = true
                                    } else {
                                        logger.warning("watch ended with \(status.code ?? 0) \(status.reason ?? ""): \(status.message ?? "")")
                                        try? await Task.sleep(for: .seconds(backoff.next()))
                                    }
                                }
                            }
                            backoff.reset()
                            state = gone ? .empty : .watching(current)
                            if gone { logger.info("resourceVersion \(current) expired (410 Gone); relisting") }
                        } catch {
                            if Task.isCancelled { break }
                            if let api = error.kubernetesAPIError, api.isGone {
                                logger.info("resourceVersion \(current) expired (410 Gone); relisting")
                                state = .empty
                                continue
                            }
                            let delay = backoff.next()
                            logger.warning("watch dropped, re-watching from \(current) in \(String(format: "%.1f", delay)) s: \(error)")
                            state = .watching(current)
                            try? await Task.sleep(for: .seconds(delay))
                        }
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
