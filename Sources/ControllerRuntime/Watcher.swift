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
/// - `empty`: list every page (`limit` 500, following `continue`), deliver `.restarted(all)`, then
///   watch from the list's resourceVersion;
/// - `watching(rv)`: stream events with bookmarks; each event or bookmark advances `rv`. When the
///   server closes the watch (its `timeoutSeconds`, randomised 5–10 min as client-go does) the
///   watcher re-watches from `rv` at once. A dropped connection re-watches from `rv` after a
///   jittered backoff; a `410 Gone` (resourceVersion too old) goes back to `empty` and relists.
/// - Each watch asks the server to end it after 240–300 s (`timeoutSeconds`; kube-rs uses 290,
///   client-go 5–10 min). The server closes it then, after a bookmark; a watch that receives no
///   byte for that long plus `stallMargin` seconds is taken as dead and re-watched, so a connection
///   that silently stopped forwarding is noticed within about 5.5 minutes. A peer that vanished
///   is noticed sooner, by TCP keepalives (about a minute).
///
/// `run` awaits each delivery before reading on, so a slow consumer slows the watch rather than
/// buffering it. The resource is `K.resource`, or `resource` when given, or (with
/// `discoverVersion`) `K.resource`'s group and kind in the version the server prefers.
///
/// Errors never end the loop: they are logged and retried with backoff. Cancel the task to stop.
public struct Watcher<K: KubernetesResource>: Sendable {
    public let client: KubernetesClient
    public let namespace: String?
    public let labelSelector: String?
    public let fieldSelector: String?
    public var pageSize = 500
    /// Start by watching from this resourceVersion instead of listing (resuming; tests of 410 recovery).
    public var startingResourceVersion: String?
    /// Where the kind is served, when not `K.resource`.
    public var resource: APIResource?
    /// Resolve the version by discovery before the first list.
    public var discoverVersion = false
    /// Seconds past a watch's own timeout, without a byte, before it is taken as dead.
    public var stallMargin: Int = 30
    let logger: Logger

    public init(client: KubernetesClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                resource: APIResource? = nil, discoverVersion: Bool = false, logger: Logger = Logger(label: "foresight.watcher")) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resource = resource
        self.discoverVersion = discoverVersion
        var l = logger
        l[metadataKey: "kind"] = "\(K.resource)"
        self.logger = l
    }

    enum State { case resolving, empty, watching(String) }

    /// The events as a stream (buffered without bound: for consumers that keep up; `run` is the
    /// form with backpressure).
    public func events() -> AsyncStream<WatcherEvent<K>> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let task = Task {
                await run { continuation.yield($0) }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Lists and watches until the calling task is cancelled, handing each event to `deliver` and
    /// waiting for it before reading the next.
    public func run(_ deliver: @Sendable (WatcherEvent<K>) async -> Void) async {
        var resolved = resource
        var state: State = discoverVersion && resolved == nil ? .resolving : startingResourceVersion.map { State.watching($0) } ?? State.empty
        var backoff = Backoff()
        while !Task.isCancelled {
            switch state {
            case .resolving:
                do {
                    resolved = try await client.resolvedResource(K.self)
                    logger.debug("\(K.resource.kind) is served as \(resolved!.apiVersion) \(resolved!.plural)")
                    state = startingResourceVersion.map { State.watching($0) } ?? State.empty
                    backoff.reset()
                } catch {
                    if Task.isCancelled { break }
                    let delay = backoff.next()
                    logger.warning("cannot resolve \(K.resource.kind) by discovery, retrying in \(String(format: "%.1f", delay)) s: \(error)")
                    try? await Task.sleep(for: .seconds(delay))
                }
            case .empty:
                do {
                    let list = try await client.listAll(K.self, namespace: namespace, options: ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector),
                                                        pageSize: pageSize, resource: resolved)
                    await deliver(.restarted(list.items))
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
                let timeout = Int.random(in: 240...300)
                let options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: rv,
                                          timeoutSeconds: timeout, allowWatchBookmarks: true)
                do {
                    var gone = false
                    for try await event in client.watch(K.self, namespace: namespace, options: options, resource: resolved, stallSeconds: timeout + stallMargin) {
                        switch event {
                        case .added(let o), .modified(let o):
                            current = o.metadata.resourceVersion ?? current
                            await deliver(.applied(o))
                        case .deleted(let o):
                            current = o.metadata.resourceVersion ?? current
                            await deliver(.deleted(o))
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
                    if let api = error.kubernetesAPIError, api.statusCode == 404, discoverVersion {
                        state = .resolving  // the version went away (an upgraded CRD): ask discovery again
                        resolved = nil
                    } else {
                        state = .watching(current)
                    }
                    let delay = backoff.next()
                    logger.warning("watch dropped, re-watching from \(current) in \(String(format: "%.1f", delay)) s: \(error)")
                    try? await Task.sleep(for: .seconds(delay))
                }
            }
        }
    }
}
