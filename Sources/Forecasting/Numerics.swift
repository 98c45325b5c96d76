import Foundation

/// Nelder–Mead simplex minimisation of `f` from `start`, with at most `maxEvaluations` calls.
public func nelderMead(_ f: ([Double]) -> Double, start: [Double], step: Double = 0.5, maxEvaluations: Int = 200, tolerance: Double = 1e-7) -> (x: [Double], value: Double) {
    let n = start.count
    var simplex: [[Double]] = [start]
    for i in 0..<n { var p = start; p[i] += step; simplex.append(p) }
    var values = simplex.map(f)
    var evals = n + 1
    while evals < maxEvaluations {
        let order = (0...n).sorted { values[$0] < values[$1] }
        simplex = order.map { simplex[$0] }
        values = order.map { values[$0] }
        if abs(values[n] - values[0]) <= tolerance * (abs(values[0]) + 1e-12) { break }
        var centroid = [Double](repeating: 0, count: n)
        for p in simplex[0..<n] { for j in 0..<n { centroid[j] += p[j] / Double(n) } }
        func along(_ t: Double) -> [Double] { (0..<n).map { centroid[$0] + t * (simplex[n][$0] - centroid[$0]) } }
        let reflected = along(-1); let fr = f(reflected); evals += 1
        if fr < values[0] {
            let expanded = along(-2); let fe = f(expanded); evals += 1
            if fe < fr { simplex[n] = expanded; values[n] = fe } else { simplex[n] = reflected; values[n] = fr }
        } else if fr < values[n - 1] {
            simplex[n] = reflected; values[n] = fr
        } else {
            let contracted = fr < values[n] ? along(-0.5) : along(0.5)
            let fc = f(contracted); evals += 1
            if fc < min(fr, values[n]) { simplex[n] = contracted; values[n] = fc } else {
                for i in 1...n { simplex[i] = (0..<n).map { simplex[0][$0] + 0.5 * (simplex[i][$0] - simplex[0][$0]) }; values[i] = f(simplex[i]) }
                evals += n
            }
        }
    }
    let best = values.indices.min { values[$0] < values[$1] }!
    return (simplex[best], values[best])
}

/// Least squares `X b ≈ y` through the normal equations with a small ridge, solved by Cholesky.
/// `rows` gives each row's regressors. Returns nil when the system is singular.
public func leastSquares(rows: Int, columns: Int, ridge: Double = 1e-8, regressor: (Int, inout [Double]) -> Double) -> [Double]? {
    var xtx = [Double](repeating: 0, count: columns * columns)
    var xty = [Double](repeating: 0, count: columns)
    var x = [Double](repeating: 0, count: columns)
    for r in 0..<rows {
        let y = regressor(r, &x)
        for i in 0..<columns {
            xty[i] += x[i] * y
            let xi = x[i]
            for j in i..<columns { xtx[i * columns + j] += xi * x[j] }
        }
    }
    var trace = 0.0
    for i in 0..<columns { trace += xtx[i * columns + i] }
    for i in 0..<columns {
        for j in 0..<i { xtx[i * columns + j] = xtx[j * columns + i] }
        xtx[i * columns + i] += ridge * max(trace / Double(columns), 1e-12)
    }
    // Cholesky: A = L Lᵀ.
    var l = [Double](repeating: 0, count: columns * columns)
    for i in 0..<columns {
        for j in 0...i {
            var s = xtx[i * columns + j]
            for k in 0..<j { s -= l[i * columns + k] * l[j * columns + k] }
            if i == j {
                guard s > 0 else { return nil }
                l[i * columns + i] = s.squareRoot()
            } else {
                l[i * columns + j] = s / l[j * columns + j]
            }
        }
    }
    var z = [Double](repeating: 0, count: columns)
    for i in 0..<columns {
        var s = xty[i]
        for k in 0..<i { s -= l[i * columns + k] * z[k] }
        z[i] = s / l[i * columns + i]
    }
    var b = [Double](repeating: 0, count: columns)
    for i in stride(from: columns - 1, through: 0, by: -1) {
        var s = z[i]
        for k in (i + 1)..<columns { s -= l[k * columns + i] * b[k] }
        b[i] = s / l[i * columns + i]
    }
    return b
}

