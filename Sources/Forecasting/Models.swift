import Foundation

/// What a model is asked: fit on `y[0..<fitEnd]`, then, with the fitted parameters, forecast
/// `horizon` steps from each of `origins` (using only `y[0..<origin]`) and from the end of `y`.
/// `excluded[t]` marks steps (holidays) that must not shape the model: filters treat them as missing.
public struct ModelInput: Sendable {
    public var y: [Double]
    /// Season lengths in steps, ascending, each at most half the fit range.
    public var seasons: [Int]
    public var fitEnd: Int
    public var origins: [Int]
    public var horizon: Int
    public var excluded: [Bool]

    public init(y: [Double], seasons: [Int], fitEnd: Int, origins: [Int], horizon: Int, excluded: [Bool]? = nil) {
        self.y = y
        self.seasons = seasons
        self.fitEnd = fitEnd
        self.origins = origins
        self.horizon = horizon
        self.excluded = excluded ?? [Bool](repeating: false, count: y.count)
    }
}

/// A model's answer: forecasts from every inner origin (for selection and calibration) and the final one.
public struct ModelRun: Sendable {
    public var name: String
    public var originForecasts: [[Double]]
    public var final: [Double]
    /// Fitted parameters, for status and debugging.
    public var parameters: [String: Double]
    /// Spikes the filter dampened (observations far outside the recent error scale).
    public var spikesDampened: Int
}

/// A forecasting model. Implementations are pure and cheap to construct.
public protocol ForecastModel: Sendable {
    var name: String { get }
    /// The least history (in steps) the model needs for the given seasons.
    func minimumHistory(seasons: [Int]) -> Int
    func run(_ input: ModelInput) -> ModelRun?
}

// MARK: - Seasonal naive

/// Tomorrow is the same slot one season ago (the longest season by default).
public struct SeasonalNaive: ForecastModel {
    public var useShortestSeason: Bool
    public init(useShortestSeason: Bool = false) { self.useShortestSeason = useShortestSeason }
    public var name: String { useShortestSeason ? "seasonal-naive-short" : "seasonal-naive" }
    public func minimumHistory(seasons: [Int]) -> Int { (useShortestSeason ? seasons.first : seasons.last) ?? 1 }

    public func run(_ input: ModelInput) -> ModelRun? {
        let p = (useShortestSeason ? input.seasons.first : input.seasons.last) ?? 1
        func forecast(from o: Int) -> [Double]? {
            guard o >= p else { return nil }
            return (0..<input.horizon).map { h in input.y[o - p + (h % p)] }
        }
        guard let final = forecast(from: input.y.count) else { return nil }
        let origins = input.origins.map { forecast(from: $0) ?? [Double](repeating: input.y[max($0 - 1, 0)], count: input.horizon) }
        return ModelRun(name: name, originForecasts: origins, final: final, parameters: ["period": Double(p)], spikesDampened: 0)
    }
}

// MARK: - Multi-seasonal Holt-Winters with AR(1) error correction

/// Additive exponential smoothing with one seasonal component per season (day and week together),
/// and a first-order autoregression of the one-step error (Taylor, 2003). Smoothing parameters and
/// the AR coefficient are fitted by Nelder–Mead on the fit range's one-step errors plus its errors a
/// whole horizon ahead. Errors far
/// outside the recent error scale are clipped before they update the states, so spikes do not
/// distort the seasonal profiles.
public struct MultiSeasonalHoltWinters: ForecastModel {
    public var name: String { "holt-winters" }
    public init() {}
    public func minimumHistory(seasons: [Int]) -> Int { 2 * (seasons.last ?? 1) }

    struct Parameters { var alpha: Double; var gammas: [Double]; var phi: Double }

    struct State {
        var level: Double
        var seasonals: [[Double]]
        var lastResidual: Double
        var errorScale: Double
    }

    func initialState(_ y: [Double], seasons: [Int]) -> State {
        let longest = seasons.last ?? 1
        let span = min(y.count, 2 * longest)
        let level = y[0..<span].reduce(0, +) / Double(span)
        var seasonals: [[Double]] = []
        var explained = [Double](repeating: 0, count: span)
        for p in seasons {
            var sums = [Double](repeating: 0, count: p), counts = [Double](repeating: 0, count: p)
            for t in 0..<span { sums[t % p] += y[t] - level - explained[t]; counts[t % p] += 1 }
            let s = (0..<p).map { counts[$0] > 0 ? sums[$0] / counts[$0] : 0 }
            for t in 0..<span { explained[t] += s[t % p] }
            seasonals.append(s)
        }
        var absSum = 0.0
        for t in 1..<span { absSum += abs(y[t] - y[t - 1]) }
        return State(level: level, seasonals: seasonals, lastResidual: 0, errorScale: max(absSum / Double(max(span - 1, 1)), 1e-9))
    }

