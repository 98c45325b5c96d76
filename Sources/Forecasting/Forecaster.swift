import Foundation

/// What to forecast: seasons and horizon as durations, quantiles, holidays.
public struct ForecastRequest: Sendable {
    /// Season lengths in seconds (`1d` = 86400, `7d` = 604800).
    public var seasons: [Int64]
    /// How far ahead, in seconds.
    public var horizon: Int64
    /// Quantiles to report besides the mean; 0.5, 0.9, 0.95 and 0.99 are always included.
    public var quantiles: [Double]
    /// Holiday dates (`YYYY-MM-DD`): kept out of fitting, forecast from past holidays' profile.
    public var holidays: [String]
    /// Restrict the candidates to these model names (nil: all).
    public var models: [String]?

    public init(seasons: [Int64] = [86400, 604800], horizon: Int64 = 86400, quantiles: [Double] = [], holidays: [String] = [], models: [String]? = nil) {
        self.seasons = seasons
        self.horizon = horizon
        self.quantiles = quantiles
        self.holidays = holidays
        self.models = models
    }
}

/// A forecast as a distribution per step: mean and quantiles, with what produced it.
public struct Forecast: Sendable {
    public var times: [Int64]
    public var mean: [Double]
    /// Quantile level → one value per step.
    public var quantiles: [Double: [Double]]
    /// The model or combination chosen, e.g. `holt-winters+seasonal-ar`.
    public var model: String
    /// Weights of the combined models.
    public var weights: [String: Double]
    /// Fitted parameters of each combined model (e.g. `alpha`, `phi`), for status and debugging.
    public var parameters: [String: [String: Double]] = [:]
    /// The engine's own out-of-sample accuracy on the last part of the history.
    public var accuracy: Accuracy
    /// Repairs and fallbacks, in words.
    public var notes: [String]
    public var step: Int64
    /// How to move this forecast along as observations arrive, without a fit (nil: it cannot be).
    public var updater: ForecastUpdater?

    public init(times: [Int64], mean: [Double], quantiles: [Double: [Double]], model: String, weights: [String: Double],
                parameters: [String: [String: Double]] = [:], accuracy: Accuracy, notes: [String], step: Int64) {
        self.times = times
        self.mean = mean
        self.quantiles = quantiles
        self.model = model
        self.weights = weights
        self.parameters = parameters
        self.accuracy = accuracy
        self.notes = notes
        self.step = step
    }

    /// Accuracy of the chosen forecast over the engine's inner rolling origins.
    public struct Accuracy: Sendable, Codable, Equatable {
        /// Mean absolute error ÷ mean absolute one-day-ago change.
        public var mase: Double
        /// Mean absolute percentage error (0.06 = 6 %).
        public var mape: Double
        /// Share of actuals inside the central 90 % interval, measured after calibration with
        /// errors from other origins (an honest estimate).
        public var intervalCoverage: Double
        public var origins: Int
        public init(mase: Double, mape: Double, intervalCoverage: Double, origins: Int) {
            self.mase = mase
            self.mape = mape
            self.intervalCoverage = intervalCoverage
            self.origins = origins
        }
    }

    public func quantile(_ q: Double) -> [Double]? {
        quantiles.first(where: { abs($0.key - q) < 1e-9 })?.value
    }
}

/// Why a forecast could not be made.
public struct ForecastError: Error, CustomStringConvertible, Sendable {
    public var problem: String
    public var description: String { problem }
}

/// The forecasting engine: repairs the history, runs every candidate model, chooses or combines
/// them by its own rolling-origin evaluation on the last part of the history, and turns the
/// chosen forecast's out-of-sample errors at each lead time into quantiles.
public struct Forecaster: Sendable {
    public var candidates: [any ForecastModel]

    public static let defaultModels: [any ForecastModel] = [
        MultiSeasonalHoltWinters(), SeasonalDecomposition(), SeasonalAutoregression(), SeasonalNaive(), SeasonalNaive(useShortestSeason: true),
    ]

    /// Run the candidate models on separate threads (they are independent and pure).
    public var concurrent: Bool

    public init(candidates: [any ForecastModel] = Forecaster.defaultModels, concurrent: Bool = true) {
        self.candidates = candidates
        self.concurrent = concurrent
    }

