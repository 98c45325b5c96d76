import Foundation

/// The rolling-origin protocol: at each origin, train on exactly `train` before it, forecast
/// `horizon` ahead, and score against what happened. Origins are one horizon apart.
public struct BacktestProtocol: Sendable {
    public var seasons: [Int64]
    /// Where the first training window starts.
    public var start: Int64
    public var train: Int64
    public var horizon: Int64
    public var origins: Int
    public var holidays: [String]

    public init(seasons: [Int64], start: Int64, train: Int64, horizon: Int64, origins: Int, holidays: [String] = []) {
        self.seasons = seasons
        self.start = start
        self.train = train
        self.horizon = horizon
        self.origins = origins
        self.holidays = holidays
    }
}

/// Scores of one model over all origins (means over origins).
public struct BacktestScore: Sendable, Codable, Equatable {
    public var model: String
    /// Mean |actual − forecast| ÷ mean |y[t] − y[t − day]| over the training window.
    public var maseDay: Double
    /// How far the mean MASE_d could be from the same protocol's on other days like these: half
    /// the width of its 90 % confidence interval (`OriginSpread`).
    public var maseDayMargin: Double
    /// Mean 200·|a − f| ÷ (|a| + |f|), in percent.
    public var smape: Double
    /// Share of actuals inside the 5 %–95 % interval, in percent.
    public var coverage90: Double
    /// Half the width of the coverage's 90 % confidence interval, in points (`OriginSpread`).
    public var coverage90Margin: Double
    /// Share of actuals above the 95 % quantile, in percent (5 when calibrated): the side of the
    /// interval that costs load when it is too low. The rest of `100 − coverage90` lies below the
    /// 5 % quantile.
    public var above95: Double
    /// Share of actuals at or below the 0.9 quantile, in percent (90 when calibrated): the quantile a
    /// ZonePlan sizes its zones to unless told otherwise.
    public var atOrBelow90: Double
    /// Mean of the 5 % and 95 % pinball losses ÷ the MASE denominator.
    public var scaledPinball: Double
    /// Fit plus forecast, after a warm-up, averaged over origins: wall-clock time (the engine runs
    /// its candidate models on separate threads) and the process's CPU time.
    public var secondsPerOrigin: Double
    public var cpuSecondsPerOrigin: Double
    /// What `auto` chose at each origin.
    public var choices: [String]?
    /// Each origin's own scores, in time order, so two forecasters run on the same origins can be
    /// compared day by day rather than by their means alone.
    public var origins: [OriginScore]

    enum CodingKeys: String, CodingKey {
        case model, maseDay = "MASE_d", maseDayMargin = "MASE_d_margin90", smape = "sMAPE", coverage90 = "Cov90", coverage90Margin = "Cov90_margin90", above95 = "above_q95", atOrBelow90 = "at_or_below_q90"
        case scaledPinball = "scaled_pinball", secondsPerOrigin = "seconds_per_origin", cpuSecondsPerOrigin = "cpu_seconds_per_origin", choices, origins
    }
}

/// One origin's scores in a backtest (the same definitions as `BacktestScore`'s means, which are
/// made of them).
public struct OriginScore: Sendable, Codable, Equatable {
    /// The origin: the first forecast step's time.
    public var origin: String
    public var maseDay: Double
    public var smape: Double
    public var coverage90: Double
    public var above95: Double
    public var atOrBelow90: Double
    public var scaledPinball: Double
    enum CodingKeys: String, CodingKey {
        case origin, maseDay = "MASE_d", smape = "sMAPE", coverage90 = "Cov90", above95 = "above_q95", atOrBelow90 = "at_or_below_q90"
        case scaledPinball = "scaled_pinball"
    }
}

