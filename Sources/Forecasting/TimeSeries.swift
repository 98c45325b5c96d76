import Foundation

/// A load history: times (seconds since 1970, naive clock time as written) and values.
/// Values may be NaN where the source had no number.
public struct TimeSeries: Sendable, Equatable {
    public var times: [Int64]
    public var values: [Double]

    public init(times: [Int64], values: [Double]) {
        precondition(times.count == values.count)
        self.times = times
        self.values = values
    }

    public var count: Int { times.count }

    /// The rows `[from, to)`.
    public func slice(_ range: Range<Int>) -> TimeSeries {
        TimeSeries(times: Array(times[range]), values: Array(values[range]))
    }

    /// The index of the first row at or after `time`.
    public func index(atOrAfter time: Int64) -> Int {
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// A history that cannot be used, with the line and the reason.
public struct SeriesError: Error, CustomStringConvertible, Sendable, Equatable {
    public var source: String
    public var line: Int?
    public var problem: String

    public init(source: String, line: Int? = nil, problem: String) {
        self.source = source
        self.line = line
        self.problem = problem
    }

    public var description: String { "\(source)\(line.map { ":\($0)" } ?? ""): \(problem)" }
}

/// Reads `timestamp,value` CSV text (a leading byte-order mark and Windows line ends are fine). A
/// header row is recognised and skipped; further columns are ignored; an empty value or `NaN` is
/// a missing value (repaired later). Timestamps may be `YYYY-MM-DD HH:MM[:SS[.fff]]`, the same
/// with `T` and an optional `Z` or `±HH:MM` offset, or Unix seconds (or milliseconds, told apart
/// by size). Anything else is an error naming the line.
public enum CSVSeriesReader {
    public static func read(_ text: String, source: String) throws -> TimeSeries {
        var times: [Int64] = []
        var values: [Double] = []
        times.reserveCapacity(text.utf8.count / 24)
        values.reserveCapacity(text.utf8.count / 24)
        var lineNumber = 0
        var sawData = false
        // A byte-order mark, as spreadsheet programs write, is not part of the header.
        let body = text.hasPrefix("\u{FEFF}") ? text.dropFirst() : Substring(text)
        // "\r\n" is one Character in Swift, so Windows line ends need `isNewline`, not "\n".
        for line in body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            if trimmed(line).isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
            let timeField = String(trimmed(fields[0], quotes: true))
            guard let t = TimestampParser.parse(timeField) else {
                if !sawData && !timeField.isEmpty && timeField.first!.isLetter { continue }  // header
                throw SeriesError(source: source, line: lineNumber, problem: "\"\(timeField)\" is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601, or Unix seconds or milliseconds)")
            }
            guard fields.count >= 2 else {
                throw SeriesError(source: source, line: lineNumber, problem: "expected \"timestamp,value\", found one field")
            }
            let valueField = trimmed(fields[1], quotes: true)
            let value: Double
            if valueField.isEmpty || ["nan", "na"].contains(valueField.lowercased()) {
                value = .nan
            } else if let v = Double(valueField), v.isFinite {
                value = v
            } else {
                throw SeriesError(source: source, line: lineNumber, problem: "value \"\(valueField)\" is not a finite number")
            }
            sawData = true
            times.append(t)
            values.append(value)
        }
        guard !times.isEmpty else { throw SeriesError(source: source, problem: "no data rows") }
        return TimeSeries(times: times, values: values)
    }

    /// `field` without surrounding blanks (spaces, tabs) and, with `quotes`, then without
    /// surrounding double quotes; a view of the same text, nothing copied.
    static func trimmed(_ field: Substring, quotes: Bool = false) -> Substring {
        func blank(_ c: Character) -> Bool { c == " " || c == "\t" }
        var f = field.drop(while: blank)
        while let last = f.last, blank(last) { f = f.dropLast() }
        if quotes {
            f = f.drop { $0 == "\"" }
            while f.last == "\"" { f = f.dropLast() }
        }
        return f
    }

    public static func read(file path: String) throws -> TimeSeries {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SeriesError(source: path, problem: "file cannot be read")
        }
        return try read(String(decoding: data, as: UTF8.self), source: path)
    }
}

/// Fast, allocation-free timestamp parsing to seconds since 1970 (naive times are taken as UTC).
public enum TimestampParser {
    public static func parse(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        if u.isEmpty { return nil }
        if u.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }), !u.dropFirst().contains(45) {
            // Unix seconds (possibly fractional), or milliseconds: as seconds, anything over 1e11
            // would lie past the year 5000, so such a number is read as milliseconds.
            return Double(s).map { abs($0) >= 1e11 ? Int64(($0 / 1000).rounded()) : Int64($0.rounded()) }
        }
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= u.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                let c = u[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let year = num(0, 4), u.count >= 10, u[4] == 45, let month = num(5, 2), u[7] == 45, let day = num(8, 2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        var i = 10
        if i < u.count {
            guard u[i] == 32 || u[i] == 84, let h = num(i + 1, 2), i + 3 < u.count, u[i + 3] == 58, let m = num(i + 4, 2) else { return nil }
            hour = h; minute = m
            i += 6
            if i < u.count && u[i] == 58 {
                guard let sec = num(i + 1, 2) else { return nil }
                second = sec
                i += 3
                if i < u.count && u[i] == 46 {  // fraction: ignored below one second
                    i += 1
                    while i < u.count && u[i] >= 48 && u[i] <= 57 { i += 1 }
                }
            }
            guard hour < 24, minute < 60, second < 61 else { return nil }
        }
        var offset = 0
        if i < u.count {
            if u[i] == 90 || u[i] == 122 { i += 1 } else if u[i] == 43 || u[i] == 45 {
                guard let oh = num(i + 1, 2), i + 3 < u.count, u[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
                offset = (oh * 3600 + om * 60) * (u[i] == 43 ? 1 : -1)
                i += 6
            }
            guard i == u.count else { return nil }
        }
        return daysFromCivil(year, month, day) * 86400 + Int64(hour * 3600 + minute * 60 + second - offset)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146097 + doe - 719468)
    }

    /// `YYYY-MM-DD HH:MM:SS` for seconds since 1970.
    public static func format(_ t: Int64, separator: String = " ") -> String {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = Int(t - days * 86400)
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04d-%02d-%02d%@%02d:%02d:%02d", Int(y), Int(m), Int(d), separator, secs / 3600, (secs / 60) % 60, secs % 60)
    }

    /// Day of week, 0 = Monday.
    public static func weekday(_ t: Int64) -> Int {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        return Int(((days % 7) + 7 + 3) % 7)  // 1970-01-01 was a Thursday
    }
}

/// Parses `30s`, `5m`, `2h`, `1d`, `7d`, `8w` (and combinations like `1h30m`) into seconds.
public enum DurationParser {
    public static func seconds(_ s: String) -> Int64? {
        var total: Int64 = 0
        var number = ""
        var sawUnit = false
        for c in s.trimmingCharacters(in: .whitespaces) {
            if c.isNumber { number.append(c); continue }
            guard let n = Int64(number) else { return nil }
            let unit: Int64
            switch c {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            case "w": unit = 604800
            default: return nil
            }
            total += n * unit
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit, total > 0 else { return nil }
        return total
    }

    public static func format(_ seconds: Int64) -> String {
        if seconds % 604800 == 0 { return "\(seconds / 604800)w" }
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
