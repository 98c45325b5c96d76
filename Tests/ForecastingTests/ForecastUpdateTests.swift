import Foundation
import Testing
@testable import Forecasting
import TestSupport

/// Incremental forecasting: a model's state moved along by later observations forecasts what the
/// model, fitted on the same range, forecasts from a later origin; an updated forecast keeps its
/// fit's choice and interval offsets and starts after the newest observation.
@Suite(.offThePool) struct ForecastUpdateTests {
    /// Four weeks of half-hourly load: a daily and a weekly shape, a drift and some noise.
    static let y: [Double] = (0..<(28 * 48)).map { (t: Int) -> Double in
        let weekend: Double = t / 48 % 7 >= 5 ? -25 : 0
        let drift = 0.02 * Double(t), noise = Double((t * 7919) % 17) * 0.6
        return dailyShape(t) + weekend + drift + noise
    }

    /// A state from a fit on `y[0..<n]`, moved by `y[n..<o]`, forecasts exactly what the same model
    /// fitted on the same range forecasts from origin `o` (same parameters, same filtering).
    @Test(arguments: ["holt-winters", "seasonal-ar", "seasonal-naive"])
    func aMovedStateForecastsAsTheModelFromThatOrigin(model: String) throws {
        let m = try #require(Forecaster.defaultModels.first { $0.name == model })
        let n = 24 * 48, o = n + 13, horizon = 24, seasons = [48, 336]
        let prefix = Array(Self.y[0..<n])
        let fit = try #require(m.run(ModelInput(y: prefix, seasons: seasons, fitEnd: n - 48, origins: [n - 48], horizon: horizon)))
        let later = try #require(m.run(ModelInput(y: Self.y, seasons: seasons, fitEnd: n - 48, origins: [n - 48, o], horizon: horizon)))
        var state = try #require(fit.state)
        #expect(state.forecast(horizon: horizon) == fit.final)
        for t in n..<o { state.observe(Self.y[t], excluded: false) }
        let moved = state.forecast(horizon: horizon)
        let worst = zip(moved, later.originForecasts[1]).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-9, "\(model): largest difference \(worst)")
    }

    /// The decomposition keeps its components' last cycles and moves its level by exponential
    /// smoothing of the adjusted observations; the deviation from the level fades by φ per step.
    @Test func theDecompositionMovesItsLevelOnly() {
        var state = SeasonalDecomposition.Fitted(seasons: [2], lastCycles: [[5, -5]], end: 10, t: 10, alpha: 0.5, phi: 0.5, level: 100, lastAdjusted: 100)
        #expect(state.forecast(horizon: 3) == [105, 95, 105])
        state.observe(125, excluded: false)  // slot 0: adjusted 120, level 110, deviation 10
        let expected: [Double] = [110, 117.5]  // level 110 + deviation 10 × 0.5, 0.25 + slot 1's −5, slot 0's +5
        #expect(state.forecast(horizon: 2) == expected)
        state.observe(0, excluded: true)  // a holiday: the level stays, the deviation follows the value
        #expect(state.level == 110)
        #expect(state.t == 12)
    }

    @Test func anUpdateKeepsTheFitsChoiceAndIntervalsFromTheNewestObservation() throws {
        let times = (0..<Self.y.count).map { Int64(1_767_571_200) + Int64($0) * 1800 }
        let n = 19 * 48
        let history = TimeSeries(times: Array(times[0..<n]), values: Array(Self.y[0..<n]))
        let fit = try Forecaster().forecast(history, request: ForecastRequest(seasons: [86400, 604800], horizon: 6 * 3600))
        #expect(fit.updater != nil)
        // Nothing new: the same forecast.
        let same = try #require(fit.updated(with: history))
        #expect(same.mean == fit.mean && same.times == fit.times)
        // Five new observations, one of them missing.
        var newTimes = Array(times[n..<(n + 5)]), newValues = Array(Self.y[n..<(n + 5)])
        newTimes.remove(at: 2); newValues.remove(at: 2)
        let updated = try #require(fit.updated(with: TimeSeries(times: newTimes, values: newValues)))
        #expect(updated.times.first == times[n + 4] + 1800)
        #expect(updated.times.count == fit.times.count)
        #expect(updated.model == fit.model && updated.accuracy == fit.accuracy)
        #expect(updated.updater?.observationsSinceFit == 5)
        for q in [0.05, 0.9, 0.95] {
            let before = zip(fit.quantile(q)!, fit.mean).map { $0 - $1 }, after = zip(updated.quantile(q)!, updated.mean).map { $0 - $1 }
            #expect(zip(before, after).allSatisfy { abs($0 - $1) < 1e-9 }, "quantile \(q): offsets per lead changed")
        }
        #expect(updated.mean != Array(fit.mean.dropFirst(5)) + Array(fit.mean.suffix(5)), "the new observations moved nothing")
        #expect(updated.notes.last?.contains("updated with 5 observation(s)") == true)
        // An update continues from where the last one stopped.
        let again = try #require(updated.updated(with: TimeSeries(times: [times[n + 5]], values: [Self.y[n + 5]])))
        #expect(again.updater?.observationsSinceFit == 6)
        // An observation beyond the forecast's horizon needs a fit.
        #expect(fit.updated(with: TimeSeries(times: [times[n + 12]], values: [1])) == nil)
    }

    /// Business hours: an update across the night takes the next open slot, not the closed ones.
    @Test func anUpdateFollowsACalendarWithClosedHours() throws {
        let start = TimestampParser.parse("2026-01-05 00:00:00")!
        var times: [Int64] = [], values: [Double] = []
        for day in 0..<21 where (day % 7) < 5 {
            for slot in 16..<40 {  // 08:00 to 20:00
                times.append(start + Int64(day) * 86400 + Int64(slot) * 1800)
                values.append(100 + 20 * sin(Double(slot - 16) / 24 * .pi) + Double(day % 5))
            }
        }
        // History through Thursday of week 3 closing; the update is Friday's first two slots.
        let cut = times.firstIndex { $0 >= start + 18 * 86400 }!
        let fit = try Forecaster().forecast(TimeSeries(times: Array(times[..<cut]), values: Array(values[..<cut])),
                                            request: ForecastRequest(seasons: [86400, 604800], horizon: 4 * 3600))
        #expect(fit.times.first == start + 18 * 86400 + 16 * 1800)
        let updated = try #require(fit.updated(with: TimeSeries(times: Array(times[cut..<(cut + 2)]), values: Array(values[cut..<(cut + 2)]))))
        #expect(updated.times.first == start + 18 * 86400 + 18 * 1800)
        #expect(updated.updater?.observationsSinceFit == 2)
    }
}

