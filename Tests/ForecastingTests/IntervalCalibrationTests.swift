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
        // 87–93 % is the aim; recorded: taylor 93.4 %, bank_calls 89.0 %.
        #expect(auto.coverage90 >= 87 && auto.coverage90 <= 95, "\(file): 90 % interval covered \(auto.coverage90) %")
    }

    /// A series the engine was never developed on (Victoria's half-hourly electricity demand, 2014,
    /// Tests/Data/README.md), swept across its whole year in 4-week windows, its winter included:
    /// the forecasting issue's bar is a median coverage within 87–93 % and no window below 80 %,
    /// and the forecast must beat repeating yesterday (MASE_d below 1) in every window.
    @Test func aHeldOutHalfHourlySeriesMeetsTheCoverageBarInEveryWindow() throws {
        let series = try CSVSeriesReader.read(file: "\(Self.data)/elecdemand_halfhourly.csv")
        let p = BacktestProtocol(seasons: [86400, 604800], start: series.times[0], train: 8 * 604800, horizon: 86400, origins: 20)
        let sweep = try Backtest.sweep(series, protocol: p, every: 4 * 604800)
        #expect(sweep.windows.count == 11)
        #expect(sweep.medianCoverage >= 87 && sweep.medianCoverage <= 93, "median coverage \(sweep.medianCoverage) %")
        #expect(sweep.lowestCoverage >= 80, "lowest window's coverage \(sweep.lowestCoverage) %")
        #expect(sweep.worstMASE < 1, "worst window's MASE_d \(sweep.worstMASE)")
    }
}