    /// Each model's run, in the order of `models`, on as many threads as there are cores; a
    /// model that splits its work (through `input.sharing`) gets the threads the others leave idle.
    func runConcurrently(_ models: [any ForecastModel], _ input: ModelInput) -> [ModelRun?] {
        var input = input
        input.sharing = WorkSharing(threads: concurrent ? ProcessInfo.processInfo.activeProcessorCount : 1)
        let shared = input, results = Slots<ModelRun>(count: models.count)
        shared.sharing.run(jobs: models.count) { i in results[i] = models[i].run(shared) }
        return results.values
    }

    public func forecast(_ series: TimeSeries, request: ForecastRequest) throws -> Forecast {
        try forecast(try SeriesRepair.regularize(series), request: request)
    }

    public func forecast(_ series: RegularSeries, request: ForecastRequest) throws -> Forecast {
        var notes = series.report.notes
        let cal = series.calendar
        let y = series.values
        let n = y.count
        let horizon: Int
        if request.horizon % cal.step == 0 { horizon = try cal.steps(forSeason: request.horizon) } else {
            horizon = Int((Double(request.horizon) / Double(cal.step)).rounded(.up))
        }
        guard horizon > 0 else { throw ForecastError(problem: "the horizon must be at least one step (\(DurationParser.format(cal.step)))") }
        var seasons: [Int] = []
        for s in request.seasons.sorted() {
            let steps = try cal.steps(forSeason: s)
            if steps <= 1 { notes.append("season \(DurationParser.format(s)) is not longer than one step and was ignored"); continue }
            if n < 2 * steps {
                notes.append("season \(DurationParser.format(s)) needs \(2 * steps) steps of history, only \(n) available: it was left out")
                continue
            }
            if !seasons.contains(steps) { seasons.append(steps) }
        }

        // Holidays: excluded from fitting; future ones forecast from past holidays' profile.
        let holidayDays = Set(try request.holidays.map { d -> Int64 in
            guard let t = TimestampParser.parse(d) else { throw ForecastError(problem: "holiday \"\(d)\" is not a date (YYYY-MM-DD)") }
            return t.floorDiv(86400)
        })
        let excluded = (0..<n).map { holidayDays.contains(series.time(at: $0).floorDiv(86400)) }
        let futureTimes = (0..<horizon).map { series.time(at: n + $0) }

        let levels = Array(Set([0.5, 0.9, 0.95, 0.99, 0.05, 0.1] + request.quantiles)).sorted()
        for q in levels where !(q > 0 && q < 1) { throw ForecastError(problem: "quantile \(q) must be between 0 and 1") }

        // Evaluation window: the last two weeks (two of the longest season), or four horizons if
        // longer: the interval calibration's replay needs two horizons of warm-up, a horizon of
        // origins to replay, and the last horizon, whose actuals end the history. Whole horizons
        // only; a quarter of the history at most, so that the models are fitted on most of it.
        // Half when a quarter cannot hold one horizon (a long horizon on a short history: else it
        // could not be tested at all), or four, as long as no model loses its fit by it (a model
        // that had the history it needs before the last quarter must keep it).
        let day = cal.stepsPerDay > 1 ? min(cal.stepsPerDay, n) : max(seasons.first ?? 1, 1)
        let candidates = self.candidates.filter { m in request.models.map { $0.contains(m.name) } ?? true }
        guard !candidates.isEmpty else { throw ForecastError(problem: "no model named \(request.models ?? [])") }
        let quarter = n / 4, half = n / 2
        let halfCostsAFit = candidates.contains { n - quarter >= $0.minimumHistory(seasons: seasons) && n - half < $0.minimumHistory(seasons: seasons) }
        let evalCap = horizon + 1 > quarter || (4 * horizon > quarter && !halfCostsAFit) ? half : quarter
        let evalSpan = min(max(2 * (seasons.last ?? day), 2 * cal.stepsPerWeek, 4 * horizon), evalCap)

        var runs: [ModelRun] = []
        var origins: [Int] = []
        if !seasons.isEmpty && evalSpan >= horizon + 1 {
            let fitEnd = n - evalSpan
            let stride = max(1, (evalSpan - horizon) / 80)
            origins = Array(Swift.stride(from: fitEnd, through: n - horizon, by: stride))
            let input = ModelInput(y: y, seasons: seasons, fitEnd: fitEnd, origins: origins, horizon: horizon, excluded: excluded)
            let eligible = candidates.filter { fitEnd >= $0.minimumHistory(seasons: seasons) }
            runs = runConcurrently(eligible, input).compactMap { $0 }.filter { $0.final.allSatisfy(\.isFinite) }
        }
        if runs.isEmpty {
            if !seasons.isEmpty && evalSpan < horizon + 1 {
                let tooLong = "the horizon (\(DurationParser.format(Int64(horizon) * cal.step))) is too long to test the engine's models over in this history "
                    + "(\(DurationParser.format(Int64(n) * cal.step))): they need more than twice the horizon"
                if var repeated = Self.lastCycleRepeated(series, seasons: seasons, horizon: horizon, levels: levels, futureTimes: futureTimes,
                                                          excluded: excluded, notes: notes + [tooLong]) {
                    _ = settleFuture(series, excluded: excluded, holidayDays: holidayDays, times: futureTimes,
                                     mean: &repeated.mean, quantiles: &repeated.quantiles, notes: &repeated.notes)
                    return repeated
                }
                notes.append(tooLong + "; forecasting the recent level")
            } else {
                notes.append("too little history for seasonal models (\(n) steps): forecasting the recent level")
            }
            return try levelForecast(series, horizon: horizon, levels: levels, futureTimes: futureTimes, notes: notes)
        }

        // Errors of each run at each origin and lead.
        func errors(_ f: [[Double]]) -> [[Double]] {
            origins.indices.map { i in (0..<horizon).map { h in y[origins[i] + h] - f[i][h] } }
        }
        func mae(_ e: [[Double]]) -> Double {
            var s = 0.0, c = 0
            for (i, row) in e.enumerated() { for (h, v) in row.enumerated() where !excluded[origins[i] + h] { s += abs(v); c += 1 } }
            return c > 0 ? s / Double(c) : .infinity
        }
        let runErrors = runs.map { mae(errors($0.originForecasts)) }
        let ranked = runs.indices.sorted { runErrors[$0] < runErrors[$1] }

        // Candidates: each model, and equal-weight combinations of the best two and three.
        var options: [(indices: [Int], weights: [Double])] = runs.indices.map { ([$0], [1]) }
        for k in [2, 3] where ranked.count >= k {
            options.append((Array(ranked.prefix(k)), [Double](repeating: 1 / Double(k), count: k)))
        }
        func combine(_ o: (indices: [Int], weights: [Double]), _ pick: (ModelRun) -> [[Double]]) -> [[Double]] {
            var out = pick(runs[o.indices[0]]).map { $0.map { $0 * o.weights[0] } }
            for (j, idx) in o.indices.enumerated().dropFirst() {
                let f = pick(runs[idx])
                for i in out.indices { for h in out[i].indices { out[i][h] += o.weights[j] * f[i][h] } }
            }
            return out
        }
        let scored = options.map { o in (o, mae(errors(combine(o, { $0.originForecasts })))) }
        let chosen = scored.min { $0.1 < $1.1 }!.0
        let chosenOrigins = combine(chosen, { $0.originForecasts })
        var mean = combine(chosen, { [$0.final] })[0]
        let chosenErrors = errors(chosenOrigins)

        // Quantiles: per lead, from the errors at nearby leads over all inner origins, each error
        // divided by its phase's difficulty (flat: by 1). A lead's pool is the union of its
        // neighbours' columns, its quantiles read as the window slides (`SlidingQuantiles`).
        let window = max(1, horizon / 24)
        func intervals(_ difficulty: PhaseDifficulty) -> (offsets: [Double: [Double]], calibration: IntervalCalibration) {
            let scaled = difficulty == .flat ? chosenErrors
                : origins.indices.map { i in (0..<horizon).map { h in chosenErrors[i][h] / difficulty.scale(at: origins[i] + h) } }
            let columns = (0..<horizon).map { l -> [Double] in
                var column: [Double] = []
                column.reserveCapacity(origins.count)
                for i in origins.indices where !excluded[origins[i] + l] { column.append(scaled[i][l]) }
                return column
            }
            var offsets: [Double: [Double]] = [:]
            for q in levels { offsets[q] = [Double](repeating: 0, count: horizon) }
            var pools = SlidingQuantiles(columns: columns, window: window)
            for h in 0..<horizon {
                pools.advance()
                for q in levels { offsets[q]![h] = pools.quantile(q) }
            }
            // Calibration to the recent regime, replayed online over the inner origins (see
            // `IntervalCalibration`); its replay is the forecast's honest record of its coverage.
            let calibration = IntervalCalibration.calibrate(
                errors: scaled, origins: origins, horizon: horizon, excluded: excluded,
                lowerOffsets: offsets[0.05]!, upperOffsets: offsets[0.95]!, difficulty: difficulty)
            for q in levels where q != 0.5 {
                let factor = q > 0.5 ? calibration.upper : calibration.lower
                if factor != 1 { offsets[q] = offsets[q]!.map { $0 * factor } }
            }
            return (offsets, calibration)
        }
        // Phase scales are used when the calibration's replay scores better with them.
        let flat = intervals(.flat)
        let phases = PhaseDifficulty.fromDailyChanges(y, period: seasons[0], excluded: excluded, window: window)
        let phased = phases.map { intervals($0) }
        let usePhases = phased.map { $0.calibration.replayPinball < flat.calibration.replayPinball } ?? false
        let difficulty = usePhases ? phases! : .flat
        let offsets = usePhases ? phased!.offsets : flat.offsets
        let calibration = usePhases ? phased!.calibration : flat.calibration
        if usePhases { notes.append("intervals scaled by how hard each phase of the shortest season is to forecast") }
        var quantiles = offsets.mapValues { o in (0..<horizon).map { h in mean[h] + o[h] * difficulty.scale(at: n + h) } }
        if calibration.upper != 1 || calibration.lower != 1 {
            func recency(_ halfLife: Int?) -> String { halfLife.map { "half-life \(DurationParser.format(Int64($0) * cal.step))" } ?? "all inner origins alike" }
            let upper = String(format: "%.2f", calibration.upper), lower = String(format: "%.2f", calibration.lower)
            notes.append("intervals widened to the recent errors: upper ×\(upper) (\(recency(calibration.upperHalfLife))), lower ×\(lower) (\(recency(calibration.lowerHalfLife)))")
        }
        let naiveScale = Self.meanChange(y, lag: seasons.first ?? 1)
        var ape = 0.0, apeCount = 0
        for (i, row) in chosenErrors.enumerated() { for (h, e) in row.enumerated() where abs(y[origins[i] + h]) > 1e-9 { ape += abs(e / y[origins[i] + h]); apeCount += 1 } }
        let accuracy = Forecast.Accuracy(mase: mae(chosenErrors) / max(naiveScale, 1e-12), mape: apeCount > 0 ? ape / Double(apeCount) : .nan,
                                         intervalCoverage: calibration.coverage, origins: origins.count)

        let (profile, nonNegative) = settleFuture(series, excluded: excluded, holidayDays: holidayDays, times: futureTimes,
                                                  mean: &mean, quantiles: &quantiles, notes: &notes)
        let spikes = runs[chosen.indices[0]].spikesDampened
        if spikes > 0 { notes.append("\(spikes) spikes were dampened while fitting") }
        let name = chosen.indices.map { runs[$0].name }.joined(separator: "+")
        var weights: [String: Double] = [:]
        for (j, i) in chosen.indices.enumerated() { weights[runs[i].name] = chosen.weights[j] }
        var result = Forecast(times: futureTimes, mean: mean, quantiles: quantiles, model: name, weights: weights, accuracy: accuracy, notes: notes, step: cal.step)
        for i in chosen.indices { result.parameters[runs[i].name] = runs[i].parameters }
        // What an update between fits needs: each chosen model's state and weight, each quantile's
        // offset from the mean at each lead as calibrated here, and the phase scales they go with.
        let states = chosen.indices.compactMap { runs[$0].state }
        if states.count == chosen.indices.count {
            result.updater = ForecastUpdater(states: states, weights: chosen.weights, offsets: offsets, difficulty: difficulty, calendar: cal, next: n, horizon: horizon,
                                             holidayDays: holidayDays, holidayProfile: profile?.values ?? [:], nonNegative: nonNegative, fitNotes: notes, fitEnd: n)
        }
        return result
    }

