import Forecasting
import ForesightAPI
import Foundation

/// When a zone's forecast is fitted and when it is only moved along by new observations: the one
/// rule the controller (`ZoneForecasts`) and the simulator (`foresight simulate`) share.
///
/// A fit chooses models, parameters and intervals from the whole history; it happens once per
/// `refitEvery`, or sooner when the forecast cannot be moved (the newest observation lies beyond
/// its horizon). Between fits every new observation updates the forecast (`Forecast.updated`), so
/// the sizing always starts from the latest load at the cost of a few operations.
public struct ForecastCadence: Sendable, Equatable {
    /// The history's step, seconds.
    public var step: Int64
    /// The longest a fit is used for, seconds.
    public var refitEvery: Int64
    /// How far past the newest observation a forecast must reach: the plan's horizon plus the lead
    /// time of new capacity, seconds.
    public var reach: Int64
    public var seasons: [Int64]
    public var quantiles: [Double]
    public var holidays: [String]

    public init(step: Int64, refitEvery: Int64, reach: Int64, seasons: [Int64], quantiles: [Double], holidays: [String] = []) {
        self.step = step
        self.refitEvery = refitEvery
        self.reach = reach
        self.seasons = seasons
        self.quantiles = quantiles
        self.holidays = holidays
    }

    /// A plan's forecast settings, with their defaults; `lead` is the node pool's provisioning lead time.
    public init(_ forecast: ZonePlan.Forecast?, lead: Int64) {
        let fc = forecast ?? ZonePlan.Forecast()
        let seasons = (fc.seasonalities ?? ["1d", "7d"]).compactMap(DurationParser.seconds)
        self.init(step: fc.step.flatMap(DurationParser.seconds) ?? 300,
                  refitEvery: fc.refitEvery.flatMap(DurationParser.seconds) ?? Self.defaultRefitEvery(seasons: seasons),
                  reach: (fc.horizon.flatMap(DurationParser.seconds) ?? 7200) + lead,
                  seasons: seasons, quantiles: [fc.quantile ?? 0.9], holidays: fc.holidays ?? [])
    }

    /// Once per cycle of the shortest season (a day when there is none): the engine's inner
    /// evaluation refreshes the decomposition's components once a cycle of that season and moves
    /// every model's state per step in between, so its intervals were measured on that cadence.
    public static func defaultRefitEvery(seasons: [Int64]) -> Int64 { seasons.filter { $0 > 0 }.min() ?? 86400 }

    /// What a fit at `now` on a history whose newest observation is at `historyEnd` asks for:
    /// enough steps to reach `reach` past `now`.
    public func request(historyEnd: Int64, now: Int64) -> ForecastRequest {
        let ahead = max(0, now - historyEnd) + reach
        return ForecastRequest(seasons: seasons, horizon: (ahead + step - 1) / step * step, quantiles: quantiles, holidays: holidays)
    }

    /// Whether `current`, fitted at `fittedAt`, is fitted again at `now` whatever has been
    /// observed since: `refitEvery` has passed, or it cannot be moved (the engine's fallback for a
    /// short history) and a step has passed.
    public func fitDue(_ current: Forecast, fittedAt: Int64, now: Int64) -> Bool {
        now - fittedAt >= (current.updater == nil ? min(step, refitEvery) : refitEvery)
    }

    /// The forecast to size with at `now`: `current` (fitted at `fittedAt`) moved along by the
    /// observations of `recent` it has not taken, or nil when a fit is due.
    public func advance(_ current: Forecast, fittedAt: Int64, now: Int64, recent: TimeSeries) -> Forecast? {
        guard !fitDue(current, fittedAt: fittedAt, now: now) else { return nil }
        return current.updater == nil ? current : current.updated(with: recent)
    }
}