public enum Backtest {
    /// Runs the protocol for each model alone and for the engine's own choice (`auto`).
    /// `autoOnly` scores only the engine's own choice (for sweeps over many windows).
    public static func run(_ series: TimeSeries, protocol p: BacktestProtocol, models: [any ForecastModel] = Forecaster.defaultModels,
                           autoOnly: Bool = false,
                           clock: () -> Double = { Date().timeIntervalSinceReferenceDate },
                           cpuClock: () -> Double = Backtest.processCPUSeconds) throws -> [BacktestScore] {
        let regular = try SeriesRepair.regularize(series)
        let cal = regular.calendar
        let trainSteps = try cal.steps(forSeason: p.train)
        let horizonSteps = try cal.steps(forSeason: p.horizon)
        guard let startPosition = cal.position(of: p.start) else {
            throw ForecastError(problem: "the start \(TimestampParser.format(p.start)) is not an observed time of the history")
        }
        let first = startPosition.index + trainSteps
        let needed = first + (p.origins - 1) * horizonSteps + horizonSteps
        guard startPosition.index >= 0, needed <= regular.count else {
            throw ForecastError(problem: "the history is too short for \(p.origins) origins of \(DurationParser.format(p.horizon)) after \(DurationParser.format(p.train)) of training from \(TimestampParser.format(p.start)): \(needed) steps needed, \(regular.count) available")
        }
        let dayLag = try cal.steps(forSeason: 86400)
        var scores: [BacktestScore] = []
        let variants: [(String, [any ForecastModel])] = (autoOnly ? [] : models.map { ($0.name, [$0]) }) + [("auto", models)]
        for (name, candidates) in variants {
            let engine = Forecaster(candidates: candidates)
            var seconds = 0.0, cpuSeconds = 0.0
            var choices: [String] = [], perOrigin: [OriginScore] = []
            for k in -1..<p.origins {
                let origin = first + max(k, 0) * horizonSteps
                let trainStart = origin - trainSteps
                let window = RegularSeries(
                    calendar: ObservationCalendar(step: cal.step, slots: cal.slots, weekdays: cal.weekdays, origin: cal.time(at: trainStart)),
                    values: Array(regular.values[trainStart..<origin]), report: RepairReport())
                let request = ForecastRequest(seasons: p.seasons, horizon: p.horizon, holidays: p.holidays)
                let t0 = clock(), c0 = cpuClock()
                let forecast = try engine.forecast(window, request: request)
                let elapsed = clock() - t0, cpu = cpuClock() - c0
                if k < 0 { continue }  // warm-up
                seconds += elapsed
                cpuSeconds += cpu
                choices.append(forecast.model)
                let actual = Array(regular.values[origin..<(origin + horizonSteps)])
                var scale = 0.0
                for t in dayLag..<window.values.count { scale += abs(window.values[t] - window.values[t - dayLag]) }
                scale /= Double(window.values.count - dayLag)
                let lo = forecast.quantile(0.05)!, hi = forecast.quantile(0.95)!, q90 = forecast.quantile(0.9)!
                var ae = 0.0, sm = 0.0, inside = 0.0, pl = 0.0, above = 0.0, sized = 0.0
                for h in 0..<horizonSteps {
                    let a = actual[h], f = forecast.mean[h]
                    ae += abs(a - f)
                    sm += (abs(a) + abs(f)) > 0 ? 200 * abs(a - f) / (abs(a) + abs(f)) : 0
                    if a >= lo[h] && a <= hi[h] { inside += 1 }
                    if a > hi[h] { above += 1 }
                    if a <= q90[h] { sized += 1 }
                    pl += (pinballLoss(a, lo[h], 0.05) + pinballLoss(a, hi[h], 0.95)) / 2
                }
                let H = Double(horizonSteps)
                perOrigin.append(OriginScore(origin: TimestampParser.format(cal.time(at: origin)), maseDay: ae / H / scale, smape: sm / H,
                                             coverage90: 100 * inside / H, above95: 100 * above / H, atOrBelow90: 100 * sized / H,
                                             scaledPinball: pl / H / scale))
            }
            let n = Double(p.origins)
            func mean(_ score: KeyPath<OriginScore, Double>) -> Double { perOrigin.reduce(0) { $0 + $1[keyPath: score] } / n }
            let mase = OriginSpread(perOrigin.map(\.maseDay)), cover = OriginSpread(perOrigin.map(\.coverage90))
            scores.append(BacktestScore(model: name, maseDay: mase.mean, maseDayMargin: mase.margin90, smape: mean(\.smape),
                                        coverage90: cover.mean, coverage90Margin: cover.margin90, above95: mean(\.above95), atOrBelow90: mean(\.atOrBelow90),
                                        scaledPinball: mean(\.scaledPinball),
                                        secondsPerOrigin: seconds / n, cpuSecondsPerOrigin: cpuSeconds / n, choices: name == "auto" ? choices : nil,
                                        origins: perOrigin))
        }
        return scores
    }

