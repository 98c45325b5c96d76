import Foundation

/// Calibrates a forecast's intervals to the recent regime, online over the engine's inner origins.
///
/// The base interval at each lead is the spread of the chosen forecast's errors at nearby leads over
/// every inner origin. When errors grow or drift (a regime shift), that pooled spread is too narrow
/// for tomorrow. Each bound is then scaled on its own, by the smallest factor (1 or more: never
/// narrower than the pooled spread) that covers the recent errors on its side: every inner error
/// says how much of its lead's offset it needed, and the factor is a recency-weighted quantile of
/// those needs (weights `2^(-age / halfLife)`).
///
/// Two things are learned per series and per bound, never fixed by one data set:
/// - **the half-life**, from one horizon doubling to the inner span or none, chosen by replaying
///   the calibration in time order over the inner origins (each origin judged with factors built
///   only from errors already observed at its time; the base gives only the shape across leads)
///   and keeping the half-life whose replay scores best on the bound's pinball loss;
/// - **the quantile level**, by adaptive conformal inference during that replay: once an origin's
///   horizon has passed, the level moves by `rate × (5 % − the share of that origin's errors the
///   bound missed)`, so a calibration that keeps missing more than its share asks for more.
///
/// The replay's misses are the forecast's honest record of its coverage. Nothing is kept between
/// fits: the replay runs from the history at every fit, so a restarted controller calibrates as the
/// one before it would have.
struct IntervalCalibration {
    /// Factor applied to the upper and lower offsets from the mean.
    var upper: Double
    var lower: Double
    /// The half-lives chosen, in steps (nil: all inner origins weigh the same).
    var upperHalfLife: Int?
    var lowerHalfLife: Int?
    /// Share of replayed errors inside the central interval, each origin's bounds scaled only by
    /// the errors observed before it (without the final floor of 1, so a lower bound).
    var coverage: Double
    var replayedPoints: Int
    /// The replay's pinball loss of both bounds together, in the series' units (errors scaled by a
    /// `PhaseDifficulty` are scaled back), so calibrations of differently scaled errors compare.
    var replayPinball: Double

    static let identity = IntervalCalibration(upper: 1, lower: 1, upperHalfLife: nil, lowerHalfLife: nil, coverage: .nan, replayedPoints: 0, replayPinball: .infinity)

    /// The scales a factor may take in the replay: 0.26 to 3.9, in steps of 5 % (`1.05^k`). The
    /// final factor is at least 1.
    static let scaleStep = 1.05
    static let smallestScaleExponent = -28
    static let scales: [Double] = (smallestScaleExponent...28).map { pow(scaleStep, Double($0)) }

    /// Each bound is calibrated to leave this much of the errors outside (5 % below, 5 % above: a
    /// central 90 % interval).
    static let tail = 0.05

