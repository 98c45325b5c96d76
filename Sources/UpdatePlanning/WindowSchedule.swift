import Foundation

/// When an UpdateWindow is open: once (`start` for `duration`) or at every occurrence of a cron
/// schedule in a time zone (each occurrence open for `duration`).
public enum WindowSchedule: Sendable, Equatable {
    case once(start: Date, duration: TimeInterval)
    case recurring(CronSchedule, timeZone: TimeZone, duration: TimeInterval)

    /// An open interval of time.
    public struct Occurrence: Sendable, Equatable {
        public var start: Date
        public var end: Date
        public init(start: Date, end: Date) {
            self.start = start
            self.end = end
        }
        public func contains(_ t: Date) -> Bool { t >= start && t < end }
    }

    /// The occurrence open at `now`, if any.
    public func current(at now: Date) -> Occurrence? {
        switch self {
        case .once(let start, let duration):
            let o = Occurrence(start: start, end: start.addingTimeInterval(duration))
            return o.contains(now) ? o : nil
        case .recurring(let cron, let tz, let duration):
            // The first occurrence starting after (now − duration) is the open one if it has started.
            guard let start = cron.next(after: now.addingTimeInterval(-duration - 1), in: tz), start <= now else { return nil }
            let o = Occurrence(start: start, end: start.addingTimeInterval(duration))
            return o.contains(now) ? o : nil
        }
    }

    /// The next occurrence that starts after `now` (nil for a one-off that has started, or a cron
    /// that never fires).
    public func next(after now: Date) -> Occurrence? {
        switch self {
        case .once(let start, let duration):
            return start > now ? Occurrence(start: start, end: start.addingTimeInterval(duration)) : nil
        case .recurring(let cron, let tz, let duration):
            return cron.next(after: now, in: tz).map { Occurrence(start: $0, end: $0.addingTimeInterval(duration)) }
        }
    }

    /// Every occurrence open at some time in `from`..<`to`, in order: the one open at `from`, then
    /// each next one that starts before `to`.
    public func occurrences(from: Date, to: Date) -> [Occurrence] {
        var out: [Occurrence] = []
        var at = from
        while let w = current(at: at) ?? next(after: at), w.start < to {
            out.append(w)
            at = w.end
        }
        return out
    }

    /// Whether a one-off window has closed for good.
    public func hasExpired(at now: Date) -> Bool {
        if case .once(let start, let duration) = self { return now >= start.addingTimeInterval(duration) }
        return false
    }
}