@inline(__always) func logistic(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
@inline(__always) func logit(_ p: Double) -> Double { log(p / (1 - p)) }

/// The q-quantile of `values` (linear interpolation between order statistics).
public func quantile(_ values: [Double], _ q: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return quantile(sorted: s, q)
}

public func quantile(sorted s: [Double], _ q: Double) -> Double {
    guard !s.isEmpty else { return .nan }
    let pos = q * Double(s.count - 1)
    let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
}

public func median(_ v: [Double]) -> Double {
    var copy = v
    return v.isEmpty ? .nan : selectMedian(&copy)
}

/// One ascending array from several ascending arrays, merged two at a time.
func mergeSorted(_ columns: ArraySlice<[Double]>) -> [Double] {
    var merged: [Double] = []
    for column in columns {
        if merged.isEmpty { merged = column; continue }
        var out = [Double](repeating: 0, count: merged.count + column.count)
        merged.withUnsafeBufferPointer { a in
            column.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { out in
                    var i = 0, j = 0, n = 0
                    while i < a.count && j < b.count {
                        if b[j] < a[i] { out[n] = b[j]; j += 1 } else { out[n] = a[i]; i += 1 }
                        n += 1
                    }
                    while i < a.count { out[n] = a[i]; i += 1; n += 1 }
                    while j < b.count { out[n] = b[j]; j += 1; n += 1 }
                }
            }
        }
        merged = out
    }
    return merged
}

/// The sorted pools of errors for leads 0, 1, 2, … in turn: lead h pools the sorted columns
/// h − window … h + window (those that exist). Moving to the next lead removes the column that
/// leaves and merges the one that enters, instead of merging every column again (which costs
/// the square of the window).
struct SlidingPools {
    let columns: [[Double]]
    let window: Int
    private var lead = -1
    private var pool: [Double] = []

    init(columns: [[Double]], window: Int) {
        self.columns = columns
        self.window = window
    }

    mutating func next() -> [Double] {
        lead += 1
        let h = lead, last = columns.count - 1
        if h == 0 {
            pool = mergeSorted(columns[0...min(last, window)])
            return pool
        }
        if h - window - 1 >= 0 {
            guard let kept = Self.removing(columns[h - window - 1], from: pool) else {
                // A value that equals nothing (NaN): build this lead's pool afresh.
                pool = mergeSorted(columns[max(0, h - window)...min(last, h + window)])
                return pool
            }
            pool = kept
        }
        if h + window <= last { pool = mergeSorted([pool, columns[h + window]][...]) }
        return pool
    }

    /// `pool` without the values of `leaving` (both ascending, `leaving` drawn from `pool`); nil
    /// when some value of `leaving` is not found.
    static func removing(_ leaving: [Double], from pool: [Double]) -> [Double]? {
        var kept: [Double] = []
        kept.reserveCapacity(pool.count - leaving.count)
        var j = 0
        for v in pool {
            if j < leaving.count && v == leaving[j] { j += 1 } else { kept.append(v) }
        }
        return j == leaving.count ? kept : nil
    }
}

/// The median of `v` by selection (expected linear time); `v` is reordered.
func selectMedian(_ v: inout [Double]) -> Double {
    guard !v.isEmpty else { return 0 }
    let m = v.count / 2
    let upper = select(&v, m)
    if v.count % 2 == 1 { return upper }
    var lower = -Double.infinity
    for i in 0..<m { lower = max(lower, v[i]) }  // after selection, v[0..<m] holds the smaller half
    return (lower + upper) / 2
}

/// The k-th smallest of `v` (Hoare's selection with a median-of-three pivot); leaves smaller
/// values before index k and larger ones after it.
func select(_ v: inout [Double], _ k: Int) -> Double {
    var lo = 0, hi = v.count - 1
    while lo < hi {
        let mid = lo + (hi - lo) / 2
        if v[mid] < v[lo] { v.swapAt(mid, lo) }
        if v[hi] < v[lo] { v.swapAt(hi, lo) }
        if v[hi] < v[mid] { v.swapAt(hi, mid) }
        let pivot = v[mid]
        var i = lo, j = hi
        while i <= j {
            while v[i] < pivot { i += 1 }
            while v[j] > pivot { j -= 1 }
            if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
        }
        if k <= j { hi = j } else if k >= i { lo = i } else { return v[k] }
    }
    return v[k]
}

/// A fixed-size buffer of doubles for hot loops: no copy-on-write or bounds checks in release
/// builds. The owner frees it (`defer { buffer.free() }`).
struct Scratch {
    let values: UnsafeMutableBufferPointer<Double>

    init(count: Int) {
        values = .allocate(capacity: max(count, 1))
        values.initialize(repeating: 0)
    }

    /// A view of memory someone else owns: never `free()` it.
    init(wrapping buffer: UnsafeMutableBufferPointer<Double>) { values = buffer }

    func free() { values.deallocate() }

    @inline(__always) subscript(i: Int) -> Double {
        get { values[i] }
        nonmutating set { values[i] = newValue }
    }
}