    /// User plus system CPU time of the whole process, in seconds.
    public static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func pinballLoss(_ actual: Double, _ predicted: Double, _ q: Double) -> Double {
        actual >= predicted ? q * (actual - predicted) : (1 - q) * (predicted - actual)
    }
}

/// The mean of a score over a window's origins, and how far that mean could be from the same
/// forecaster's on other days like them: one window of 20 days is a small sample, and a coverage of
/// 93 % from it cannot tell an interval that covers 90 % from one that covers 95 %.
///
/// Each origin's score is one observation: the steps within an origin's horizon share its day's
/// surprises (a whole day runs high), so they are not independent, while origins a horizon apart
/// nearly are. The margin is the normal approximation's, `1.645 × sd ÷ √n` over the origins'
/// scores: half the width of a 90 % confidence interval of the mean. Days that still correlate
/// (a warm week) make it too small, so it is a lower bound on the window's uncertainty.
public struct OriginSpread: Sendable {
    /// The scores' mean (NaN with none).
    public let mean: Double
    /// Half the width of the mean's 90 % interval; 0 with fewer than two origins (no spread to read).
    public let margin90: Double

    public init(_ scores: [Double]) {
        let n = Double(scores.count), mean = scores.isEmpty ? .nan : scores.reduce(0, +) / n
        self.mean = mean
        guard scores.count > 1 else { margin90 = 0; return }
        let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        margin90 = 1.645 * (variance / n).squareRoot()
    }
}

/// The protocol run from many start dates across a whole history: how the engine does as a user
/// would meet it, window after window, not on one chosen window.
public struct SweepWindow: Sendable, Codable, Equatable {
    public var start: String
    public var maseDay: Double
    public var coverage90: Double
    /// Half the width of the coverage's 90 % confidence interval over the window's origins, in
    /// points (`OriginSpread`).
    public var coverage90Margin: Double
    /// As in `BacktestScore`: actuals above the 95 % quantile, and at or below the 0.9 quantile, in percent.
    public var above95: Double
    public var atOrBelow90: Double
    /// Mean of the 5 % and 95 % pinball losses ÷ the MASE denominator: the interval's sharpness and
    /// calibration in one proper score.
    public var scaledPinball: Double
    enum CodingKeys: String, CodingKey {
        case start, maseDay = "MASE_d", coverage90 = "Cov90", coverage90Margin = "Cov90_margin90", above95 = "above_q95", atOrBelow90 = "at_or_below_q90"
        case scaledPinball = "scaled_pinball"
    }
}

public struct SweepSummary: Sendable, Codable, Equatable {
    /// How many times of day each window's forecasts were issued at (1: the protocol's own, the
    /// start's time of day).
    public var timesOfDay: Int
    public var windows: [SweepWindow]
    public var medianMASE: Double
    public var worstMASE: Double
    public var medianCoverage: Double
    public var lowestCoverage: Double
    public var highestCoverage: Double
    public var medianPinball: Double
    /// Over the windows: the median share above the 95 % quantile, and the median and lowest share
    /// at or below the 0.9 quantile (the ZonePlan default).
    public var medianAbove95: Double
    public var medianAtOrBelow90: Double
    public var lowestAtOrBelow90: Double
}

