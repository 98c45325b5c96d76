import Foundation
import Testing
@testable import Forecasting
import TestSupport

/// The calibration on errors made up to show one behaviour each: 14 days of inner origins every 3
/// steps, a day (24 steps) ahead, base offsets ±1.645 (a unit normal's 5 % and 95 %).
@Suite(.offThePool) struct IntervalCalibrationTests {
    static let horizon = 24
    static let origins = Array(stride(from: 0, to: 13 * 24, by: 3))

    /// Calibrates errors drawn as `error(origin, lead, unitNormal)`.
    static func calibrate(seed: UInt64, _ error: (Int, Int, Double) -> Double) -> IntervalCalibration {
        var generator = SplitMix(seed: seed)
        func normal() -> Double {
            let u1 = Double(generator.next() % 1_000_000 + 1) / 1_000_001, u2 = Double(generator.next() % 1_000_000) / 1_000_000
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let errors = origins.map { o in (0..<horizon).map { h in error(o, h, normal()) } }
        return IntervalCalibration.calibrate(errors: errors, origins: origins, horizon: horizon,
                                             excluded: [Bool](repeating: false, count: 14 * 24 + horizon),
                                             lowerOffsets: [Double](repeating: -1.645, count: horizon),
                                             upperOffsets: [Double](repeating: 1.645, count: horizon))
    }

    @Test func steadyErrorsKeepThePooledInterval() {
        for seed: UInt64 in 1...5 {
            let c = Self.calibrate(seed: seed) { _, _, z in z }
            #expect(c.upper < 1.2 && c.lower < 1.2, "seed \(seed): ×\(c.upper) above, ×\(c.lower) below")
            #expect(c.coverage > 0.8 && c.coverage < 0.97, "seed \(seed): replay covered \(c.coverage)")
            #expect(c.replayedPoints > 1000)
        }
    }

    @Test func errorsThatGrewLatelyWidenBothBounds() {
        // The last four days' errors are three times the earlier ones: the pooled ±1.645 is too narrow.
        let c = Self.calibrate(seed: 3) { o, _, z in (o >= 10 * 24 ? 3 : 1) * z }
        #expect(c.upper > 1.5 && c.lower > 1.5, "×\(c.upper) above, ×\(c.lower) below")
        #expect(c.upperHalfLife != nil && c.lowerHalfLife != nil, "recent errors weigh more: \(String(describing: c.upperHalfLife)), \(String(describing: c.lowerHalfLife))")
    }

    @Test func aLevelShiftWidensOnlyTheSideItLeaves() {
        // From day 10 the actual runs 2 above the forecast: the upper bound must widen, the lower not.
        let c = Self.calibrate(seed: 4) { o, _, z in z + (o >= 10 * 24 ? 2 : 0) }
        #expect(c.upper > 1.5, "×\(c.upper) above")
        #expect(c.lower < 1.1, "×\(c.lower) below")
    }

    @Test func tooFewOriginsForAReplayLeaveTheIntervalAlone() {
        let errors = [[Double]](repeating: [Double](repeating: 5, count: 24), count: 3)
        let c = IntervalCalibration.calibrate(errors: errors, origins: [0, 12, 24], horizon: 24, excluded: [Bool](repeating: false, count: 48),
                                              lowerOffsets: [Double](repeating: -1, count: 24), upperOffsets: [Double](repeating: 1, count: 24))
        #expect(c.upper == 1 && c.lower == 1 && c.coverage.isNaN)
    }

    @Test func coverCountsCountEveryNeedAtTheFirstScaleThatHoldsIt() {
        let scales = IntervalCalibration.scales
        var generator = SplitMix(seed: 9)
        let needs = (0..<500).map { _ in Double(generator.next() % 5000) / 1000 } + [0, 1, scales[3], scales[scales.count - 1], 100]
        let counts = IntervalCalibration.coverCounts(needs, scales)
        for (k, s) in scales.enumerated() { #expect(counts[k] == Double(needs.filter { $0 <= s }.count), "scale \(s)") }
    }
}

/// The shipped protocol's headline scores (benchmarks/forecast.md): a change that loses them fails.
@Suite(.offThePool) struct HeadlineScores {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Data").path

    @Test(arguments: [("taylor.csv", "2000-06-05 00:00", 0.150), ("bank_calls.csv", "2003-07-08 07:00", 0.770)])
    func theEnginesChoiceBeatsTheBestPythonMethodWithCalibratedIntervals(file: String, start: String, target: Double) throws {
        let series = try CSVSeriesReader.read(file: "\(Self.data)/\(file)")
        let p = BacktestProtocol(seasons: [86400, 604800], start: TimestampParser.parse(start)!, train: 8 * 604800, horizon: 86400, origins: 20)
        let auto = try Backtest.run(series, protocol: p, autoOnly: true)[0]
        #expect(auto.maseDay <= target, "\(file): MASE_d \(auto.maseDay)")
        // 87–93 % is the aim; recorded: taylor 94.1 %, bank_calls 88.4 %.
        #expect(auto.coverage90 >= 87 && auto.coverage90 <= 95, "\(file): 90 % interval covered \(auto.coverage90) %")
        // The side that sizes zones: recorded taylor 92.6 %, bank_calls 90.5 % at or below the 0.9 quantile.
        #expect(auto.atOrBelow90 >= 87 && auto.atOrBelow90 <= 93, "\(file): \(auto.atOrBelow90) % at or below the 0.9 quantile")
    }

    /// taylor's forecasts issued at eight times of day, as a controller issues them at every
    /// observation. The protocol's midnight is among its easiest times (recorded 94.1 %), and the
    /// intervals are calibrated on inner origins at every time of day: over all eight, recorded
    /// 90.8 % covered and 90.4 % at or below the 0.9 quantile (benchmarks/forecast.md).
    @Test func taylorsIntervalsHoldOverEveryTimeOfDay() throws {
        let series = try CSVSeriesReader.read(file: "\(Self.data)/taylor.csv")
        let p = BacktestProtocol(seasons: [86400, 604800], start: series.times[0], train: 8 * 604800, horizon: 86400, origins: 20)
        let sweep = try Backtest.sweep(series, protocol: p, every: 4 * 604800, timesOfDay: 8)
        #expect(sweep.windows.count == 1)
        #expect(sweep.medianCoverage >= 87 && sweep.medianCoverage <= 93, "coverage \(sweep.medianCoverage) %")
        #expect(sweep.medianAtOrBelow90 >= 87 && sweep.medianAtOrBelow90 <= 93, "at or below the 0.9 quantile: \(sweep.medianAtOrBelow90) %")
    }

    /// Series the engine was never developed on (Tests/Data/README.md), each swept across its whole
    /// year in 4-week windows: Victoria's half-hourly electricity demand, 2014, its winter included
    /// (added in session 9), and take-offs per hour from New York's airports, 2013, with its nights
    /// at zero and its storms (added in session 11, after every choice of the engine was made). The
    /// forecasting issue's bar is a median coverage within 87–93 % and no window below 80 %, and the
    /// forecast must beat repeating yesterday (MASE_d below 1) in every window.
    @Test(arguments: [("elecdemand_halfhourly.csv", 11), ("nyc_departures_hourly.csv", 11)])
    func aHeldOutSeriesMeetsTheCoverageBarInEveryWindow(file: String, windows: Int) throws {
        let series = try CSVSeriesReader.read(file: "\(Self.data)/\(file)")
        let p = BacktestProtocol(seasons: [86400, 604800], start: series.times[0], train: 8 * 604800, horizon: 86400, origins: 20)
        let sweep = try Backtest.sweep(series, protocol: p, every: 4 * 604800)
        #expect(sweep.windows.count == windows)
        #expect(sweep.medianCoverage >= 87 && sweep.medianCoverage <= 93, "\(file): median coverage \(sweep.medianCoverage) %")
        #expect(sweep.lowestCoverage >= 80, "\(file): lowest window's coverage \(sweep.lowestCoverage) %")
        #expect(sweep.worstMASE < 1, "\(file): worst window's MASE_d \(sweep.worstMASE)")
        // The side that sizes zones holds too. Recorded at or below the 0.9 quantile: Victoria median
        // 90.3 %, lowest 85.2 %; New York median 91.5 %, lowest 88.3 %.
        #expect(sweep.medianAtOrBelow90 >= 87 && sweep.medianAtOrBelow90 <= 93 && sweep.lowestAtOrBelow90 >= 80,
                "\(file): at or below the 0.9 quantile: median \(sweep.medianAtOrBelow90) %, lowest \(sweep.lowestAtOrBelow90) %")
    }
}

/// Intervals scaled by how hard each phase of the day is (`PhaseDifficulty`), and the engine's
/// choice of them per series.
@Suite(.offThePool) struct PhaseScaledIntervals {
    @Test func aPhasesScaleIsItsMeanChangeFromTheDayBeforeRelativeToTheAverage() throws {
        // Period 4: phase 0 changes by 8 a day, phase 2 by 2, phases 1 and 3 never change.
        var y: [Double] = []
        for day in 0..<6 { y += [Double(day % 2) * 8, 5, Double(day % 2) * 2, 7] }
        let excluded = [Bool](repeating: false, count: y.count)
        let d = try #require(PhaseDifficulty.fromDailyChanges(y, period: 4, excluded: excluded, window: 0))
        // Mean change per phase: 8, 0, 2, 0; average 2.5; phases that never change get the floor of a tenth.
        #expect(d.scales == [8 / 2.5, 0.1, 2 / 2.5, 0.1])
        #expect(d.scale(at: 4 * 1000 + 2) == d.scales[2] && d.scale(at: -1) == d.scales[3])
        // A window of one phase either side averages the neighbours (circularly).
        let smooth = try #require(PhaseDifficulty.fromDailyChanges(y, period: 4, excluded: excluded, window: 1))
        #expect(abs(smooth.scales[0] - (0 + 8 + 0) / 3 / 2.5) < 1e-12)
        #expect(abs(smooth.scales[1] - (8 + 0 + 2) / 3 / 2.5) < 1e-12)
        // Excluded steps are not read: excluding every phase-0 step leaves that phase without data.
        let noPhase0 = (0..<y.count).map { $0 % 4 == 0 }
        #expect(PhaseDifficulty.fromDailyChanges(y, period: 4, excluded: noPhase0, window: 0) == nil)
        // A series that never changes has no difficulty to read.
        #expect(PhaseDifficulty.fromDailyChanges([Double](repeating: 3, count: 24), period: 4, excluded: excluded, window: 0) == nil)
        #expect(PhaseDifficulty.fromDailyChanges(y, period: 1, excluded: excluded, window: 0) == nil)
        #expect(PhaseDifficulty.flat.scale(at: 17) == 1)
    }