    /// - Parameters:
    ///   - errors: actual − forecast, per inner origin (in time order) and lead.
    ///   - origins: each inner origin's position in the series.
    ///   - lowerOffsets, upperOffsets: the base interval, the 5 % and 95 % quantiles of the errors
    ///     per lead pooled over all inner origins. In the replay they give only the shape across
    ///     leads; the scale is learned from the errors observed before each origin.
    ///   - difficulty: the phase scales `errors` and the offsets were divided by (flat: none); the
    ///     replay's pinball loss is weighed back by them.
    static func calibrate(errors: [[Double]], origins: [Int], horizon: Int, excluded: [Bool],
                          lowerOffsets: [Double], upperOffsets: [Double], difficulty: PhaseDifficulty = .flat) -> IntervalCalibration {
        guard let first = origins.first, let last = origins.last else { return .identity }
        // Replayed: every origin after the first two horizons, with how many origins' errors
        // were wholly observed at its time.
        let warmUp = first + 2 * horizon
        var replayed: [(index: Int, known: Int)] = []
        var known = 0
        for (i, o) in origins.enumerated() where o >= warmUp {
            while known < origins.count, origins[known] + horizon <= o { known += 1 }
            replayed.append((i, known))
        }
        guard !replayed.isEmpty else { return .identity }
        // ACI's step: a miss rate double the tail, sustained over the whole replay, moves the level
        // by the whole tail.
        let rate = 1 / Double(replayed.count)

        // Half-lives from one horizon, doubling, to the inner span; and no fading at all.
        var halfLives: [Int?] = [nil]
        var hl = horizon
        while hl < last + horizon - first { halfLives.append(hl); hl *= 2 }
        let g = scales.count
        // Each replayed point's phase scale, read once (the replay runs per half-life and side).
        let pointScales = difficulty == .flat ? [Double](repeating: 1, count: origins.count * horizon)
            : origins.flatMap { o in (0..<horizon).map { difficulty.scale(at: o + $0) } }

        // Each bound is calibrated on its own: the upper one by the errors above the mean, the
        // lower one by those below (`sign` 1 and −1), so a shifted level widens the side it leaves.
        func side(sign: Double, offsets: [Double]) -> (factor: Double, halfLife: Int?, missed: Double, points: Int, pinball: Double) {
            // Each origin's needs (error ÷ offset on this side), as covered counts per scale.
            // Flat: origin j's counts at `j × g`.
            var covered: [Double] = [], counts: [Double] = []
            covered.reserveCapacity(origins.count * g)
            var need: [Double] = []
            for i in origins.indices {
                need.removeAll(keepingCapacity: true)
                for h in 0..<horizon where sign * offsets[h] > 0 && !excluded[origins[i] + h] { need.append(max(0, errors[i][h] / offsets[h])) }
                covered.append(contentsOf: coverCounts(need, scales)); counts.append(Double(need.count))
            }
            /// Recency-weighted sums of the covered counts of the origins taken so far, grown in
            /// time order as the replay learns of more of them. The weights
            /// `2^((o − first) / halfLife)` differ from `2^(−age / halfLife)` by one factor per
            /// time, which a quantile does not see.
            struct RunningCounts {
                var covered: [Double], total = 0.0, taken = 0
            }
            func take(_ sums: inout RunningCounts, upTo known: Int, halfLife: Int?) {
                covered.withUnsafeBufferPointer { counted in
                    sums.covered.withUnsafeMutableBufferPointer { c in
                        while sums.taken < known {
                            let j = sums.taken, w = halfLife.map { pow(2, Double(origins[j] - first) / Double($0)) } ?? 1
                            for k in 0..<g { c[k] += w * counted[j * g + k] }
                            sums.total += w * counts[j]
                            sums.taken += 1
                        }
                    }
                }
            }
            /// The smallest scale covering `1 − level` of the weighted needs taken.
            func factor(_ sums: RunningCounts, level: Double) -> Double? {
                let wanted = (1 - level) * sums.total - 1e-9
                guard sums.total > 0 else { return nil }
                guard sums.covered[g - 1] >= wanted else { return scales[g - 1] }
                var lo = 0, hi = g - 1
                while lo < hi { let mid = (lo + hi) / 2; if sums.covered[mid] >= wanted { hi = mid } else { lo = mid + 1 } }
                return scales[lo]
            }
            var best: (final: Double?, halfLife: Int?, pinball: Double, missed: Double, points: Int)?
            for halfLife in halfLives {
                var sums = RunningCounts(covered: [Double](repeating: 0, count: g))
                var level = tail, pending: [(end: Int, missed: Double)] = [], next = 0
                var missed = 0, points = 0, pinball = 0.0
                for r in replayed {
                    let o = origins[r.index]
                    // Adaptive conformal inference: once an origin's horizon has passed, the level
                    // moves by `rate × (tail − the share it missed)`.
                    while next < pending.count, pending[next].end <= o { level = max(minimumLevel, level + rate * (tail - pending[next].missed)); next += 1 }
                    take(&sums, upTo: r.known, halfLife: halfLife)
                    guard let f = factor(sums, level: level) else { continue }
                    var originMissed = 0, originPoints = 0
                    let row = errors[r.index], rowScales = r.index * horizon
                    for h in 0..<horizon where sign * offsets[h] > 0 && !excluded[o + h] {
                        let over = sign * (row[h] - f * offsets[h]) * pointScales[rowScales + h]  // > 0: outside this bound
                        if over > 0 { originMissed += 1; pinball += (1 - tail) * over } else { pinball -= tail * over }
                        originPoints += 1
                    }
                    missed += originMissed; points += originPoints
                    if originPoints > 0 { pending.append((o + horizon, Double(originMissed) / Double(originPoints))) }
                }
                while next < pending.count { level = max(minimumLevel, level + rate * (tail - pending[next].missed)); next += 1 }
                guard points > 0 else { continue }
                if best.map({ pinball < $0.pinball }) ?? true {
                    take(&sums, upTo: origins.count, halfLife: halfLife)
                    best = (factor(sums, level: level), halfLife, pinball, Double(missed) / Double(points), points)
                }
            }
            guard let chosen = best else { return (1, nil, .nan, 0, 0) }
            // Never narrower than the pooled spread of all inner origins.
            return (max(1, chosen.final ?? 1), chosen.halfLife, chosen.missed, chosen.points, chosen.pinball)
        }
        let upper = side(sign: 1, offsets: upperOffsets), lower = side(sign: -1, offsets: lowerOffsets)
        guard upper.points > 0 || lower.points > 0 else { return .identity }
        return IntervalCalibration(upper: upper.factor, lower: lower.factor, upperHalfLife: upper.halfLife, lowerHalfLife: lower.halfLife,
                                   coverage: 1 - (upper.missed.isNaN ? 0 : upper.missed) - (lower.missed.isNaN ? 0 : lower.missed),
                                   replayedPoints: max(upper.points, lower.points), replayPinball: upper.pinball + lower.pinball)
    }

