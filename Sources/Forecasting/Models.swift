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
    /// Where a model may run its independent pieces of work in parallel (serially by default).
    public var sharing: WorkSharing

    public init(y: [Double], seasons: [Int], fitEnd: Int, origins: [Int], horizon: Int, excluded: [Bool]? = nil, sharing: WorkSharing = .serial) {
        self.y = y
        self.seasons = seasons
        self.fitEnd = fitEnd
        self.origins = origins
        self.horizon = horizon
        self.excluded = excluded ?? [Bool](repeating: false, count: y.count)
        self.sharing = sharing
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
    /// The fitted model at the end of `y`, ready to take later observations (nil: the model
    /// cannot be updated, and a forecast that uses it is only refitted).
    public var state: (any ModelState)?
}

/// A fitted model as it stands after the last observation it took: it takes later observations
/// with its fitted parameters unchanged and forecasts from wherever it has got to. `final` of a
/// run is this state's forecast, so an update with no new observation changes nothing.
///
/// This is the per-step half of incremental forecasting: a fit chooses models and parameters
/// (milliseconds to seconds), an update moves their states along (a few operations per step).
/// The engine's inner origins forecast the same way, from states filtered up to each origin with
/// the parameters fixed, so the intervals learned at a fit hold for its updates.
public protocol ModelState: Sendable {
    /// The next step's observation; `excluded` (a holiday, or a step with no data, whose value is
    /// then the forecast's own) must not move the model.
    mutating func observe(_ value: Double, excluded: Bool)
    /// `horizon` steps from the step after the last observation taken.
    func forecast(horizon: Int) -> [Double]
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
        guard input.y.count >= p else { return nil }
        let state = State(lastCycle: Array(input.y.suffix(p)), oldest: 0)
        let origins = input.origins.map { forecast(from: $0) ?? [Double](repeating: input.y[max($0 - 1, 0)], count: input.horizon) }
        return ModelRun(name: name, originForecasts: origins, final: state.forecast(horizon: input.horizon), parameters: ["period": Double(p)],
                        spikesDampened: 0, state: state)
    }

    /// The last cycle, as a ring whose oldest value is at `oldest`.
    struct State: ModelState {
        var lastCycle: [Double]
        var oldest: Int
        mutating func observe(_ value: Double, excluded: Bool) {
            lastCycle[oldest] = value
            oldest = (oldest + 1) % lastCycle.count
        }
        func forecast(horizon: Int) -> [Double] {
            let p = lastCycle.count
            return (0..<horizon).map { lastCycle[(oldest + $0 % p) % p] }
        }
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
        // One loop, specialised for the usual numbers of seasons so their phases stay in registers.
        switch seasons.count {
        case 1: filter(y, excluded: excluded, seasons: seasons, parameters: parameters, end: end, scoreFrom: scoreFrom, state: &state,
                       origins: origins, leadScored: leadScored, atOrigin: atOrigin, phases: OneSeasonPhase.self)
        case 2: filter(y, excluded: excluded, seasons: seasons, parameters: parameters, end: end, scoreFrom: scoreFrom, state: &state,
                       origins: origins, leadScored: leadScored, atOrigin: atOrigin, phases: TwoSeasonPhases.self)
        default: filter(y, excluded: excluded, seasons: seasons, parameters: parameters, end: end, scoreFrom: scoreFrom, state: &state,
                        origins: origins, leadScored: leadScored, atOrigin: atOrigin, phases: SeasonPhases.self)
        }
    }

    func filter<Phases: SeasonPhaseCursor>(_ y: [Double], excluded: [Bool], seasons: [Int], parameters: Parameters, end: Int, scoreFrom: Int,
                                           state: inout State, origins: [Int], leadScored: Int, atOrigin: (Int, State) -> Void,
                                           phases: Phases.Type) -> (oneStepSSE: Double, leadSSE: Double, spikes: Int) {
        var oneStepSSE = 0.0
        var leadSSE = 0.0
        var spikes = 0
        var nextOrigin = 0
        let k = seasons.count
        let alpha = parameters.alpha, phi = parameters.phi
        // Ring buffers of the level and residual, to score the forecast made `leadScored` steps
        // earlier; `slot` is t modulo their length.
        let lead = max(leadScored, 1)
        let phiLead = pow(parameters.phi, Double(lead))
        let levels = Scratch(count: lead), residuals = Scratch(count: lead)
        defer { levels.free(); residuals.free() }
        var slot = 0
        // The seasonal states, flattened: season i's lie in flat[starts[i] ..< starts[i] + seasons[i]].
        let flat = Scratch(count: seasons.reduce(0, +))
        defer { flat.free() }
        var starts: [Int] = []
        var offset = 0
        for i in 0..<k {
            starts.append(offset)
            for j in 0..<seasons[i] { flat[offset + j] = state.seasonals[i][j] }
            offset += seasons[i]
        }
        var cursor = Phases(seasons: seasons, starts: starts, gammas: parameters.gammas)
        var level = state.level, lastResidual = state.lastResidual, errorScale = state.errorScale
        // Not a closure over the running values, so they stay in registers.
        func snapshot(_ level: Double, _ lastResidual: Double, _ errorScale: Double) -> State {
            State(level: level, seasonals: (0..<k).map { Array(flat.values[starts[$0]..<(starts[$0] + seasons[$0])]) },
                  lastResidual: lastResidual, errorScale: errorScale)
        }
        y.withUnsafeBufferPointer { y in
            excluded.withUnsafeBufferPointer { excluded in
                for t in 0..<end {
                    if nextOrigin < origins.count {
                        while nextOrigin < origins.count && origins[nextOrigin] < t { nextOrigin += 1 }
                        if nextOrigin < origins.count && origins[nextOrigin] == t {
                            atOrigin(t, snapshot(level, lastResidual, errorScale))
                            nextOrigin += 1
                        }
                    }
                    let seasonal = cursor.sum(flat)
                    let prediction = level + seasonal + phi * lastResidual
                    if excluded[t] {
                        // A holiday: keep the states as they are, as if the step had been predicted exactly.
                        lastResidual *= phi
                    } else {
                        var error = y[t] - prediction
                        if t >= scoreFrom { oneStepSSE += error * error }
                        if leadScored > 0 {
                            if t >= scoreFrom + lead {
                                let e = y[t] - (levels[slot] + seasonal + phiLead * residuals[slot])
                                leadSSE += e * e
                            }
                            levels[slot] = level
                            residuals[slot] = lastResidual
                        }
                        let bound = 6 * errorScale
                        if abs(error) > bound {
                            error = error > 0 ? bound : -bound
                            spikes += 1
                        }
                        errorScale = 0.99 * errorScale + 0.0125 * abs(error)
                        level += alpha * error
                        cursor.update(flat, error: error)
                        lastResidual = phi * lastResidual + error  // residual of the (clipped) observation
                    }
                    cursor.advance()
                    slot += 1
                    if slot == lead { slot = 0 }
                }
            }
        }
        state = snapshot(level, lastResidual, errorScale)
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
        let fitted = Fitted(model: self, seasons: seasons, parameters: p, state: state, t: y.count)
        var parameters: [String: Double] = ["alpha": p.alpha, "phi": p.phi]
        for i in 0..<k { parameters["gamma\(seasons[i])"] = p.gammas[i] }
        return ModelRun(name: name, originForecasts: originForecasts, final: fitted.forecast(horizon: input.horizon), parameters: parameters,
                        spikesDampened: spikes, state: fitted)
    }

    /// The filter's state after step `t − 1`, with its fitted parameters.
    struct Fitted: ModelState {
        let model: MultiSeasonalHoltWinters
        let seasons: [Int]
        let parameters: Parameters
        var state: State
        var t: Int

        /// One step of the same filter the fit ran: its seasonal states are turned so that step
        /// `t`'s phase comes first (the filter starts every season at phase 0), then back.
        mutating func observe(_ value: Double, excluded: Bool) {
            var turned = state
            for (i, p) in seasons.enumerated() { turned.seasonals[i] = (0..<p).map { state.seasonals[i][(t + $0) % p] } }
            _ = model.filter([value], excluded: [excluded], seasons: seasons, parameters: parameters, end: 1, scoreFrom: 1, state: &turned)
            for (i, p) in seasons.enumerated() { turned.seasonals[i] = (0..<p).map { turned.seasonals[i][($0 - t % p + p) % p] } }
            state = turned
            t += 1
        }

        func forecast(horizon: Int) -> [Double] { model.forecast(state, from: t, horizon: horizon, seasons: seasons, phi: parameters.phi) }
    }
}