    /// Runs the filter over `y[0..<end]`; calls `atOrigin(t, state)` before consuming `y[t]` for each origin.
    /// Returns the sum of squared one-step errors from `scoreFrom` on, with `leadScored > 0` also
    /// the sum of squared errors of the forecasts made `leadScored` steps earlier, and the dampened count.
    func filter(_ y: [Double], excluded: [Bool], seasons: [Int], parameters: Parameters, end: Int, scoreFrom: Int,
                state: inout State, origins: [Int] = [], leadScored: Int = 0,
                atOrigin: (Int, State) -> Void = { _, _ in }) -> (oneStepSSE: Double, leadSSE: Double, spikes: Int) {
        var oneStepSSE = 0.0
        var leadSSE = 0.0
        // Ring buffers of the level and residual, to score the forecast made `leadScored` steps earlier.
        let lead = max(leadScored, 1)
        var levels = [Double](repeating: 0, count: lead)
        var residuals = [Double](repeating: 0, count: lead)
        let phiLead = pow(parameters.phi, Double(lead))
        var spikes = 0
        var nextOrigin = 0
        let k = seasons.count
        let alpha = parameters.alpha, phi = parameters.phi
        for t in 0..<end {
            while nextOrigin < origins.count && origins[nextOrigin] < t { nextOrigin += 1 }
            if nextOrigin < origins.count && origins[nextOrigin] == t { atOrigin(t, state); nextOrigin += 1 }
            var seasonal = 0.0
            for i in 0..<k { seasonal += state.seasonals[i][t % seasons[i]] }
            let base = state.level + seasonal
            let prediction = base + phi * state.lastResidual
            if excluded[t] {
                // A holiday: keep the states as they are, as if the step had been predicted exactly.
                state.lastResidual *= phi
                continue
            }
            var error = y[t] - prediction
            if t >= scoreFrom { oneStepSSE += error * error }
            if leadScored > 0 {
                if t >= scoreFrom + lead {
                    let earlier = levels[t % lead] + seasonal + phiLead * residuals[t % lead]
                    let e = y[t] - earlier
                    leadSSE += e * e
                }
                levels[t % lead] = state.level
                residuals[t % lead] = state.lastResidual
            }
            let bound = 6 * state.errorScale
            if abs(error) > bound {
                error = error > 0 ? bound : -bound
                spikes += 1
            }
            state.errorScale = 0.99 * state.errorScale + 0.01 * 1.25 * abs(error)
            state.level += alpha * error
            for i in 0..<k { state.seasonals[i][t % seasons[i]] += parameters.gammas[i] * error }
            state.lastResidual = phi * state.lastResidual + error  // residual of the (clipped) observation
        }
        return (oneStepSSE, leadSSE, spikes)
    }

    func forecast(_ state: State, from t: Int, horizon: Int, seasons: [Int], phi: Double) -> [Double] {
        var out = [Double](repeating: 0, count: horizon)
        var ar = state.lastResidual
        for h in 0..<horizon {
            ar *= phi
            var v = state.level + ar
            for i in 0..<seasons.count { v += state.seasonals[i][(t + h) % seasons[i]] }
            out[h] = v
        }
        return out
    }

    public func run(_ input: ModelInput) -> ModelRun? {
        let seasons = input.seasons
        guard input.fitEnd >= minimumHistory(seasons: seasons) else { return nil }
        let y = input.y
        let start = initialState(y, seasons: seasons)
        let k = seasons.count
        let burnIn = seasons.last ?? 1
        func params(_ x: [Double]) -> Parameters {
            Parameters(alpha: logistic(x[0]), gammas: (0..<k).map { logistic(x[1 + $0]) }, phi: logistic(x[1 + k]) * 1.98 - 0.99)
        }
        let objective: ([Double]) -> Double = { x in
            var s = start
            // One-step errors plus the errors of forecasts made a whole horizon earlier (one pass
            // scores both): parameters that are best one step ahead smooth too little for a day ahead.
            let scored = filter(y, excluded: input.excluded, seasons: seasons, parameters: params(x), end: input.fitEnd, scoreFrom: burnIn, state: &s, leadScored: input.horizon)
            return scored.oneStepSSE + scored.leadSSE
        }
        let x0 = [logit(0.1)] + [Double](repeating: logit(0.1), count: k) + [logit((0.5 + 0.99) / 1.98)]
        let best = nelderMead(objective, start: x0, step: 1.0, maxEvaluations: 60 + 30 * k)
        let p = params(best.x)
        var state = start
        var originForecasts: [[Double]] = []
        let (_, _, spikes) = filter(y, excluded: input.excluded, seasons: seasons, parameters: p, end: y.count, scoreFrom: burnIn, state: &state,
                                 origins: input.origins) { t, s in
            originForecasts.append(forecast(s, from: t, horizon: input.horizon, seasons: seasons, phi: p.phi))
        }
        guard originForecasts.count == input.origins.count else { return nil }
        let final = forecast(state, from: y.count, horizon: input.horizon, seasons: seasons, phi: p.phi)
        var parameters: [String: Double] = ["alpha": p.alpha, "phi": p.phi]
        for i in 0..<k { parameters["gamma\(seasons[i])"] = p.gammas[i] }
        return ModelRun(name: name, originForecasts: originForecasts, final: final, parameters: parameters, spikesDampened: spikes)
    }
}

