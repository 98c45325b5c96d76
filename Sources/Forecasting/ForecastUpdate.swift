import Foundation

/// Incremental forecasting: a fit chooses the models, their parameters and the intervals; between
/// fits each new observation moves the chosen models' states (`ModelState`) one step, and the
/// forecast is made again from the newest observation with the same weights and the same interval
/// offsets per lead (each times its step's phase scale, when the fit chose them). An update costs a
/// few operations per model and step; a fit costs the whole inner evaluation.
///
/// The intervals stay valid because the inner evaluation measured them the same way: its origins
/// forecast from model states filtered up to each origin with the fitted parameters.
public struct ForecastUpdater: Sendable {
    var states: [any ModelState]
    let weights: [Double]
    /// Quantile level → offset from the mean at each lead, before the phase's scale.
    let offsets: [Double: [Double]]
    /// The scale of each step's phase of the day (flat: 1), by grid position.
    let difficulty: PhaseDifficulty
    let calendar: ObservationCalendar
    /// The grid position of the forecast's first step (one after the last observation taken).
    var next: Int
    let horizon: Int
    let holidayDays: Set<Int64>
    let holidayProfile: [Int: Double]
    /// Every value the fit saw was at or above zero, and so has every observation since: the
    /// forecast is kept at or above zero (`Forecaster.keepAtOrAboveZero`).
    var nonNegative: Bool
    let fitNotes: [String]
    /// The grid position the fit's forecast began at.
    let fitEnd: Int

    /// Observations taken since the fit.
    public var observationsSinceFit: Int { next - fitEnd }
    /// The time of the last observation taken (the fit's or an update's).
    public var observedThrough: Int64 { calendar.time(at: next - 1) }
}

extension Forecast {
    /// This forecast moved along by the observations of `series` after the last one it has taken.
    ///
    /// Steps of the grid with no observation before the newest one are taken as the forecast said
    /// and do not move the models; observations off the grid go to the nearest step, and those on
    /// a closed slot of the calendar are left out. Returns `self` when nothing is new, and nil when
    /// it cannot be updated (it has no updater, an observation lies beyond its horizon, or the
    /// models are carried past finite values): the caller fits again.
    public func updated(with series: TimeSeries) -> Forecast? {
        guard var u = updater else { return nil }
        // Only observations after the last one taken count; one past the forecast's reach means a fit.
        let after = u.observedThrough, reach = u.calendar.time(at: u.next + u.horizon - 1)
        var observed: [Int: Double] = [:]
        for (t, v) in zip(series.times, series.values) where v.isFinite && t > after {
            if t > reach + u.calendar.step / 2 { return nil }
            guard let p = u.calendar.position(of: t), p.index >= u.next else { continue }
            observed[p.index] = v
            if v < 0 { u.nonNegative = false }
        }
        guard let last = observed.keys.max() else { return self }
        guard last - u.next < u.horizon else { return nil }
        for i in u.next...last {
            let value = observed[i]
            let holiday = u.holidayDays.contains(u.calendar.time(at: i).floorDiv(86400))
            for k in u.states.indices { u.states[k].observe(value ?? mean[i - u.next], excluded: value == nil || holiday) }
        }
        u.next = last + 1
        var mean = [Double](repeating: 0, count: u.horizon)
        for (state, weight) in zip(u.states, u.weights) {
            let f = state.forecast(horizon: u.horizon)
            for h in 0..<u.horizon { mean[h] += weight * f[h] }
        }
        // Observations far outside anything the fit saw can carry a model past finite values: fit again.
        guard mean.allSatisfy(\.isFinite) else { return nil }
        var quantiles = u.offsets.mapValues { offsets in (0..<u.horizon).map { mean[$0] + offsets[$0] * u.difficulty.scale(at: u.next + $0) } }
        let times = (0..<u.horizon).map { u.calendar.time(at: u.next + $0) }
        _ = Forecaster.applyHolidays(u.holidayProfile, times: times, holidayDays: u.holidayDays, step: u.calendar.step, mean: &mean, quantiles: &quantiles)
        if u.nonNegative { Forecaster.keepAtOrAboveZero(mean: &mean, quantiles: &quantiles) }
        var notes = u.fitNotes
        notes.append("updated with \(u.observationsSinceFit) observation(s) since the fit, through \(TimestampParser.format(u.observedThrough))")
        var result = Forecast(times: times, mean: mean, quantiles: quantiles, model: model, weights: weights, parameters: parameters,
                              accuracy: accuracy, notes: notes, step: step)
        result.updater = u
        return result
    }
}