    /// What every seasonal forecast gets last, the models' and the last-cycle fallback's alike:
    /// future holidays replaced by the profile of past holidays (else of the quietest weekday),
    /// then a load never observed below zero kept at or above it. Returns the holiday profile used
    /// (nil: no holidays asked for) and whether the floor applies, which updates carry on.
    func settleFuture(_ series: RegularSeries, excluded: [Bool], holidayDays: Set<Int64>, times: [Int64],
                      mean: inout [Double], quantiles: inout [Double: [Double]], notes: inout [String]) -> (profile: (values: [Int: Double], note: String)?, nonNegative: Bool) {
        let profile = holidayDays.isEmpty ? nil : holidayProfile(series, excluded: excluded, holidayDays: holidayDays)
        if let profile, Self.applyHolidays(profile.values, times: times, holidayDays: holidayDays, step: series.calendar.step, mean: &mean, quantiles: &quantiles) {
            notes.append(profile.note)
        }
        let nonNegative = series.values.allSatisfy { $0 >= 0 }
        if nonNegative { Self.keepAtOrAboveZero(mean: &mean, quantiles: &quantiles) }
        return (profile, nonNegative)
    }

    /// The mean absolute change of `y` over `lag` steps: the error of repeating the value `lag`
    /// steps before, which MASE is scaled by.
    static func meanChange(_ y: [Double], lag: Int) -> Double {
        var sum = 0.0
        for t in lag..<max(lag, y.count) { sum += abs(y[t] - y[t - lag]) }
        return sum / Double(max(y.count - lag, 1))
    }