/// Where each season of the Holt-Winters filter is in its cycle, as an index into the flattened
/// seasonal states, and that season's smoothing weight.
protocol SeasonPhaseCursor {
    /// At phase 0 of each season; season i's states start at `starts[i]`.
    init(seasons: [Int], starts: [Int], gammas: [Double])
    /// The sum of the seasons' current states.
    func sum(_ flat: Scratch) -> Double
    /// Each season's current state moves by its weight times `error`.
    func update(_ flat: Scratch, error: Double)
    /// On to the next step.
    mutating func advance()
}

struct OneSeasonPhase: SeasonPhaseCursor {
    var position: Int
    let start: Int, end: Int, gamma: Double
    init(seasons: [Int], starts: [Int], gammas: [Double]) {
        position = starts[0]; start = starts[0]; end = starts[0] + seasons[0]; gamma = gammas[0]
    }
    @inline(__always) func sum(_ flat: Scratch) -> Double { 0.0 + flat[position] }
    @inline(__always) func update(_ flat: Scratch, error: Double) { flat[position] += gamma * error }
    @inline(__always) mutating func advance() { position += 1; if position == end { position = start } }
}

struct TwoSeasonPhases: SeasonPhaseCursor {
    var first: OneSeasonPhase, second: OneSeasonPhase
    init(seasons: [Int], starts: [Int], gammas: [Double]) {
        first = OneSeasonPhase(seasons: seasons, starts: starts, gammas: gammas)
        second = OneSeasonPhase(seasons: Array(seasons.dropFirst()), starts: Array(starts.dropFirst()), gammas: Array(gammas.dropFirst()))
    }
    @inline(__always) func sum(_ flat: Scratch) -> Double { first.sum(flat) + flat[second.position] }
    @inline(__always) func update(_ flat: Scratch, error: Double) { first.update(flat, error: error); second.update(flat, error: error) }
    @inline(__always) mutating func advance() { first.advance(); second.advance() }
}