    /// Half-hourly load whose noise is ten times larger from 08:00 to 20:00 than at night.
    static func dayAndNight(days: Int, seed: UInt64) -> TimeSeries {
        var generator = SplitMix(seed: seed)
        let noise = (0..<(days * 48)).map { t -> Double in
            let unit = Double(generator.next() % 2001) / 1000 - 1
            return unit * (t % 48 >= 16 && t % 48 < 40 ? 20 : 2)
        }
        return synthetic(days: days) { dailyShape($0) + noise[$0] }
    }

    @Test func noiseThatDependsOnTheHourGetsIntervalsThatDoTooAndCoverBoth() throws {
        let series = Self.dayAndNight(days: 63, seed: 21)
        let history = TimeSeries(times: Array(series.times.prefix(56 * 48)), values: Array(series.values.prefix(56 * 48)))
        let f = try Forecaster(candidates: [SeasonalNaive(useShortestSeason: true), SeasonalDecomposition()]).forecast(history, request: ForecastRequest(seasons: [86400], horizon: 86400))
        #expect(f.notes.contains { $0.hasPrefix("intervals scaled by how hard") }, "notes: \(f.notes)")
        let width = (0..<48).map { f.quantiles[0.95]![$0] - f.quantiles[0.05]![$0] }
        let night = (0..<16).map { width[$0] }.reduce(0, +) / 16, day = (16..<40).map { width[$0] }.reduce(0, +) / 24
        #expect(day > 4 * night, "mean width by day \(day), at night \(night)")
        // Each part of the day covers roughly its share over the next week of day-ahead forecasts.
        var covered = [0, 0], counted = [0, 0]
        for dayAhead in 0..<7 {
            let end = (56 + dayAhead) * 48
            let past = TimeSeries(times: Array(series.times.prefix(end)), values: Array(series.values.prefix(end)))
            let g = try Forecaster(candidates: [SeasonalNaive(useShortestSeason: true), SeasonalDecomposition()]).forecast(past, request: ForecastRequest(seasons: [86400], horizon: 86400))
            for h in 0..<48 {
                let part = h >= 16 && h < 40 ? 0 : 1, actual = series.values[end + h]
                counted[part] += 1
                if actual >= g.quantiles[0.05]![h] && actual <= g.quantiles[0.95]![h] { covered[part] += 1 }
            }
        }
        for part in 0..<2 {
            let share = Double(covered[part]) / Double(counted[part])
            #expect(share >= 0.8 && share <= 0.99, "\(part == 0 ? "day" : "night"): covered \(share)")
        }
    }

