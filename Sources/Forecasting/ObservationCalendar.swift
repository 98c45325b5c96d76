import Foundation

/// The regular grid a history lives on: its step, and which times of day and days of the week
/// have observations at all. A call centre open 07:00–21:00 on weekdays has 169 five-minute slots
/// a day and five days a week; its "day" season is 169 steps and its "week" 845, and its future is
/// the next open slots, not the night.
public struct ObservationCalendar: Sendable, Equatable {
    public var step: Int64
    /// Slots of the day (time of day ÷ step) that are observed, ascending.
    public var slots: [Int]
    /// Days of the week (0 = Monday) that are observed, ascending.
    public var weekdays: [Int]
    /// The grid position 0.
    public var origin: Int64

    private var slotPosition: [Int: Int]
    private var weekdayPosition: [Int: Int]

    public init(step: Int64, slots: [Int], weekdays: [Int], origin: Int64) {
        self.step = step
        self.slots = slots
        self.weekdays = weekdays
        self.origin = origin
        slotPosition = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1, $0) })
        weekdayPosition = Dictionary(uniqueKeysWithValues: weekdays.enumerated().map { ($1, $0) })
        originOrdinal = 0
        originOrdinal = ordinal(origin) ?? 0
    }

    private var originOrdinal: Int

    public var slotsPerDay: Int { Int(86400 / step) }
    /// True when every slot of every day is part of the grid (no business-hours compression).
    public var isContinuous: Bool { slots.count == slotsPerDay && weekdays.count == 7 }
    public var stepsPerDay: Int { slots.count }
    public var stepsPerWeek: Int { slots.count * weekdays.count }

    /// Infers the grid from sorted, de-duplicated times: the step is the most common gap; slots and
    /// weekdays are compressed only when whole ones are never observed over a long enough span.
    public static func infer(times: [Int64]) throws -> ObservationCalendar {
        guard times.count >= 3 else { throw SeriesError(source: "history", problem: "at least 3 observations are needed, found \(times.count)") }
        var gaps: [Int64: Int] = [:]
        for i in 1..<times.count where times[i] > times[i - 1] { gaps[times[i] - times[i - 1], default: 0] += 1 }
        guard let step = gaps.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) })?.key else {
            throw SeriesError(source: "history", problem: "all timestamps are equal")
        }
        let span = times.last! - times.first!
        let perDay = 86400 / max(step, 1)
        var slots = Array(0..<Int(max(perDay, 1)))
        var weekdays = Array(0..<7)
        if step < 86400 && 86400 % step == 0 && span >= 2 * 86400 {
            var seen = Set<Int>()
            for t in times { seen.insert(Int(((t % 86400) + 86400) % 86400 / step)) }
            if seen.count < slots.count * 9 / 10 { slots = seen.sorted() }
        }
        // Two weeks of history show every weekday twice; a 14-day history of business hours
        // begins at its first opening and ends at its last closing, so its span is a little
        // under 14 days: 13 days (every weekday seen, most twice) is the bound.
        if step <= 86400 && span >= 13 * 86400 {
            var seen = Set<Int>()
            for t in times { seen.insert(TimestampParser.weekday(t)) }
            if seen.count < 7 { weekdays = seen.sorted() }
        }
        return ObservationCalendar(step: step, slots: slots, weekdays: weekdays, origin: times[0])
    }

    /// A continuous grid that could not be described by times of day (steps that do not divide a day).
    private var dayAligned: Bool { step < 86400 && 86400 % step == 0 }

    private func ordinal(_ t: Int64) -> Int? {
        guard dayAligned, !isContinuous else { return nil }
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secondOfDay = t - days * 86400
        guard let s = slotPosition[Int(secondOfDay / step)], let w = weekdayPosition[TimestampParser.weekday(t)] else { return nil }
        let weekNumber = Int((days + 3) >= 0 ? (days + 3) / 7 : (days + 3 - 6) / 7)
        return (weekNumber * weekdays.count + w) * slots.count + s
    }

    /// The grid position of a time, and how far it was from the slot (seconds). Nil when the time
    /// falls on a day or slot the calendar does not observe.
    public func position(of t: Int64) -> (index: Int, offset: Int64)? {
        let snapped = origin + ((t - origin) + step / 2).floorDiv(step) * step
        let offset = t - snapped
        if isContinuous || !dayAligned { return (Int((snapped - origin) / step), offset) }
        guard let o = ordinal(snapped) else { return nil }
        return (o - originOrdinal, offset)
    }

    /// The time of a grid position (positions past the end are the future).
    public func time(at index: Int) -> Int64 {
        if isContinuous || !dayAligned { return origin + Int64(index) * step }
        let o = originOrdinal + index
        let perWeek = slots.count * weekdays.count
        let week = o >= 0 ? o / perWeek : (o - perWeek + 1) / perWeek
        let inWeek = o - week * perWeek
        let wd = weekdays[inWeek / slots.count]
        let slot = slots[inWeek % slots.count]
        let mondayDays = Int64(week) * 7 - 3
        return (mondayDays + Int64(wd)) * 86400 + Int64(slot) * step
    }

    /// A season given as a duration, in steps of this grid; an error when it does not fit.
    public func steps(forSeason seconds: Int64) throws -> Int {
        guard seconds % step == 0 else {
            throw SeriesError(source: "season", problem: "season \(DurationParser.format(seconds)) (\(seconds) s) is not a multiple of the step \(DurationParser.format(step)) (\(step) s); resample the history or choose another season")
        }
        if isContinuous || !dayAligned { return Int(seconds / step) }
        if seconds % 604800 == 0 { return Int(seconds / 604800) * stepsPerWeek }
        if seconds % 86400 == 0 { return Int(seconds / 86400) * stepsPerDay }
        return Int(seconds / step)
    }
}