/// Any number of seasons.
struct SeasonPhases: SeasonPhaseCursor {
    var phases: [OneSeasonPhase]
    init(seasons: [Int], starts: [Int], gammas: [Double]) {
        phases = seasons.indices.map { OneSeasonPhase(seasons: [seasons[$0]], starts: [starts[$0]], gammas: [gammas[$0]]) }
    }
    func sum(_ flat: Scratch) -> Double {
        var s = 0.0
        for p in phases { s += flat[p.position] }
        return s
    }
    func update(_ flat: Scratch, error: Double) { for p in phases { p.update(flat, error: error) } }
    mutating func advance() { for i in phases.indices { phases[i].advance() } }
}

// MARK: - Decomposition (MSTL-like)

/// Multiple seasonal-trend decomposition by local smoothing (after MSTL: Bandara, Hyndman and
/// Bergmeir, 2021), then a local level for what is left.
///
/// Seasons are taken shortest first, twice over. Each season's component is estimated on the
/// series minus the other components and minus a centred moving-average trend: every phase's
/// cycle sub-series is smoothed by a tricube-weighted local mean over `window(i)` cycles, so the
/// component drifts as the shape of the cycle drifts, and the smoothed component loses its own
/// moving average so it carries no level. After the first pass, observations far from the fit get
/// bisquare robustness weights, so spikes do not bend the profiles. The forecast repeats each
/// component's last cycle, plus a level by simple exponential smoothing of the seasonally adjusted
/// series and the last deviation from that level, fading; the smoothing and the fading are chosen
/// by the forecasts' errors from the inner origins.
public struct SeasonalDecomposition: ForecastModel {
    public var name: String { "decomposition" }
    public init() {}
    public func minimumHistory(seasons: [Int]) -> Int { 2 * (seasons.last ?? 1) }