    @Test func noiseAlikeAtEveryHourKeepsOneSpread() throws {
        var generator = SplitMix(seed: 5)
        let noise = (0..<(56 * 48)).map { _ in Double(generator.next() % 2001) / 100 - 10 }
        let series = synthetic(days: 56) { dailyShape($0) * 3 + noise[$0] }
        let f = try Forecaster(candidates: [SeasonalNaive(useShortestSeason: true)]).forecast(series, request: ForecastRequest(seasons: [86400], horizon: 86400))
        let width = (0..<48).map { f.quantiles[0.95]![$0] - f.quantiles[0.05]![$0] }
        // Scaled or not, no hour's interval is much wider than another's.
        #expect(width.max()! < 1.6 * width.min()!, "widths \(width.min()!) to \(width.max()!); notes: \(f.notes)")
        // The difficulty reads the day-to-day change, not the level: the busy hours (three times the
        // shape's swing) are no harder than the quiet ones when the noise is the same.
        let d = try #require(PhaseDifficulty.fromDailyChanges(series.values, period: 48, excluded: [Bool](repeating: false, count: series.values.count), window: 2))
        #expect(d.scales.max()! < 1.3 && d.scales.min()! > 0.75, "phase scales \(d.scales.min()!) to \(d.scales.max()!)")
    }