/// Updates with whatever a source may send after a fit (rows out of order, duplicated, off the
/// grid, before the fit, far ahead, huge or negative values) give a forecast or nil, never a crash
/// or a non-finite value, and never move backwards.
@Suite(.offThePool) struct ForecastUpdateFuzzTests {
    @Test func randomObservationsAfterAFit() throws {
        let times = (0..<ForecastUpdateTests.y.count).map { Int64(1_767_571_200) + Int64($0) * 1800 }
        let n = 21 * 48
        let fit = try Forecaster().forecast(TimeSeries(times: Array(times[0..<n]), values: Array(ForecastUpdateTests.y[0..<n])),
                                            request: ForecastRequest(seasons: [86400, 604800], horizon: 6 * 3600, quantiles: [0.9]))
        let end = times[n - 1]
        var random = SplitMix(seed: 12)
        var outcomes = (updated: 0, unchanged: 0, refused: 0)
        for _ in 0..<400 {
            var current = fit
            for _ in 0..<Int(random.next() % 4 + 1) {
                let count = Int(random.next() % 8)
                var rows: [(Int64, Double)] = []
                for _ in 0..<count {
                    let base = (current.updater?.observedThrough ?? end)
                    let offset: Int64
                    switch random.next() % 6 {
                    case 0: offset = -Int64(random.next() % 20_000)                  // before what was taken
                    case 1: offset = Int64(random.next() % 4) * 1800 + 1800          // the next steps
                    case 2: offset = Int64(random.next() % 7200) + 1                 // off the grid
                    case 3: offset = Int64(random.next() % 200_000)                   // possibly past the horizon
                    case 4: offset = 1800                                            // duplicated
                    default: offset = Int64(random.next() % 3) * 1800 + 1800
                    }
                    let value: Double
                    switch random.next() % 7 {
                    case 0: value = 1e300
                    case 1: value = -Double(random.next() % 1000)
                    case 2: value = .nan
                    default: value = 100 + Double(random.next() % 100)
                    }
                    rows.append((base + offset, value))
                }
                let before = current
                guard let next = current.updated(with: TimeSeries(times: rows.map(\.0), values: rows.map(\.1))) else {
                    outcomes.refused += 1
                    break
                }
                #expect(next.times.count == fit.times.count)
                #expect(next.mean.allSatisfy(\.isFinite) && next.quantiles.values.allSatisfy { $0.allSatisfy(\.isFinite) })
                #expect(zip(next.times, next.times.dropFirst()).allSatisfy { $0 < $1 })
                #expect(next.times.first! >= before.times.first!, "an update never moves the forecast back")
                if next.times.first == before.times.first { outcomes.unchanged += 1 } else { outcomes.updated += 1 }
                current = next
            }
        }
        // Every branch was taken.
        #expect(outcomes.updated > 100 && outcomes.unchanged > 10 && outcomes.refused > 10, "\(outcomes)")
    }
}