// MARK: - Decomposition (MSTL-like)

/// Robust seasonal decomposition, then a model of what is left: each season's profile is a
/// recency-weighted, outlier-trimmed mean of its cycle sub-series (estimated on the fit range
/// only), the deseasonalised series follows a local level (simple exponential smoothing) and its
/// remaining error an AR(2).
public struct SeasonalDecomposition: ForecastModel {
    public var name: String { "decomposition" }
    /// Weight of a cycle relative to the next newer one when profiles are averaged.
    static let recencyDecay = 0.85
    public init() {}
    public func minimumHistory(seasons: [Int]) -> Int { 2 * (seasons.last ?? 1) }

    static func profiles(_ y: [Double], end: Int, seasons: [Int], excluded: [Bool], decay: Double = recencyDecay) -> [[Double]] {
        let longest = seasons.last ?? 1
        // Trend: centred moving average over the longest season.
        var trend = [Double](repeating: 0, count: end)
        var prefix = [Double](repeating: 0, count: end + 1)
        for t in 0..<end { prefix[t + 1] = prefix[t] + y[t] }
        let half = longest / 2
        for t in 0..<end {
            let a = max(0, min(t - half, end - longest)), b = min(end, a + longest)
            trend[t] = (prefix[b] - prefix[a]) / Double(b - a)
        }
        var profiles = seasons.map { [Double](repeating: 0, count: $0) }
        for _ in 0..<2 {
            for (i, p) in seasons.enumerated() {
                let cycles = end / p
                var values = [[Double]](repeating: [], count: p)
                var weights = [[Double]](repeating: [], count: p)
                for t in (end - cycles * p)..<end where !excluded[t] {
                    var other = 0.0
                    for (j, q) in seasons.enumerated() where j != i { other += profiles[j][t % q] }
                    let age = Double((end - 1 - t) / p)
                    values[t % p].append(y[t] - trend[t] - other)
                    weights[t % p].append(pow(decay, age))
                }
                var s = [Double](repeating: 0, count: p)
                for phase in 0..<p where !values[phase].isEmpty {
                    // Trimmed, weighted mean: drop values beyond 3 MADs of the phase median.
                    let v = values[phase]
                    let m = median(v)
                    let mad = median(v.map { abs($0 - m) }) * 1.4826 + 1e-12
                    var sw = 0.0, sv = 0.0
                    for (x, w) in zip(v, weights[phase]) where abs(x - m) <= 3 * mad { sw += w; sv += w * x }
                    s[phase] = sw > 0 ? sv / sw : m
                }
                let mean = s.reduce(0, +) / Double(p)
                profiles[i] = s.map { $0 - mean }
            }
        }
        return profiles
    }

