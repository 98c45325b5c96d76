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
    interpolatedQuantile(q, count: s.count) { s[$0] }
}

/// Quantile `q` of `count` ordered values, `smallest(k)` giving the k-th smallest (0-based):
/// linear between the two values around position `q × (count − 1)`; NaN when there are none.
@inline(__always) func interpolatedQuantile(_ q: Double, count: Int, _ smallest: (Int) -> Double) -> Double {
    guard count > 0 else { return .nan }
    let pos = q * Double(count - 1)
    let lo = Int(pos.rounded(.down)), hi = min(lo + 1, count - 1)
    let low = smallest(lo), high = hi == lo ? low : smallest(hi)
    return low + (high - low) * (pos - Double(lo))
}

public func median(_ v: [Double]) -> Double {
    var copy = v
    return v.isEmpty ? .nan : selectMedian(&copy)
}

/// The quantiles of a pool of values that slides along columns: at lead h the pool is columns
/// h − window … h + window (those that exist), and `quantile` answers exactly as
/// `quantile(sorted:)` on that pool sorted.
///
/// Every value's place among all the values is found once (one sort), and the pool is a Fenwick
/// tree of which places it holds, so a move to the next lead costs the column that leaves and the
/// one that enters (log of the total each), and a quantile two descents of the tree: a month-long
/// horizon of 5-minute leads, whose pools hold hundreds of thousands of values, costs seconds,
/// not the pool's size at every lead. NaN values are left out of every pool.
struct SlidingQuantiles {
    let window: Int
    /// Every value, ascending; each occurrence has its own place.
    private let values: [Double]
    /// Each column's values as places in `values`.
    private let places: [[Int32]]
    /// Fenwick tree over the places (1-based): how many of them the pool holds.
    private var tree: [Int32]
    private var highestBit = 1
    private(set) var count = 0
    private var lead = -1

    init(columns: [[Double]], window: Int) {
        self.window = window
        var all: [(value: Double, column: Int32)] = []
        all.reserveCapacity(columns.reduce(0) { $0 + $1.count })
        for (c, column) in columns.enumerated() { for v in column where !v.isNaN { all.append((v, Int32(c))) } }
        all.sort { $0.value < $1.value }
        values = all.map(\.value)
        var places = [[Int32]](repeating: [], count: columns.count)
        for (place, entry) in all.enumerated() { places[Int(entry.column)].append(Int32(place)) }
        self.places = places
        tree = [Int32](repeating: 0, count: all.count + 1)
        while highestBit * 2 <= all.count { highestBit *= 2 }
    }

    private mutating func change(_ column: Int, by delta: Int32) {
        for place in places[column] {
            var i = Int(place) + 1
            while i < tree.count { tree[i] += delta; i += i & -i }
        }
        count += Int(delta) * places[column].count
    }

    /// The k-th smallest value of the pool (0-based).
    private func smallest(_ k: Int) -> Double {
        var position = 0, remaining = Int32(k + 1), bit = highestBit
        while bit > 0 {
            let next = position + bit
            if next < tree.count && tree[next] < remaining { position = next; remaining -= tree[next] }
            bit >>= 1
        }
        return values[position]  // the place after `position` (1-based), as an index into `values`
    }

    /// Moves the pool to the next lead (the first call: lead 0).
    mutating func advance() {
        lead += 1
        let h = lead, last = places.count - 1
        guard last >= 0 else { return }
        if h == 0 {
            for c in 0...min(last, window) { change(c, by: 1) }
            return
        }
        if h - window - 1 >= 0 && h - window - 1 <= last { change(h - window - 1, by: -1) }
        if h + window <= last { change(h + window, by: 1) }
    }

    /// The pool's quantile `q`, interpolated as `quantile(sorted:)` does; NaN for an empty pool.
    func quantile(_ q: Double) -> Double {
        interpolatedQuantile(q, count: count, smallest)
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