    /// A load never observed below zero (requests, connections, CPU) is not forecast below it: the
    /// mean and every quantile are lifted to 0 where they fell under it. The forecast distribution
    /// is cut at the edge of what the load can be, so no quantile moves past an actual value that
    /// could occur (each only rises to 0, at or below every such value).
    static func keepAtOrAboveZero(mean: inout [Double], quantiles: inout [Double: [Double]]) {
        for h in mean.indices where mean[h] < 0 { mean[h] = 0 }
        for q in quantiles.keys { quantiles[q] = quantiles[q]!.map { max(0, $0) } }
    }

    /// Replaces the forecast on future holidays by the holiday profile (values per slot of the
    /// day), moving every quantile with the mean; true when any step was a holiday.
    static func applyHolidays(_ profile: [Int: Double], times: [Int64], holidayDays: Set<Int64>, step: Int64,
                              mean: inout [Double], quantiles: inout [Double: [Double]]) -> Bool {
        var any = false
        for (h, time) in times.enumerated() where holidayDays.contains(time.floorDiv(86400)) {
            any = true
            guard let value = profile[Int((time - time.floorDiv(86400) * 86400) / step)] else { continue }
            let shift = value - mean[h]
            mean[h] = value
            for q in quantiles.keys { quantiles[q]![h] += shift }
        }
        return any
    }