    /// Smoothing window of the i-th shortest season, in cycles: MSTL's default, 7 + 4·(i + 1).
    static func window(season i: Int) -> Int { 11 + 4 * i }

    /// Candidate fadings of the last deviation from the level: none (a flat level), or halving
    /// over an eighth, a half, or one and a half cycles of the shortest season, so that the
    /// choice means the same whatever the step.
    static func deviationFadings(shortestSeason p: Int) -> [Double] {
        [0] + [0.125, 0.5, 1.5].map { pow(0.5, 1 / max($0 * Double(p), 1)) }
    }

    /// The seasonal components of `y[0..<end]`, one array of length `end` per season.
    static func decompose(_ y: [Double], end: Int, seasons: [Int], excluded: [Bool]) -> [[Double]] {
        // A phase's sub-series has end / p or end / p + 1 points: per season, two kernel sets serve
        // every phase of both passes.
        let kernels = seasons.enumerated().map { i, p in
            let shorter = LocalMeanKernels(count: max(end / p, 1), window: window(season: i))
            return (shorter: shorter, longer: end % p > 0 ? LocalMeanKernels(count: end / p + 1, window: window(season: i)) : shorter)
        }
        var components = seasons.map { _ in [Double](repeating: 0, count: end) }
        let robustness = Scratch(count: end), x = Scratch(count: end), trend = Scratch(count: end), work = Scratch(count: end)
        let sub = Scratch(count: end + 1), weights = Scratch(count: end + 1), smooth = Scratch(count: end + 1)
        defer { for b in [robustness, x, trend, work, sub, weights, smooth] { b.free() } }
        y.withUnsafeBufferPointer { y in
            for t in 0..<end { robustness[t] = excluded[t] ? 0 : 1 }
            for pass in 0..<2 {
                if pass == 1 {
                    // Bisquare weights from the first pass's remainder (y − trend − seasonals).
                    for t in 0..<end { x[t] = y[t] }
                    for c in components { c.withUnsafeBufferPointer { c in for t in 0..<end { x[t] -= c[t] } } }
                    lowPass(x, count: end, period: seasons.last ?? 1, into: trend, work: work)
                    var remainder = [Double](repeating: 0, count: end)
                    for t in 0..<end { remainder[t] = abs(x[t] - trend[t]) }
                    let scale = 6 * selectMedian(&remainder) + 1e-12
                    for t in 0..<end where !excluded[t] {
                        let u = min(abs(x[t] - trend[t]) / scale, 1)
                        robustness[t] = (1 - u * u) * (1 - u * u)
                    }
                }
                for (i, p) in seasons.enumerated() {
                    // The series without the other seasons' components.
                    for t in 0..<end { x[t] = y[t] }
                    for j in components.indices where j != i {
                        components[j].withUnsafeBufferPointer { c in for t in 0..<end { x[t] -= c[t] } }
                    }
                    lowPass(x, count: end, period: p, into: trend, work: work)
                    let (shorter, longer) = kernels[i]
                    components[i].withUnsafeMutableBufferPointer { s in
                        // Each phase's cycle sub-series, detrended, smoothed by a local mean.
                        for phase in 0..<min(p, end) {
                            var m = 0, t = phase
                            while t < end { sub[m] = x[t] - trend[t]; weights[m] = robustness[t]; m += 1; t += p }
                            localMean(sub, weights: weights, kernels: m == shorter.count ? shorter : longer, into: smooth)
                            t = phase
                            for j in 0..<m { s[t] = smooth[j]; t += p }
                        }
                        // The component loses its own moving average, so it carries no level.
                        let component = Scratch(wrapping: s)
                        lowPass(component, count: end, period: p, into: trend, work: work)
                        for t in 0..<end { s[t] -= trend[t] }
                    }
                }
            }
        }
        return components
    }

