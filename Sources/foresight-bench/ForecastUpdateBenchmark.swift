import ArgumentParser
import Forecasting
import Foundation
import Reconcilers

/// `foresight-bench forecast-update`: what incremental forecasting costs and loses. Walks the last
/// days of a trace one observation at a time as the controller does (`ForecastCadence`: a fit once
/// per `refitEvery`, an update per observation in between) and, every `compareEvery` observations,
/// fits afresh as well; both forecasts are scored on the same origins against the trace.
struct ForecastUpdateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forecast-update",
                                                    abstract: "Incremental forecasts (fit per refitEvery, update per observation) against a fresh fit at every origin: time and accuracy.")

    @Option(help: "A timestamp,value CSV.") var input = "Tests/Data/bank_calls.csv"
    @Option(help: "Days at the end of the trace to walk.") var days = 7
    @Option(help: "History each fit uses.") var history = "21d"
    @Option(help: "How far ahead each forecast is scored.") var horizon = "2h"
    @Option(help: "The cadence's refitEvery.") var refitEvery = "1d"
    @Option(help: "Seasons.") var seasons = "1d,7d"
    @Option(help: "Score (and fit afresh) every this many observations.") var compareEvery = 6

    func run() throws {
        let series = try CSVSeriesReader.read(file: input)
        guard let span = DurationParser.seconds(history), let reach = DurationParser.seconds(horizon), let every = DurationParser.seconds(refitEvery) else {
            throw ValidationError("history, horizon and refitEvery must be durations such as 21d, 2h, 1d")
        }
        let seasonList = seasons.split(separator: ",").compactMap { DurationParser.seconds(String($0)) }
        let step = series.times.count > 1 ? series.times[1] - series.times[0] : 300
        let cadence = ForecastCadence(step: step, refitEvery: every, reach: reach, seasons: seasonList, quantiles: [0.9])
        let actual = Dictionary(zip(series.times, series.values), uniquingKeysWith: { a, _ in a })
        let end = series.times.last! - reach
        let first = series.index(atOrAfter: end - Int64(days) * 86400)
        let forecaster = Forecaster(concurrent: false)

        var current: Forecast?
        var fittedAt: Int64 = 0
        var fitSeconds: [Double] = [], updateSeconds: [Double] = []
        var scored = (incremental: Score(), fresh: Score())
        var k = first
        while k < series.count && series.times[k] <= end {
            let now = series.times[k] + 1  // the observation at times[k] has just arrived
            let t0 = DispatchTime.now().uptimeNanoseconds
            if let c = current, let moved = cadence.advance(c, fittedAt: fittedAt, now: now, recent: series.slice(k..<(k + 1))) {
                current = moved
                updateSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            } else {
                let past = series.slice(series.index(atOrAfter: now - span)..<(k + 1))
                current = try forecaster.forecast(past, request: cadence.request(historyEnd: series.times[k], now: now))
                fittedAt = now
                fitSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            if (k - first) % compareEvery == 0, let incremental = current {
                let past = series.slice(series.index(atOrAfter: now - span)..<(k + 1))
                let fresh = try forecaster.forecast(past, request: cadence.request(historyEnd: series.times[k], now: now))
                scored.incremental.add(incremental, actual: actual, until: series.times[k] + reach)
                scored.fresh.add(fresh, actual: actual, until: series.times[k] + reach)
            }
            k += 1
        }
        func median(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.sorted()[v.count / 2] }
        print("trace \(input): the last \(days) days, \(k - first) observations; history \(history), horizon \(horizon), seasons \(seasons)")
        print(String(format: "incremental (refitEvery %@): %d fits, median %.1f ms; %d updates, median %.1f µs, max %.1f µs",
                     refitEvery, fitSeconds.count, median(fitSeconds) * 1000, updateSeconds.count, median(updateSeconds) * 1e6, (updateSeconds.max() ?? .nan) * 1e6))
        print("scored every \(compareEvery) observations (\(scored.fresh.origins) origins), each over the coming \(horizon):")
        print("| forecast | MAE | mean abs. % error | inside the 90 % interval | at or below the 0.9 quantile |")
        print("| --- | --- | --- | --- | --- |")
        for (name, s) in [("updated since the last fit", scored.incremental), ("fitted afresh", scored.fresh)] {
            print(String(format: "| %@ | %.2f | %.2f %% | %.1f %% | %.1f %% |", name, s.mae, s.mape * 100, s.coverage * 100, s.quantileCoverage * 100))
        }
    }

    struct Score {
        var origins = 0, count = 0, percentCount = 0
        var absolute = 0.0, percent = 0.0, inside = 0.0, below = 0.0
        mutating func add(_ f: Forecast, actual: [Int64: Double], until: Int64) {
            origins += 1
            let lower = f.quantile(0.05) ?? f.mean, upper = f.quantile(0.95) ?? f.mean, q = f.quantile(0.9) ?? f.mean
            for (i, t) in f.times.enumerated() where t <= until {
                guard let y = actual[t], y.isFinite else { continue }
                count += 1
                absolute += abs(y - f.mean[i])
                if abs(y) > 1e-9 { percent += abs(y - f.mean[i]) / abs(y); percentCount += 1 }
                if y >= lower[i] && y <= upper[i] { inside += 1 }
                if y <= q[i] { below += 1 }
            }
        }
        var mae: Double { absolute / Double(max(count, 1)) }
        var mape: Double { percent / Double(max(percentCount, 1)) }
        var coverage: Double { inside / Double(max(count, 1)) }
        var quantileCoverage: Double { below / Double(max(count, 1)) }
    }
}