extension Int64 {
    /// Division rounded down (toward minus infinity), as a grid position needs before 1970.
    public func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : (self - d + 1) / d }
}

/// What was done to a history to make it a regular series, so that nothing is silent.
public struct RepairReport: Sendable, Equatable, Codable {
    public var reordered = 0
    public var duplicatesMerged = 0
    public var offGridSnapped = 0
    public var outsideCalendarDropped = 0
    public var missingFilled = 0
    public var leadingTrailingMissingTrimmed = 0
    public var spikesDampened = 0
    /// Infinite samples (a ratio whose denominator was 0), taken as missing.
    public var nonFiniteDropped = 0

    public init() {}

    /// One line per repair that happened.
    public var notes: [String] {
        var n: [String] = []
        if reordered > 0 { n.append("\(reordered) rows were out of time order and were sorted") }
        if duplicatesMerged > 0 { n.append("\(duplicatesMerged) duplicated timestamps were merged by averaging their values") }
        if offGridSnapped > 0 { n.append("\(offGridSnapped) timestamps off the step grid were moved to the nearest step") }
        if outsideCalendarDropped > 0 { n.append("\(outsideCalendarDropped) rows outside the observed hours were dropped") }
        if nonFiniteDropped > 0 { n.append("\(nonFiniteDropped) values were not finite (infinite) and were taken as missing") }
        if missingFilled > 0 { n.append("\(missingFilled) missing steps were filled from the same slot a week (or a day) earlier, else by linear interpolation") }
        if leadingTrailingMissingTrimmed > 0 { n.append("\(leadingTrailingMissingTrimmed) missing steps at the ends were trimmed") }
        if spikesDampened > 0 { n.append("\(spikesDampened) spikes were dampened while fitting") }
        return n
    }
}

/// A history made regular: one value per grid step, no gaps, with its calendar and report.
public struct RegularSeries: Sendable {
    public var calendar: ObservationCalendar
    public var values: [Double]
    public var report: RepairReport
    /// The time of each value.
    public func time(at i: Int) -> Int64 { calendar.time(at: i) }
    public var count: Int { values.count }
}

public enum SeriesRepair {
    /// Largest share of missing steps that is repaired rather than refused.
    public static let maximumMissingShare = 0.4