    /// Centred moving average of `x[0..<count]` over `period` (then over 2 when `period` is even),
    /// windows shifted inward at the ends, into `out`; `work` is scratch of the same size.
    static func lowPass(_ x: Scratch, count n: Int, period: Int, into out: Scratch, work: Scratch) {
        if period % 2 == 0 {
            // An even window [t − p/2, t + p/2) is centred half a step early; the mean of two
            // neighbours, t's and the next's, centres it on t.
            movingAverage(x, count: n, width: period, into: work)
            for t in 0..<n { out[t] = 0.5 * (work[t] + work[min(t + 1, n - 1)]) }
        } else {
            movingAverage(x, count: n, width: period, into: out)
        }
    }

    /// Moving average of `x[0..<count]` over `width`, centred, the window stopping at both ends.
    static func movingAverage(_ x: Scratch, count n: Int, width: Int, into out: Scratch) {
        guard n > 0 else { return }
        let w = min(width, n)
        // Running sum of the window [a, a + w): a follows clamp(t − w/2, 0, n − w), one step at a time.
        var sum = 0.0
        for t in 0..<w { sum += x[t] }
        let half = w / 2, scale = 1 / Double(w)
        var a = 0
        for t in 0..<n {
            if t - half > a && a < n - w { sum += x[a + w] - x[a]; a += 1 }
            out[t] = sum * scale
        }
    }

    /// Tricube weights by distance for a loess of degree 0 over `window` nearest points of a
    /// series of `count` points: one kernel per bandwidth, which only changes near the ends.
    struct LocalMeanKernels {
        let count: Int, window: Int, q: Int
        /// All kernels end to end; the kernel for half-width `r` (distance to the farthest of the
        /// q nearest) is `weights[starts[r − smallest] ..< starts[r − smallest + 1]]`.
        let weights: [Double]
        let starts: [Int]
        let smallest: Int

        init(count m: Int, window: Int) {
            self.count = m
            self.window = window
            q = min(window, m)
            smallest = q / 2
            var weights: [Double] = [], starts: [Int] = [0]
            for r in smallest...max(q - 1, smallest) {
                var h = Double(r) * 1.0001 + 1e-9
                if window > m { h *= Double(window) / Double(m) }
                for d in 0...Int(h) {
                    let u = Double(d) / h
                    let c = 1 - u * u * u
                    weights.append(c * c * c)
                }
                starts.append(weights.count)
            }
            self.weights = weights
            self.starts = starts
        }
    }

    /// Tricube-weighted local mean of each point of `v[0..<kernels.count]` over its `window`
    /// nearest points (loess of degree 0), into `out`; a window longer than the series widens the
    /// bandwidth in proportion, as loess does.
    static func localMean(_ v: Scratch, weights: Scratch, kernels: LocalMeanKernels, into out: Scratch) {
        let m = kernels.count
        guard m > 0 else { return }
        let q = kernels.q
        kernels.weights.withUnsafeBufferPointer { all in
            kernels.starts.withUnsafeBufferPointer { starts in
                for i in 0..<m {
                    let lo = min(max(i - (q - 1) / 2, 0), m - q)
                    let k = max(i - lo, lo + q - 1 - i) - kernels.smallest
                    let kernel = all.baseAddress! + starts[k]
                    let reach = starts[k + 1] - starts[k] - 1
                    var sw = 0.0, sv = 0.0
                    // Neighbours in ascending order: those before i, then i and those after.
                    for j in max(0, i - reach)..<i {
                        let wj = kernel[i - j] * weights[j]
                        sw += wj; sv += wj * v[j]
                    }
                    for j in i...min(m - 1, i + reach) {
                        let wj = kernel[j - i] * weights[j]
                        sw += wj; sv += wj * v[j]
                    }
                    if sw > 0 { out[i] = sv / sw } else {
                        // Every neighbour excluded: the unweighted mean of the window.
                        var s = 0.0
                        for j in lo..<(lo + q) { s += v[j] }
                        out[i] = s / Double(q)
                    }
                }
            }
        }
    }

