import Foundation

/// Extra capacity on top of the predicted peak: a share of it (`"20%"`) or whole replicas (`3`).
public enum Buffer: Sendable, Equatable {
    case percent(Double)
    case replicas(Int)

    public static let none = Buffer.replicas(0)
}

/// Why a zone got the replica count it got.
public enum SizingBasis: String, Sendable, Equatable {
    /// The forecast's quantile of the coming peak, plus the buffer.
    case predicted = "Predicted"
    /// What the load observed now needs (it was larger than the prediction, or there was none).
    case observed = "Observed"
    /// The zone's minimum.
    case minimum = "Minimum"
    /// The zone's maximum capped it.
    case maximum = "Maximum"
    /// Neither a forecast nor an observation of the load (its source is down or unreadable):
    /// the zone keeps what it was last required, as an HPA without metrics keeps its replicas.
    case held = "Held"
}

/// A zone's replica requirement before capacity is shared out.
public struct ZoneRequirement: Sendable, Equatable {
    public var replicas: Int
    public var basis: SizingBasis
    /// Replicas the prediction alone asks for (nil without a usable forecast).
    public var predictedReplicas: Int?
    /// Replicas the observed load alone asks for (nil without an observation).
    public var observedReplicas: Int?

    public init(replicas: Int, basis: SizingBasis, predictedReplicas: Int?, observedReplicas: Int?) {
        self.replicas = replicas
        self.basis = basis
        self.predictedReplicas = predictedReplicas
        self.observedReplicas = observedReplicas
    }
}

/// Sizing rules of one zone, from its spec.
public struct ZoneSizingRule: Sendable, Equatable {
    public var perReplica: Double
    public var buffer: Buffer
    public var minReplicas: Int
    public var maxReplicas: Int

    public init(perReplica: Double, buffer: Buffer = .none, minReplicas: Int = 0, maxReplicas: Int = Int.max) {
        self.perReplica = perReplica
        self.buffer = buffer
        self.minReplicas = max(0, minReplicas)
        self.maxReplicas = max(self.minReplicas, maxReplicas)
    }

    /// Replicas for a load: the load divided by what one replica serves, rounded up. A load that
    /// is a whole multiple (up to rounding noise of one part in a million) is not rounded up again.
    public func replicas(forLoad load: Double) -> Int {
        guard load.isFinite, load > 0, perReplica > 0 else { return 0 }
        let exact = load / perReplica
        let rounded = exact.rounded()
        if abs(exact - rounded) <= 1e-6 * max(1, exact) { return Int(min(rounded, Double(Int.max / 2))) }
        return Int(min(exact.rounded(.up), Double(Int.max / 2)))
    }

    /// The requirement: the larger of the predicted peak (quantile, plus the buffer) and the observed
    /// load now, within `minReplicas`…`maxReplicas`. Predictive and reactive are combined by the
    /// larger, so a forecast that is too low never takes capacity below what serves the load now;
    /// a missing or non-finite number is simply not a candidate.
    public func requirement(predictedPeak: Double?, observedLoad: Double?) -> ZoneRequirement {
        var predicted: Int?
        if let peak = predictedPeak, peak.isFinite, peak >= 0 {
            switch buffer {
            case .percent(let p): predicted = self.replicas(forLoad: peak * (1 + max(0, p) / 100))
            case .replicas(let n): predicted = self.replicas(forLoad: peak) + max(0, n)
            }
        }
        let observed = observedLoad.flatMap { $0.isFinite && $0 >= 0 ? self.replicas(forLoad: $0) : nil }
        var count = max(predicted ?? 0, observed ?? 0)
        var basis: SizingBasis = (predicted ?? -1) >= (observed ?? -1) && predicted != nil ? .predicted : .observed
        if predicted == nil && observed == nil { basis = .minimum }
        if count < minReplicas { count = minReplicas; basis = .minimum }
        if count > maxReplicas { count = maxReplicas; basis = .maximum }
        return ZoneRequirement(replicas: count, basis: basis, predictedReplicas: predicted, observedReplicas: observed)
    }
}

/// Scale-down stabilisation and stepping, as the HPA does it: the replicas a zone keeps are the
/// largest requirement seen within `window` seconds (so a dip does not shed capacity that is needed
/// again minutes later), and one scale-down removes at most `maxStepPercent` of the current
/// replicas (at least one) per `stepPeriod` seconds. Scale-up is never delayed.
public struct ScaleDownPolicy: Sendable, Equatable {
    public var window: Double
    public var maxStepPercent: Double
    public var stepPeriod: Double

    public init(window: Double = 300, maxStepPercent: Double = 100, stepPeriod: Double = 60) {
        self.window = max(0, window)
        self.maxStepPercent = min(100, max(0, maxStepPercent))
        self.stepPeriod = max(1, stepPeriod)
    }

    /// A requirement observed at a time.
    public struct Recommendation: Sendable, Equatable, Codable {
        public var time: Double
        public var replicas: Int
        public init(time: Double, replicas: Int) {
            self.time = time
            self.replicas = replicas
        }
    }

    /// The replicas to set now, and the recommendations to keep (those inside the window).
    ///
    /// - `required`: this reconcile's requirement;
    /// - `current`: the replicas allocated now;
    /// - `history`: earlier recommendations (any order; those older than the window are dropped);
    /// - `lastScaleDown`: when the zone last shrank, for the step period.
    public func decide(required: Int, current: Int, now: Double, history: [Recommendation], lastScaleDown: Double?)
        -> (replicas: Int, history: [Recommendation], scaledDown: Bool) {
        var kept = history.filter { now - $0.time < window && $0.time <= now }.sorted { $0.time < $1.time }
        kept.append(Recommendation(time: now, replicas: required))
        // Only a recommendation no later one equals or exceeds can ever be the window's maximum:
        // keep those (a short, decreasing list, small enough for status).
        var dominant: [Recommendation] = []
        for r in kept {
            while let last = dominant.last, last.replicas <= r.replicas { dominant.removeLast() }
            dominant.append(r)
        }
        kept = dominant
        if required >= current { return (required, kept, false) }
        let stabilised = kept.map(\.replicas).max() ?? required
        if stabilised >= current { return (current, kept, false) }
        if let last = lastScaleDown, now - last < stepPeriod { return (current, kept, false) }
        let step = max(1, Int((Double(current) * maxStepPercent / 100).rounded(.down)))
        let target = max(stabilised, current - step)
        return (target, kept, target < current)
    }
}