    /// Values per slot of the day for a holiday: the mean of past holidays, else of the quietest weekday.
    func holidayProfile(_ series: RegularSeries, excluded: [Bool], holidayDays: Set<Int64>) -> (values: [Int: Double], note: String) {
        let cal = series.calendar
        var sums: [Int: Double] = [:], counts: [Int: Double] = [:]
        for t in 0..<series.count where excluded[t] {
            let time = series.time(at: t)
            let slot = Int((time - time.floorDiv(86400) * 86400) / cal.step)
            sums[slot, default: 0] += series.values[t]; counts[slot, default: 0] += 1
        }
        if !sums.isEmpty {
            return (sums.reduce(into: [:]) { $0[$1.key] = $1.value / counts[$1.key]! }, "holidays in the horizon were forecast from the profile of \(Int(counts.values.max() ?? 0)) past holiday(s)")
        }
        // The quietest weekday of the last week.
        let week = min(cal.stepsPerWeek, series.count)
        var byDay: [Int64: [Int: Double]] = [:]
        for t in (series.count - week)..<series.count {
            let time = series.time(at: t)
            byDay[time.floorDiv(86400), default: [:]][Int((time - time.floorDiv(86400) * 86400) / cal.step)] = series.values[t]
        }
        let quietest = byDay.min { a, b in a.value.values.reduce(0, +) / Double(a.value.count) < b.value.values.reduce(0, +) / Double(b.value.count) }
        return (quietest?.value ?? [:], "holidays in the horizon were forecast from the quietest day of the last week (no past holiday in the history)")
    }

