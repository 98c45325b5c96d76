import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), evaluated on the
/// wall clock of a time zone, as cron does it:
///
/// - fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`; months and
///   weekdays also take names (`JAN`, `SUN`); weekday 7 is Sunday like 0;
/// - when both day-of-month and day-of-week are restricted, a day matches if *either* does;
/// - daylight saving: a wall-clock time that does not exist on a day (the hour skipped in spring)
///   does not fire that day; a time that occurs twice (the hour repeated in autumn) fires once, at
///   its first occurrence.
public struct CronSchedule: Sendable, Equatable {
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let daysOfMonth: Set<Int>
    public let months: Set<Int>
    public let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public var problem: String
        public var description: String { problem }
    }

    public init(_ expression: String) throws {
        let fields = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else { throw ParseError(problem: "\"\(expression)\" has \(fields.count) fields; cron needs five (minute hour day-of-month month day-of-week)") }
        minutes = try Self.field(fields[0], "minute", 0...59, names: [:])
        hours = try Self.field(fields[1], "hour", 0...23, names: [:])
        daysOfMonth = try Self.field(fields[2], "day-of-month", 1...31, names: [:])
        months = try Self.field(fields[3], "month", 1...12, names: ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12])
        var dow = try Self.field(fields[4], "day-of-week", 0...7, names: ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6])
        if dow.contains(7) { dow.remove(7); dow.insert(0) }
        daysOfWeek = dow
        dayOfMonthRestricted = fields[2] != "*" && fields[2] != "?"
        dayOfWeekRestricted = fields[4] != "*" && fields[4] != "?"
    }

    static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String: Int]) throws -> Set<Int> {
        func value(_ s: Substring) throws -> Int {
            if let n = Int(s), range.contains(n) { return n }
            if let n = names[s.uppercased()] { return n }
            throw ParseError(problem: "\(name) \"\(s)\" is not in \(range.lowerBound)-\(range.upperBound)\(names.isEmpty ? "" : " or a name")")
        }
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw ParseError(problem: "\(name) \"\(text)\" has an empty list item") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(problem: "\(name) \"\(part)\" has more than one /") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw ParseError(problem: "\(name) step \"\(pieces[1])\" must be a positive number") }
                step = s
            }
            let base = pieces[0]
            var lo = range.lowerBound, hi = range.upperBound
            if base == "*" || base == "?" {
            } else if let dash = base.firstIndex(of: "-") {
                lo = try value(base[..<dash])
                hi = try value(base[base.index(after: dash)...])
                guard lo <= hi else { throw ParseError(problem: "\(name) range \"\(base)\" runs backwards") }
            } else {
                lo = try value(base)
                hi = pieces.count == 2 ? range.upperBound : lo
            }
            out.formUnion(stride(from: lo, through: hi, by: step))
        }
        return out
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }

    /// The first time strictly after `date` that the schedule fires in `timeZone`, within
    /// `searchYears` (nil when it never does, like `0 0 31 2 *`).
    public func next(after date: Date, in timeZone: TimeZone, searchYears: Int = 5) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        var day = calendar.startOfDay(for: date)
        for _ in 0..<(366 * searchYears) {
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if months.contains(c.month!), dayMatches(day: c.day!, weekday: c.weekday! - 1) {
                for h in sortedHours {
                    for m in sortedMinutes {
                        var want = DateComponents()
                        want.year = c.year; want.month = c.month; want.day = c.day; want.hour = h; want.minute = m
                        guard let t = calendar.date(from: want) else { continue }
                        // A wall-clock time that does not exist today (skipped by DST) is shifted by
                        // Foundation: it does not fire.
                        let back = calendar.dateComponents([.day, .hour, .minute], from: t)
                        guard back.day == c.day, back.hour == h, back.minute == m else { continue }
                        if t > date { return t }
                    }
                }
            }
            guard let nextDay = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = calendar.startOfDay(for: nextDay)
        }
        return nil
    }
}