    /// Sorts, de-duplicates, puts values on the grid and fills gaps (see `RepairReport.notes`).
    /// Refuses a history with too few observations or too much of it missing.
    public static func regularize(_ series: TimeSeries, calendar given: ObservationCalendar? = nil) throws -> RegularSeries {
        var report = RepairReport()
        var order = Array(0..<series.count)
        var sorted = true
        for i in 1..<max(series.count, 1) where series.times[i] < series.times[i - 1] { sorted = false; break }
        if !sorted {
            order.sort { series.times[$0] < series.times[$1] || (series.times[$0] == series.times[$1] && $0 < $1) }
            report.reordered = zip(order, 0..<order.count).filter { $0 != $1 }.count
        }
        let times = order.map { series.times[$0] }
        let values = order.map { series.values[$0] }
        var unique: [Int64] = []
        unique.reserveCapacity(times.count)
        for t in times where unique.last != t { unique.append(t) }
        let calendar = try given ?? ObservationCalendar.infer(times: unique)
        let positions = times.map { calendar.position(of: $0) }
        // A wrong timestamp far from the rest (a year typed wrong, a zero epoch) would stretch the
        // grid over years of missing steps: refuse before allocating it, naming the span.
        let gridSize = (positions.lazy.compactMap { $0?.index }.max() ?? -1) + 1
        if gridSize > max(10 * times.count, 10_000), let firstTime = times.first, let lastTime = times.last {
            throw SeriesError(source: "history", problem: "timestamps run from \(TimestampParser.format(firstTime)) to \(TimestampParser.format(lastTime)), \(gridSize) steps of \(DurationParser.format(calendar.step)) for \(times.count) observations; a timestamp is probably wrong")
        }

        var sums = [Double](repeating: 0, count: max(gridSize, 0))
        var counts = [Int](repeating: 0, count: sums.count)
        var rowsAt = [Int](repeating: 0, count: sums.count)
        for (p, v) in zip(positions, values) {
            guard let p, p.index >= 0 else { report.outsideCalendarDropped += 1; continue }
            if p.offset != 0 { report.offGridSnapped += 1 }
            let i = p.index
            rowsAt[i] += 1
            if rowsAt[i] > 1 { report.duplicatesMerged += 1 }
            if v.isFinite { sums[i] += v; counts[i] += 1 } else if !v.isNaN { report.nonFiniteDropped += 1 }
        }
        var y = zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : .nan }
        // Trim missing ends.
        let first = y.firstIndex(where: { !$0.isNaN }) ?? y.count
        let last = y.lastIndex(where: { !$0.isNaN }) ?? -1
        guard last - first + 1 >= 3 else { throw SeriesError(source: "history", problem: "fewer than 3 observed values") }
        report.leadingTrailingMissingTrimmed = first + (y.count - 1 - last)
        y = Array(y[first...last])
        var cal = calendar
        if first > 0 { cal = ObservationCalendar(step: calendar.step, slots: calendar.slots, weekdays: calendar.weekdays, origin: calendar.time(at: first)) }

        let missing = y.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        if Double(missing) > maximumMissingShare * Double(y.count) {
            throw SeriesError(source: "history", problem: "\(missing) of \(y.count) steps are missing (more than \(Int(maximumMissingShare * 100)) %); the history is too sparse to forecast from")
        }
        if missing > 0 {
            let week = cal.stepsPerWeek, day = cal.stepsPerDay
            for i in 0..<y.count where y[i].isNaN {
                if i >= week && !y[i - week].isNaN { y[i] = y[i - week] } else if i >= day && day > 1 && !y[i - day].isNaN { y[i] = y[i - day] }
            }
            // Whatever is left (the first week's gaps): linear between known neighbours.
            var i = 0
            while i < y.count {
                if y[i].isNaN {
                    var j = i
                    while j < y.count && y[j].isNaN { j += 1 }
                    let a = i > 0 ? y[i - 1] : y[j]
                    let b = j < y.count ? y[j] : a
                    for k in i..<j { y[k] = a + (b - a) * Double(k - i + 1) / Double(j - i + 1) }
                    i = j
                } else { i += 1 }
            }
            report.missingFilled = missing
        }
        return RegularSeries(calendar: cal, values: y, report: report)
    }
}