    @Test func anUpdateKeepsEachIntervalWithItsHourNotItsLead() throws {
        let series = Self.dayAndNight(days: 57, seed: 8)
        let n = 56 * 48
        let history = TimeSeries(times: Array(series.times.prefix(n)), values: Array(series.values.prefix(n)))
        let f = try Forecaster(candidates: [SeasonalNaive(useShortestSeason: true), SeasonalDecomposition()]).forecast(history, request: ForecastRequest(seasons: [86400], horizon: 86400))
        #expect(f.notes.contains { $0.hasPrefix("intervals scaled by how hard") })
        // Twelve hours later (24 new observations) the forecast starts at noon: its first steps are by day.
        let later = TimeSeries(times: Array(series.times.prefix(n + 24)), values: Array(series.values.prefix(n + 24)))
        let g = try #require(f.updated(with: later))
        #expect(g.times[0] == series.times[n + 24])
        func width(_ x: Forecast, _ h: Int) -> Double { x.quantiles[0.95]![h] - x.quantiles[0.05]![h] }
        // 13:00 (lead 2 now) is as wide as the fit made 13:00 (lead 26) up to how spreads grow with
        // the lead, and several times wider than 01:00 (lead 26 now).
        #expect(width(g, 2) > 4 * width(g, 26), "13:00 \(width(g, 2)), 01:00 \(width(g, 26))")
        #expect(width(f, 26) > 4 * width(f, 2), "the fit: 13:00 \(width(f, 26)), 01:00 \(width(f, 2))")
    }
}