    public func run(_ input: ModelInput) -> ModelRun? {
        let seasons = input.seasons
        guard input.fitEnd >= minimumHistory(seasons: seasons) else { return nil }
        let y = input.y
        // Profiles are re-estimated once a day (of the shortest season) from the data before that
        // point, so each forecast uses profiles as fresh as the data it may see.
        let refresh = seasons.first ?? 1
        var profileCache: [Int: [[Double]]] = [:]
        func profiles(upTo end: Int) -> [[Double]] {
            let key = max(input.fitEnd, end - (end - input.fitEnd) % refresh)
            if let p = profileCache[key] { return p }
            let p = Self.profiles(y, end: key, seasons: seasons, excluded: input.excluded)
            profileCache[key] = p
            return p
        }
        let fitProfiles = profiles(upTo: input.fitEnd)
        func seasonal(_ p: [[Double]], _ t: Int) -> Double {
            var s = 0.0
            for (i, q) in seasons.enumerated() { s += p[i][t % q] }
            return s
        }
        // Level smoothing parameter by a coarse search on one-step errors, then AR(2) on the errors.
        func levelErrors(_ alpha: Double, end: Int) -> [Double] {
            var level = y[0] - seasonal(fitProfiles, 0)
            var e = [Double](repeating: 0, count: end)
            for t in 0..<end {
                e[t] = y[t] - seasonal(fitProfiles, t) - level
                if !input.excluded[t] { level += alpha * e[t] }
            }
            return e
        }
        var bestAlpha = 0.1, bestSSE = Double.infinity
        for alpha in [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8] {
            let e = levelErrors(alpha, end: input.fitEnd)
            let sse = e[(seasons.first ?? 1)...].reduce(0) { $0 + $1 * $1 }
            if sse < bestSSE { bestSSE = sse; bestAlpha = alpha }
        }
        let fitErrors = levelErrors(bestAlpha, end: input.fitEnd)
        let ar = leastSquares(rows: max(input.fitEnd - 2, 0), columns: 2) { r, x in
            x[0] = fitErrors[r + 1]; x[1] = fitErrors[r]
            return fitErrors[r + 2]
        } ?? [0, 0]
        // Filter with the profiles of the day; forecast from each origin with that day's profiles.
        var originForecasts: [[Double]] = []
        var level = y[0] - seasonal(fitProfiles, 0)
        var e1 = 0.0, e2 = 0.0
        var nextOrigin = 0
        func forecast(from t: Int) -> [Double] {
            let p = profiles(upTo: t)
            var a = e1, b = e2
            return (0..<input.horizon).map { h in
                let next = ar[0] * a + ar[1] * b
                b = a; a = next
                return level + next + seasonal(p, t + h)
            }
        }
        for t in 0..<y.count {
            while nextOrigin < input.origins.count && input.origins[nextOrigin] < t { nextOrigin += 1 }
            if nextOrigin < input.origins.count && input.origins[nextOrigin] == t { originForecasts.append(forecast(from: t)); nextOrigin += 1 }
            let e = y[t] - seasonal(profiles(upTo: t), t) - level
            if !input.excluded[t] { level += bestAlpha * e }
            e2 = e1; e1 = input.excluded[t] ? e1 : e
        }
        guard originForecasts.count == input.origins.count else { return nil }
        return ModelRun(name: name, originForecasts: originForecasts, final: forecast(from: y.count),
                        parameters: ["alpha": bestAlpha, "ar1": ar[0], "ar2": ar[1]], spikesDampened: 0)
    }
}

// MARK: - Seasonal autoregression (ARIMA family)

/// An autoregression on the series differenced by its longest season (a seasonal ARIMA
/// (p,0,0)(0,1,0) with extra lags at the shorter seasons), fitted by least squares on the fit range
/// and iterated for multi-step forecasts.
public struct SeasonalAutoregression: ForecastModel {
    public var name: String { "seasonal-ar" }
    public init() {}
    public func minimumHistory(seasons: [Int]) -> Int { 3 * (seasons.last ?? 1) }

    public func run(_ input: ModelInput) -> ModelRun? {
        let seasons = input.seasons
        guard let longest = seasons.last, input.fitEnd >= minimumHistory(seasons: seasons) else { return nil }
        let y = input.y
        var lags = [1, 2, 3]
        for p in seasons where p != longest { lags += [p, p + 1] }
        lags.append(longest)  // seasonal AR term on the differenced series
        let maxLag = lags.max()!
        var d = [Double](repeating: 0, count: y.count)
        for t in longest..<y.count { d[t] = y[t] - y[t - longest] }
        let first = longest + maxLag
        guard input.fitEnd - first > 4 * lags.count else { return nil }
        let columns = lags.count + 1
        guard let b = leastSquares(rows: input.fitEnd - first, columns: columns, ridge: 1e-6, regressor: { r, x in
            let t = first + r
            for (i, l) in lags.enumerated() { x[i] = d[t - l] }
            x[lags.count] = 1
            return d[t]
        }) else { return nil }
        func forecast(from o: Int) -> [Double] {
            guard o >= first else { return (0..<input.horizon).map { y[max(o - longest, 0) + $0 % longest] } }
            var dd = Array(d[(o - maxLag)..<o])
            var yy = Array(y[(o - longest)..<o])
            var out = [Double](repeating: 0, count: input.horizon)
            for h in 0..<input.horizon {
                var v = b[lags.count]
                for (i, l) in lags.enumerated() { v += b[i] * dd[dd.count - l] }
                dd.append(v)
                let value = yy[yy.count - longest] + v
                yy.append(value)
                out[h] = value
            }
            return out
        }
        return ModelRun(name: name, originForecasts: input.origins.map(forecast), final: forecast(from: y.count),
                        parameters: Dictionary(uniqueKeysWithValues: lags.enumerated().map { ("lag\($1)", b[$0]) }), spikesDampened: 0)
    }
}