    public func run(_ input: ModelInput) -> ModelRun? {
        guard input.fitEnd >= minimumHistory(seasons: input.seasons) else { return nil }
        let seasons = input.seasons
        let y = input.y
        let horizon = input.horizon
        // Seasonal value at t of a decomposition of y[0..<end]: the component itself inside the
        // history, its last cycle repeated beyond it.
        @Sendable func seasonal(_ c: [[Double]], _ end: Int, _ t: Int) -> Double {
            var s = 0.0
            for i in 0..<seasons.count { let p = seasons[i]; s += t < end ? c[i][t] : c[i][end - p + (t - end) % p] }
            return s
        }
        // A decomposition of y[0..<end] and the seasonally adjusted series up to the last origin it serves.
        // `seasonalParts` holds, for each of its origins in turn, the components' values over the horizon.
        // `lastCycles` holds each component's last cycle (what it repeats beyond `end`).
        struct Segment { var end: Int; var origins: ArraySlice<Int>; var adjusted: [Double]; var seasonalParts: [Double]; var lastCycles: [[Double]] }
        @Sendable func segment(end: Int, origins: ArraySlice<Int>) -> Segment {
            let c = Self.decompose(y, end: end, seasons: seasons, excluded: input.excluded)
            var parts: [Double] = []
            parts.reserveCapacity(origins.count * horizon)
            for o in origins { for h in 0..<horizon { parts.append(seasonal(c, end, o + h)) } }
            return Segment(end: end, origins: origins, adjusted: (0..<max(origins.last ?? end, 1)).map { y[$0] - seasonal(c, end, $0) }, seasonalParts: parts,
                           lastCycles: seasons.enumerated().map { i, p in Array(c[i][(end - p)..<end]) })
        }
        // Forecasts from the segment's origins: the level by simple exponential smoothing of the
        // adjusted series up to each origin, plus the last step's deviation from it fading by φ
        // per step, plus the components' last cycles. One smoothing pass serves every φ; `visit`
        // gets each forecast (φ's index, origin, values) in a reused buffer.
        func forecasts(_ s: Segment, alpha: Double, phis: [Double], _ visit: (Int, Int, [Double]) -> Void) {
            var level = s.adjusted[0]
            var t = 1
            var values = [Double](repeating: 0, count: horizon)
            for (k, o) in s.origins.enumerated() {
                while t < o { if !input.excluded[t] { level += alpha * (s.adjusted[t] - level) }; t += 1 }
                let deviation = s.adjusted[o - 1] - level
                for (j, phi) in phis.enumerated() {
                    var fade = phi
                    for h in 0..<horizon { values[h] = level + fade * deviation + s.seasonalParts[k * horizon + h]; fade *= phi }
                    visit(j, o, values)
                }
            }
        }
        // Inner origins: the decomposition is refreshed once a cycle of the shortest season, from
        // the data before that point, so each forecast uses components as fresh as the data it may see.
        let refresh = seasons.first ?? 1
        var bounds: [(end: Int, origins: ArraySlice<Int>)] = []
        var k = 0
        while k < input.origins.count {
            let end = max(input.fitEnd, input.origins[k] - (input.origins[k] - input.fitEnd) % refresh)
            var k2 = k
            while k2 < input.origins.count && input.origins[k2] < end + refresh { k2 += 1 }
            bounds.append((min(end, input.origins[k]), input.origins[k..<k2]))
            k = k2
        }
        bounds.append((y.count, [y.count][...]))
        // The decompositions are independent: idle threads of the engine take some of them.
        let jobs = bounds, built = Slots<Segment>(count: jobs.count)
        input.sharing.forEach(jobs.count) { i in built[i] = segment(end: jobs[i].end, origins: jobs[i].origins) }
        var segments = built.values.map { $0! }
        // The level's smoothing α and the deviation's fading φ: the pair whose forecasts from the
        // inner origins were best over the whole horizon (one-step errors favour a level that
        // chases noise).
        // Without inner origins, α is chosen by one-step errors and the level stays flat.
        let finalSegment = segments.removeLast()
        let phis = segments.isEmpty ? [0] : Self.deviationFadings(shortestSeason: seasons.first ?? 1)
        let alphas = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
        let (sums, count) = Self.absoluteErrors(segments.map { ($0.origins, $0.adjusted, $0.seasonalParts) }, y: y, excluded: input.excluded,
                                                horizon: horizon, alphas: alphas, phis: phis)
        var best: (alpha: Double, phi: Double, error: Double)?
        for (a, alpha) in alphas.enumerated() {
            for (j, phi) in phis.enumerated() {
                let error = segments.isEmpty ? oneStepError(finalSegment.adjusted, alpha: alpha) : count > 0 ? sums[a * phis.count + j] / Double(count) : .infinity
                if best == nil || error < best!.error { best = (alpha, phi, error) }
            }
        }
        guard let chosen = best else { return nil }
        var originForecasts: [[Double]] = []
        for s in segments { forecasts(s, alpha: chosen.alpha, phis: [chosen.phi]) { _, _, f in originForecasts.append(f) } }
        guard originForecasts.count == input.origins.count else { return nil }
        // A segment's level, smoothed over its adjusted series and then moved to the end of the
        // history by each observation, as an update moves it.
        func stateAtEnd(_ s: Segment) -> Fitted {
            var state = Fitted(seasons: seasons, lastCycles: s.lastCycles, end: s.end, t: s.adjusted.count, alpha: chosen.alpha, phi: chosen.phi,
                               level: s.adjusted[0], lastAdjusted: s.adjusted[s.adjusted.count - 1])
            for t in 1..<s.adjusted.count where !input.excluded[t] { state.level += chosen.alpha * (s.adjusted[t] - state.level) }
            while state.t < y.count { state.observe(y[state.t], excluded: input.excluded[state.t]) }
            return state
        }
        // The final state's level and last deviation are measured as the inner origins measured
        // theirs, and as every update measures its own: against components decomposed before the
        // newest observations (the last inner decomposition's), continued to the end. Against
        // components decomposed up to the end, the newest observations would be compared with
        // components that already hold part of them (most where a season has few cycles), and the
        // deviation that α and φ were chosen to carry would shrink. The forecast repeats the
        // components decomposed up to the end.
        let measured = stateAtEnd(segments.last ?? finalSegment)
        let state = Fitted(seasons: seasons, lastCycles: finalSegment.lastCycles, end: y.count, t: y.count, alpha: chosen.alpha, phi: chosen.phi,
                           level: measured.level, lastAdjusted: measured.lastAdjusted)
        return ModelRun(name: name, originForecasts: originForecasts, final: state.forecast(horizon: horizon),
                        parameters: ["alpha": chosen.alpha, "phi": chosen.phi], spikesDampened: 0, state: state)
    }

