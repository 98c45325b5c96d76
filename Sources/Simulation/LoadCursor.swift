import Forecasting

/// A zone's load at each moment of a replay, read from its trace in time order.
///
/// A row's value holds until the trace's next step. Where rows are absent, the trace's calendar
/// (the one the forecasting engine infers from the same rows) tells two kinds of gap apart:
/// - times the trace never observes, such as a call centre's nights and weekends, have no load;
/// - absent rows at times the trace does observe are missing data (a scrape or a sensor that
///   failed), not an hour without load: the load there is the straight line between the rows
///   around the gap, counted in the calendar's steps. `Scenario` refuses a replay that runs
///   through more than a day of such a gap.
struct LoadCursor {
    let series: TimeSeries
    let step: Int64
    let calendar: ObservationCalendar
    var i = 0

    init(series: TimeSeries, step: Int64, calendar: ObservationCalendar) {
        self.series = series
        self.step = step
        self.calendar = calendar
    }

    mutating func value(at t: Int64) -> Double {
        while i + 1 < series.count && series.times[i + 1] <= t { i += 1 }
        guard series.times[i] <= t else { return 0 }
        if t - series.times[i] < step { return max(0, series.values[i]) }
        guard i + 1 < series.count, let fraction = Self.place(of: t, between: series.times[i], and: series.times[i + 1], on: calendar) else { return 0 }
        return max(0, series.values[i] + (series.values[i + 1] - series.values[i]) * fraction)
    }

    /// Where `t` lies between two rows, in the calendar's steps (0 at `a`, 1 at `b`); nil when the
    /// calendar does not observe `t`'s step.
    static func place(of t: Int64, between a: Int64, and b: Int64, on calendar: ObservationCalendar) -> Double? {
        let stepStart = calendar.origin + (t - calendar.origin).floorDiv(calendar.step) * calendar.step
        guard let now = calendar.position(of: stepStart), let from = calendar.position(of: a), let to = calendar.position(of: b),
              to.index > from.index else { return nil }
        return Double(now.index - from.index) / Double(to.index - from.index)
    }

    /// The trace's gaps of missing data (absent rows at times its calendar observes) that overlap
    /// `[start, end)`, each as the rows around it and the steps missing between them.
    static func missingStretches(_ series: TimeSeries, step: Int64, calendar: ObservationCalendar, from start: Int64, to end: Int64)
        -> [(after: Int64, before: Int64, missingSteps: Int)] {
        var out: [(after: Int64, before: Int64, missingSteps: Int)] = []
        var k = max(0, series.index(atOrAfter: start) - 1)
        while k + 1 < series.count && series.times[k] < end {
            let a = series.times[k], b = series.times[k + 1]
            if b - a > step, b > start, let from = calendar.position(of: a), let to = calendar.position(of: b), to.index - from.index > 1 {
                out.append((a, b, to.index - from.index - 1))
            }
            k += 1
        }
        return out
    }
}