    /// The level never falls below the 1 % the engine's widest reported quantile (0.99) leaves
    /// outside, so a run of misses widens an interval to the recent errors' extremes, not beyond.
    static let minimumLevel = 0.01

    /// How many of `needs` each scale covers (need ≤ scale), by counting each need into the first
    /// scale at or above it.
    static func coverCounts(_ needs: [Double], _ scales: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: scales.count)
        let logStep = log(scaleStep)
        for need in needs {
            var k = need <= scales[0] ? 0 : Int((log(need) / logStep).rounded(.up)) - smallestScaleExponent
            if k < scales.count, k > 0, scales[k - 1] >= need { k -= 1 }  // rounding at a scale's edge
            if k < scales.count, scales[k] < need { k += 1 }
            if k < scales.count { out[k] += 1 }
        }
        for k in out.indices.dropFirst() { out[k] += out[k - 1] }
        return out
    }
}

/// How hard each phase of the shortest season (each slot of the day) is to forecast, relative to
/// the others: the interval at a step is its offsets times its phase's scale.
///
/// Demand that is flat at night and busy by day errs more by day; one spread for every step makes
/// the night's interval too wide and the day's too narrow. The scale of a phase is the mean size of
/// the series' change from the day before at that phase (the error of repeating yesterday, the
/// yardstick MASE_d is scaled by), averaged over the phases within the interval pools' window, so
/// it is read from every day of the history rather than from the few the inner origins cover. A
/// phase is never taken as easier than a tenth of the average phase, so a series that sits still
/// at some hours (zero rentals at night) still gets an interval there.
///
/// Whether a series is given phase scales at all is decided per series by the calibration's replay
/// (`Forecaster`): its pinball loss, in the series' units, with and without them.
public struct PhaseDifficulty: Sendable, Equatable {
    /// The scale of each phase; empty: every step alike (scale 1).
    let scales: [Double]

    static let flat = PhaseDifficulty(scales: [])

    /// The scale at grid position `t` (the series' index, continued past its end).
    @inline(__always) func scale(at t: Int) -> Double {
        scales.isEmpty ? 1 : scales[((t % scales.count) + scales.count) % scales.count]
    }

    /// A phase never counts as easier than this share of the average phase.
    static let easiestShare = 0.1

    /// Scales from the changes `y[t] − y[t − period]` at each phase, both steps observed and not
    /// excluded, averaged over the `window` phases either side; nil when a phase has no change to
    /// read or the series never changes.
    static func fromDailyChanges(_ y: [Double], period: Int, excluded: [Bool], window: Int) -> PhaseDifficulty? {
        guard period > 1, y.count > period else { return nil }
        var sums = [Double](repeating: 0, count: period), counts = [Double](repeating: 0, count: period)
        for t in period..<y.count where !excluded[t] && !excluded[t - period] {
            let change = abs(y[t] - y[t - period])
            guard change.isFinite else { continue }
            sums[t % period] += change; counts[t % period] += 1
        }
        guard !counts.contains(0) else { return nil }
        let perPhase = (0..<period).map { sums[$0] / counts[$0] }
        let average = perPhase.reduce(0, +) / Double(period)
        guard average > 0, average.isFinite else { return nil }
        let reach = min(window, (period - 1) / 2)
        let scales = (0..<period).map { p -> Double in
            var s = 0.0
            for k in -reach...reach { s += perPhase[((p + k) % period + period) % period] }
            return max(s / Double(2 * reach + 1), easiestShare * average) / average
        }
        return PhaseDifficulty(scales: scales)
    }
}