    /// The components' last cycles as a fit decomposed them, and the level of the adjusted series
    /// after step `t − 1`. An update moves the level and the deviation only; the components are
    /// estimated again at the next fit (as the inner origins refresh them once a cycle).
    struct Fitted: ModelState {
        let seasons: [Int]
        let lastCycles: [[Double]]
        /// The end of the decomposed history: `lastCycles[i][j]` is component i at `end − p + j`.
        let end: Int
        var t: Int
        let alpha: Double, phi: Double
        var level: Double
        var lastAdjusted: Double

        func seasonal(_ u: Int) -> Double {
            var s = 0.0
            for (i, p) in seasons.enumerated() { s += lastCycles[i][(u - end) % p] }
            return s
        }

        mutating func observe(_ value: Double, excluded: Bool) {
            let adjusted = value - seasonal(t)
            if !excluded { level += alpha * (adjusted - level) }
            lastAdjusted = adjusted
            t += 1
        }

        func forecast(horizon: Int) -> [Double] {
            let deviation = lastAdjusted - level
            var fade = phi
            return (0..<horizon).map { h in
                defer { fade *= phi }
                return level + fade * deviation + seasonal(t + h)
            }
        }
    }

    /// The summed absolute errors, over every segment's origins and the whole horizon, of the
    /// forecasts with each smoothing α and fading φ (at `a * phis.count + j`), and how many
    /// errors each sum holds. One pass over each segment smooths the level for every α at once;
    /// the forecast is computed as `forecasts` in `run` does, so the chosen pair reproduces it.
    static func absoluteErrors(_ segments: [(origins: ArraySlice<Int>, adjusted: [Double], seasonalParts: [Double])], y: [Double], excluded: [Bool],
                               horizon: Int, alphas: [Double], phis: [Double]) -> (sums: [Double], count: Int) {
        var sums = [Double](repeating: 0, count: alphas.count * phis.count)
        var count = 0
        let levels = Scratch(count: alphas.count)
        defer { levels.free() }
        for segment in segments {
            segment.adjusted.withUnsafeBufferPointer { adjusted in
                segment.seasonalParts.withUnsafeBufferPointer { parts in
                    for a in alphas.indices { levels[a] = adjusted[0] }
                    var t = 1
                    for (k, o) in segment.origins.enumerated() {
                        while t < o {
                            if !excluded[t] { let x = adjusted[t]; for a in alphas.indices { levels[a] += alphas[a] * (x - levels[a]) } }
                            t += 1
                        }
                        for h in 0..<horizon where !excluded[o + h] { count += 1 }
                        for a in alphas.indices {
                            let level = levels[a], deviation = adjusted[o - 1] - levels[a]
                            for (j, phi) in phis.enumerated() {
                                var fade = phi, sum = sums[a * phis.count + j]
                                for h in 0..<horizon {
                                    let value = level + fade * deviation + parts[k * horizon + h]
                                    fade *= phi
                                    if !excluded[o + h] { sum += abs(y[o + h] - value) }
                                }
                                sums[a * phis.count + j] = sum
                            }
                        }
                    }
                }
            }
        }
        return (sums, count)
    }