    /// The forecast of a seasonal history whose horizon is too long for the engine's inner
    /// evaluation: the last cycle of the longest season repeated, with each lead's quantiles read
    /// from how that repetition erred at nearby leads from every origin the history can check it
    /// from. Repeating a cycle has no parameters, so each of those errors is out of sample and the
    /// interval grows with the lead as the history's own drift did. Nil when no season leaves at
    /// least one cycle of the shortest season of origins for the longest lead, or when a lead's
    /// pool holds fewer than 20 errors.
    static func lastCycleRepeated(_ series: RegularSeries, seasons: [Int], horizon: Int, levels: [Double], futureTimes: [Int64],
                                  excluded: [Bool], notes: [String]) -> Forecast? {
        let y = series.values, n = y.count
        guard let shortest = seasons.first,  // seasons are ascending
              let period = seasons.last(where: { n - (horizon - 1) - $0 >= shortest }) else { return nil }
        /// Where a forecast from `origin` reads its value at lead `h`: the same phase a cycle before.
        func source(_ origin: Int, lead h: Int) -> Int { origin - period + h % period }
        let mean = (0..<horizon).map { y[source(n, lead: $0)] }
        // Errors per lead, from origins spaced so that about 400 serve the first lead, and at
        // least 50 (when the history has them) the last.
        let stride = max(1, min((n - period) / 400, (n - (horizon - 1) - period) / 50))
        var errorsAt = [[Double]](repeating: [], count: horizon)
        var absolute = 0.0, relative = 0.0, counted = 0, relativeCounted = 0
        for h in 0..<horizon {
            for o in Swift.stride(from: period, to: n - h, by: stride) {
                let at = o + h, from = source(o, lead: h)
                guard !excluded[at], !excluded[from], y[at].isFinite, y[from].isFinite else { continue }
                let e = y[at] - y[from]
                errorsAt[h].append(e)
                absolute += abs(e); counted += 1
                if abs(y[at]) > 1e-9 { relative += abs(e / y[at]); relativeCounted += 1 }
            }
        }
        // Each lead's pool: the errors within an hour of a day of it (the main path's pool width).
        let window = max(1, shortest / 24)
        var quantiles: [Double: [Double]] = [:]
        for q in levels { quantiles[q] = [Double](repeating: 0, count: horizon) }
        var pools = SlidingQuantiles(columns: errorsAt, window: window)
        for h in 0..<horizon {
            pools.advance()
            guard pools.count >= 20 else { return nil }
            for q in levels { quantiles[q]![h] = mean[h] + pools.quantile(q) }
        }
        let naiveScale = meanChange(y, lag: shortest)
        let cycle = DurationParser.format(Int64(period) * series.calendar.step)
        var result = Forecast(times: futureTimes, mean: mean, quantiles: quantiles, model: "seasonal-naive", weights: ["seasonal-naive": 1],
                              accuracy: Forecast.Accuracy(mase: counted > 0 ? absolute / Double(counted) / max(naiveScale, 1e-12) : .nan,
                                                          mape: relativeCounted > 0 ? relative / Double(relativeCounted) : .nan,
                                                          intervalCoverage: .nan, origins: (n - period + stride - 1) / stride),
                              notes: notes + ["repeating the last \(cycle), with intervals from how repeating a \(cycle) erred at each lead over the history"],
                              step: series.calendar.step)
        result.parameters["seasonal-naive"] = ["period": Double(period)]
        return result
    }

    /// The fallback for short histories: the mean of the recent values, with quantiles from the
    /// spread of one-step changes growing with the square root of the lead. The mean assumes no
    /// drift, so the spread does too: each change counts both ways (a rise of 1 as a step of ±1),
    /// which keeps the median at the mean and the interval around it however the few steps seen
    /// happened to lean.
    func levelForecast(_ series: RegularSeries, horizon: Int, levels: [Double], futureTimes: [Int64], notes: [String]) throws -> Forecast {
        let y = series.values
        let recent = Array(y.suffix(max(3, min(y.count, 12))))
        let level = recent.reduce(0, +) / Double(recent.count)
        var diffs: [Double] = []
        for t in 1..<y.count { diffs.append(y[t] - y[t - 1]); diffs.append(y[t - 1] - y[t]) }
        let sortedDiffs = diffs.sorted()
        var quantiles: [Double: [Double]] = [:]
        for q in levels { quantiles[q] = (0..<horizon).map { h in level + quantile(sorted: sortedDiffs, q) * Double(h + 1).squareRoot() } }
        var mean = [Double](repeating: level, count: horizon)
        if y.allSatisfy({ $0 >= 0 }) { Self.keepAtOrAboveZero(mean: &mean, quantiles: &quantiles) }
        return Forecast(times: futureTimes, mean: mean, quantiles: quantiles, model: "level", weights: ["level": 1],
                        accuracy: Forecast.Accuracy(mase: .nan, mape: .nan, intervalCoverage: .nan, origins: 0), notes: notes, step: series.calendar.step)
    }
}