extension Backtest {
    /// Runs the protocol (the engine's choice only) from `p.start`, then every `every` seconds,
    /// for as long as the history holds a whole window (train + origins × horizon).
    ///
    /// With `timesOfDay` above 1, each window is run that many times, its origins moved each time
    /// by an equal share of the day's observed steps (training windows moving with them), and
    /// scored over all its forecasts together. The protocol issues every forecast at the start's
    /// time of day, while a controller updates its forecast at every observation; how hard a
    /// forecast is depends on the time it is issued at (`benchmarks/forecast.md`, "The phase of the
    /// day the forecast is issued at"). The coverage's margin then treats each day's forecasts,
    /// at every time, as one observation, as they share that day's surprises.
    public static func sweep(_ series: TimeSeries, protocol p: BacktestProtocol, every: Int64, timesOfDay: Int = 1) throws -> SweepSummary {
        guard every > 0 else { throw ForecastError(problem: "the sweep's spacing must be positive") }
        guard timesOfDay >= 1 else { throw ForecastError(problem: "the times of day must be at least 1 (\(timesOfDay) given)") }
        let calendar = try SeriesRepair.regularize(series).calendar
        let day = try calendar.steps(forSeason: 86400)
        guard timesOfDay <= day else {
            throw ForecastError(problem: "\(timesOfDay) times of day is more than the \(day) observed steps of this history's day")
        }
        let last = series.times.max() ?? p.start
        var windows: [SweepWindow] = []
        var start = p.start
        sweeping: while start + p.train + Int64(p.origins) * p.horizon <= last + p.horizon {
            // A start that is not an observed time (a night, a weekend) moves to the next one.
            let i = series.index(atOrAfter: start)
            guard i < series.count, let first = calendar.position(of: series.times[i]) else { break }
            var origins: [[OriginScore]] = []
            for k in 0..<timesOfDay {
                var q = p
                q.start = calendar.time(at: first.index + k * day / timesOfDay)
                do {
                    if let auto = try run(series, protocol: q, autoOnly: true).last { origins.append(auto.origins) }
                } catch let e as ForecastError where e.problem.contains("too short") {
                    break sweeping  // the rest of the history cannot hold a window (gaps counted)
                }
            }
            if origins.count == timesOfDay {
                let all = origins.flatMap { $0 }
                func mean(_ score: KeyPath<OriginScore, Double>) -> Double { all.reduce(0) { $0 + $1[keyPath: score] } / Double(all.count) }
                // Each day's coverage over its forecasts at every time of day: one observation per day.
                let days = (0..<p.origins).map { d in origins.reduce(0) { $0 + $1[d].coverage90 } / Double(origins.count) }
                windows.append(SweepWindow(start: TimestampParser.format(series.times[i]), maseDay: mean(\.maseDay), coverage90: mean(\.coverage90),
                                          coverage90Margin: OriginSpread(days).margin90, above95: mean(\.above95), atOrBelow90: mean(\.atOrBelow90),
                                          scaledPinball: mean(\.scaledPinball)))
            }
            start += every
        }
        guard !windows.isEmpty else { throw ForecastError(problem: "the history holds no whole window of the protocol") }
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let mase = windows.map(\.maseDay), cover = windows.map(\.coverage90)
        return SweepSummary(timesOfDay: timesOfDay, windows: windows, medianMASE: median(mase), worstMASE: mase.max()!, medianCoverage: median(cover),
                            lowestCoverage: cover.min()!, highestCoverage: cover.max()!, medianPinball: median(windows.map(\.scaledPinball)),
                            medianAbove95: median(windows.map(\.above95)), medianAtOrBelow90: median(windows.map(\.atOrBelow90)),
                            lowestAtOrBelow90: windows.map(\.atOrBelow90).min()!)
    }
}