    /// Mean absolute one-step error of simple exponential smoothing over `z`.
    func oneStepError(_ z: [Double], alpha: Double) -> Double {
        guard z.count > 1 else { return .infinity }
        var level = z[0], sum = 0.0
        for t in 1..<z.count { sum += abs(z[t] - level); level += alpha * (z[t] - level) }
        return sum / Double(z.count - 1)
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
        func state(at o: Int) -> Fitted {
            Fitted(coefficients: b, lags: lags, longest: longest, differences: Array(d[(o - maxLag)..<o]), values: Array(y[(o - longest)..<o]))
        }
        func forecast(from o: Int) -> [Double] {
            guard o >= first else { return (0..<input.horizon).map { y[max(o - longest, 0) + $0 % longest] } }
            return state(at: o).forecast(horizon: input.horizon)
        }
        let final = state(at: y.count)
        return ModelRun(name: name, originForecasts: input.origins.map(forecast), final: final.forecast(horizon: input.horizon),
                        parameters: Dictionary(uniqueKeysWithValues: lags.enumerated().map { ("lag\($1)", b[$0]) }), spikesDampened: 0, state: final)
    }

    /// The fitted coefficients (one per lag, then the constant) and the recent past they read:
    /// the last `maxLag` seasonal differences and the last `longest` values, oldest first.
    struct Fitted: ModelState {
        let coefficients: [Double]
        let lags: [Int]
        let longest: Int
        var differences: [Double]
        var values: [Double]

        mutating func observe(_ value: Double, excluded: Bool) {
            differences.append(value - values[values.count - longest])
            values.append(value)
            // Only the ends are read: trim once the arrays have doubled.
            if values.count >= 2 * longest { values.removeFirst(values.count - longest) }
            let maxLag = lags.max() ?? 1
            if differences.count >= 2 * maxLag { differences.removeFirst(differences.count - maxLag) }
        }

        func forecast(horizon: Int) -> [Double] {
            var dd = differences, yy = values
            var out = [Double](repeating: 0, count: horizon)
            for h in 0..<horizon {
                var v = coefficients[lags.count]
                for (i, l) in lags.enumerated() { v += coefficients[i] * dd[dd.count - l] }
                dd.append(v)
                let value = yy[yy.count - longest] + v
                yy.append(value)
                out[h] = value
            }
            return out
        }
    }
}
