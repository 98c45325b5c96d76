import ForecastSources
import Forecasting
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore

/// A zone's history and forecast as the reconciler keeps them between reconciles.
struct FittedForecast: Sendable {
    var fingerprint: String
    /// When it was fitted, seconds since the epoch.
    var fittedAt: Int64
    /// The forecast as the last fit made it, moved along by the observations since.
    var forecast: Forecast
    var fitSeconds: Double
    /// The last time of the history it was fitted on.
    var historyEnd: Int64
    /// The full history it was fitted on.
    var history: TimeSeries
    /// The newest observation the forecast has taken: later ones are out of sample.
    var observedThrough: Int64 { forecast.updater?.observedThrough ?? historyEnd }
    var fittedDate: Date { Date(timeIntervalSince1970: Double(fittedAt)) }
}

/// How a zone's forecasts have done against what was then observed: each observation after a fit,
/// against that fit's mean, 90 % interval and sizing quantile for its time. The counts fade with a
/// half-life of a day, so the record follows the current regime, and they are few numbers, so
/// they ride in the plan's status and a restarted controller carries the record on.
public struct LiveAccuracy: Sendable, Equatable {
    /// Observations recorded, ever (not faded).
    public var observations: Int = 0
    /// Faded counts: all observations, those inside the 5 %–95 % interval, those at or below the
    /// sizing quantile; and the faded sum of absolute percentage errors over the count of
    /// observations above zero.
    public var weight = 0.0
    public var inside = 0.0
    public var belowQuantile = 0.0
    public var percentErrors = 0.0
    public var percentWeight = 0.0
    /// The time of the latest observation recorded (Unix seconds).
    public var through: Int64 = .min
    public static let halfLife = 86400.0

    public init() {}

    public var intervalCoverage: Double { weight > 0 ? inside / weight : .nan }
    public var quantileCoverage: Double { weight > 0 ? belowQuantile / weight : .nan }
    public var mape: Double { percentWeight > 0 ? percentErrors / percentWeight : .nan }

    /// Adds one observation at `time` (later than `through`), after fading the counts by its distance.
    public mutating func add(time: Int64, observed: Double, mean: Double, lower: Double, upper: Double, quantile: Double) {
        if observations > 0 {
            let fade = pow(2, -Double(time - through) / Self.halfLife)
            weight *= fade; inside *= fade; belowQuantile *= fade; percentErrors *= fade; percentWeight *= fade
        }
        observations += 1
        weight += 1
        if observed >= lower && observed <= upper { inside += 1 }
        if observed <= quantile { belowQuantile += 1 }
        if observed > 0 { percentErrors += abs(mean - observed) / observed; percentWeight += 1 }
        through = time
    }

    /// Its form in status (`forecastAccuracy.live`).
    public var json: JSONValue {
        .object([("observations", .int(observations)), ("through", .int(Int(through))), ("weight", .double(weight)), ("inside", .double(inside)),
                 ("belowQuantile", .double(belowQuantile)), ("percentErrors", .double(percentErrors)), ("percentWeight", .double(percentWeight))])
    }

    /// Read back from status; nil when absent or not well formed (the record then starts afresh).
    public init?(json: JSONValue?) {
        guard let j = json, let n = j["observations"]?.intValue, n > 0, let through = j["through"]?.intValue,
              let weight = j["weight"]?.doubleValue, let inside = j["inside"]?.doubleValue, let below = j["belowQuantile"]?.doubleValue,
              let pe = j["percentErrors"]?.doubleValue, let pw = j["percentWeight"]?.doubleValue,
              [weight, inside, below, pe, pw].allSatisfy({ $0.isFinite && $0 >= 0 }), inside <= weight + 1e-9, below <= weight + 1e-9 else { return nil }
        observations = n; self.through = Int64(through); self.weight = weight; self.inside = inside; belowQuantile = below
        percentErrors = pe; percentWeight = pw
    }
}

/// Loads each zone's history from the plan's source and keeps one fitted forecast per zone.
///
/// A zone's model is fitted once per `refitEvery` (or when anything the fit depends on changes:
/// source, query, seasons, quantile, holidays); between fits only the recent load is read, and its
/// new observations move the forecast along, so a burst of events costs no fitting. Fitting runs
/// on a thread of its own, never on Swift's cooperative pool, so reconciles of other objects (and
/// the leader's Lease renewals) go on while a zone is fitted.
public actor ZoneForecasts {
    private var fitted: [String: FittedForecast] = [:]
    /// Each zone's live record: observations against the forecast that was current before them.
    private var records: [String: LiveAccuracy] = [:]
    /// The last data read of each ConfigMap source, with its resourceVersion.
    private var configMaps: [String: (version: String, data: [String: String])] = [:]
    /// Histories parsed from ConfigMaps, by source, resourceVersion and key.
    private var parsed: [String: TimeSeries] = [:]
    /// Followers' learned ratios, with the leader fit they were learned against.
    private var ratios: [String: (leaderFit: Int64, ratio: Double?)] = [:]
    let client: KubernetesClient
    let forecaster: Forecaster

    public init(client: KubernetesClient, forecaster: Forecaster = Forecaster()) {
        self.client = client
        self.forecaster = forecaster
    }

    /// What a zone's forecast work produced this reconcile.
    public struct Result: Sendable {
        public var forecast: Forecast?
        public var fittedAt: Date?
        public var refitted: Bool
        public var fitSeconds: Double?
        public var observedLoad: Double?
        public var observedAt: Date?
        public var problem: String?
        public var live: LiveAccuracy?
    }

    /// Where a reconcile reads histories from: a ConfigMap read once for every zone of the plan
    /// (its data, or why it could not be read), or Prometheus.
    public enum HistoryInput: Sendable {
        case configMap(source: String, resourceVersion: String, data: Fetched<[String: String]>)
        case prometheus(url: String)
        case none
    }

    /// A value or the reason there is none (Sendable, unlike `Result` with `any Error`).
    public enum Fetched<T: Sendable>: Sendable {
        case success(T)
        case failure(String)
    }

    /// Reads what every zone's history needs, once per reconcile. A ConfigMap is read whole only
    /// when its resourceVersion moved (its metadata alone is read to know).
    public func input(for plan: ZonePlan.Spec) async -> HistoryInput {
        if let cm = plan.forecast?.source?.configMap {
            let source = "configmap \(cm.namespace ?? "")/\(cm.name ?? "")"
            do {
                guard let meta = try await client.getMetadataIfExists(ConfigMap.resource, namespace: cm.namespace ?? "", name: cm.name ?? "") else {
                    return .configMap(source: source, resourceVersion: "", data: .failure("\(source): not found"))
                }
                if let cached = configMaps[source], cached.version == meta.resourceVersion {
                    return .configMap(source: source, resourceVersion: cached.version, data: .success(cached.data))
                }
                guard let object = try await client.getIfExists(ConfigMap.self, namespace: cm.namespace ?? "", name: cm.name ?? "") else {
                    return .configMap(source: source, resourceVersion: "", data: .failure("\(source): not found"))
                }
                let version = object.metadata.resourceVersion ?? ""
                configMaps[source] = (version, object.data ?? [:])
                return .configMap(source: source, resourceVersion: version, data: .success(object.data ?? [:]))
            } catch {
                return .configMap(source: source, resourceVersion: "", data: .failure("\(source): \(error)"))
            }
        }
        if let url = plan.forecast?.source?.prometheus?.url { return .prometheus(url: url) }
        return .none
    }

    /// The history of one zone: the whole `history` span (for a fit) or only the recent part.
    func history(plan: ZonePlan.Spec, zone: ZonePlan.Zone, input: HistoryInput, now: Date, span: Int64) async throws -> TimeSeries {
        let step = plan.forecast?.step.flatMap(DurationParser.seconds) ?? 300
        switch input {
        case .configMap(let source, let version, let data):
            let key = zone.load?.configMapKey ?? zone.name ?? ""
            switch data {
            case .failure(let why): throw HistorySourceError(source: source, problem: why)
            case .success(let d):
                // A ConfigMap unchanged since the last read is not parsed again.
                let id = "\(source)@\(version)/\(key)"
                if !version.isEmpty, let cached = parsed[id] { return cached }
                let series = try ConfigMapSource.series(in: d, key: key, source: source)
                parsed = parsed.filter { !$0.key.hasPrefix("\(source)@") || $0.key.hasPrefix("\(source)@\(version)/") }
                parsed[id] = series
                return series
            }
        case .prometheus(let url):
            let end = Int64(now.timeIntervalSince1970) / step * step
            return try await PrometheusSource(url: url).queryRange(zone.load?.query ?? "", start: end - span, end: end, step: step)
        case .none:
            throw HistorySourceError(source: "spec.forecast.source", problem: "no history source")
        }
    }

    /// `restored` is the zone's live record as the plan's status holds it, for a process that has
    /// none yet (it restarted, or another replica led before).
    ///
    /// A zone is fitted once per `refitEvery` (`ForecastCadence`), or when anything the fit
    /// depends on changed; in between, only the recent past is read and its new observations move
    /// the forecast along.
    public func forecast(planUID: String, plan: ZonePlan.Spec, zone: ZonePlan.Zone, input: HistoryInput, leadSeconds: Int64, now: Date,
                         restored: LiveAccuracy? = nil) async -> Result {
        let fc = plan.forecast ?? ZonePlan.Forecast()
        let cadence = ForecastCadence(fc, lead: leadSeconds)
        let step = cadence.step
        let span = fc.historySeconds
        let quantile = cadence.quantiles[0]
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let key = "\(planUID)/\(zone.name ?? "")"
        let fingerprint = "\(fc.source?.prometheus?.url ?? "")|\(fc.source?.configMap?.namespace ?? "")/\(fc.source?.configMap?.name ?? "")|\(zone.load?.query ?? zone.load?.configMapKey ?? "")|\(cadence.seasons)|\(quantile)|\(cadence.holidays)|\(span)|\(step)|\(cadence.refitEvery)|\(cadence.reach)"
        if records[key] == nil, let restored { records[key] = restored }
        var result = Result(refitted: false)
        // A fit that is due whatever was observed reads the whole span at once.
        let current = fitted[key].flatMap { $0.fingerprint == fingerprint && !cadence.fitDue($0.forecast, fittedAt: $0.fittedAt, now: nowSeconds) ? $0 : nil }
        var series: TimeSeries
        // Between fits only the recent past is read: the last hour (at least six steps), or back
        // to the newest observation the forecast has taken. A fit reads the whole history span.
        func read(_ current: FittedForecast?) async throws -> TimeSeries {
            let readSpan = current.map { min(span, max(Self.recentSpan(step: step), nowSeconds - $0.observedThrough + step)) } ?? span
            var series = try await history(plan: plan, zone: zone, input: input, now: now, span: readSpan)
            if zip(series.times, series.times.dropFirst()).contains(where: { $0 > $1 }) {
                let order = series.times.indices.sorted { series.times[$0] < series.times[$1] }
                series = TimeSeries(times: order.map { series.times[$0] }, values: order.map { series.values[$0] })
            }
            return series
        }
        do { series = try await read(current) } catch {
            result.problem = "history: \(error)"
            result.forecast = fitted[key]?.forecast
            result.fittedAt = fitted[key]?.fittedDate
            return result
        }
        (result.observedAt, result.observedLoad) = Self.latestObservation(series, now: now, step: step)
        if let previous = fitted[key] { record(key, previous, series: series, quantile: quantile) }
        result.live = liveAccuracy(key)
        if let c = current {
            if let moved = cadence.advance(c.forecast, fittedAt: c.fittedAt, now: nowSeconds, recent: series) {
                fitted[key]?.forecast = moved
                result.forecast = moved
                result.fittedAt = c.fittedDate
                return result
            }
            // It cannot be moved that far: fit again, on the whole span.
            do { series = try await read(nil) } catch {
                result.problem = "history: \(error)"
                result.forecast = c.forecast
                result.fittedAt = c.fittedDate
                return result
            }
        }
        // Fit on the last `history` of it, far enough ahead to cover the lead window from now.
        let end = series.times.last ?? nowSeconds
        let first = series.times.firstIndex { $0 > end - span } ?? 0
        let trimmed = TimeSeries(times: Array(series.times[first...]), values: Array(series.values[first...]))
        let request = cadence.request(historyEnd: end, now: nowSeconds)
        let forecaster = self.forecaster
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome: Swift.Result<Forecast, Error> = await withCheckedContinuation { c in
            let thread = Thread { c.resume(returning: Swift.Result { try forecaster.forecast(trimmed, request: request) }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        switch outcome {
        case .success(let f):
            if let bad = f.mean.firstIndex(where: { !$0.isFinite }) {
                result.problem = "the forecast has a non-finite value at step \(bad)"
            } else {
                fitted[key] = FittedForecast(fingerprint: fingerprint, fittedAt: nowSeconds, forecast: f, fitSeconds: seconds, historyEnd: end, history: trimmed)
                result.forecast = f
                result.fittedAt = Date(timeIntervalSince1970: Double(nowSeconds))
                result.refitted = true
                result.fitSeconds = seconds
            }
        case .failure(let e):
            result.problem = "forecast: \(e)"
            result.forecast = fitted[key]?.forecast
            result.fittedAt = fitted[key]?.fittedDate
        }
        return result
    }

    /// What a following zone needs: its own observed load, and the ratio of its load to its
    /// leader's over their common history (the leader's history is the one its forecast read
    /// this reconcile).
    public struct FollowerResult: Sendable {
        public var observedLoad: Double?
        public var observedAt: Date?
        public var ratio: Double?
        public var problem: String?
    }

    public func follow(planUID: String, plan: ZonePlan.Spec, follower: ZonePlan.Zone, leader: String, input: HistoryInput, now: Date) async -> FollowerResult {
        let step = plan.forecast?.step.flatMap(DurationParser.seconds) ?? 300
        let span = (plan.forecast ?? ZonePlan.Forecast()).historySeconds
        let key = "\(planUID)/\(follower.name ?? "")"
        var result = FollowerResult()
        guard let leaderFit = fitted["\(planUID)/\(leader)"] else {
            result.problem = "zone \(leader), which it follows, has no forecast"
            return result
        }
        // The ratio is learned again whenever the leader is refitted; in between, the recent past only.
        let learned = ratios[key].flatMap { $0.leaderFit == leaderFit.fittedAt ? $0 : nil }
        let series: TimeSeries
        do { series = try await history(plan: plan, zone: follower, input: input, now: now, span: learned == nil ? span : Self.recentSpan(step: step)) } catch {
            result.problem = "history: \(error)"
            return result
        }
        (result.observedAt, result.observedLoad) = Self.latestObservation(series, now: now, step: step)
        let ratio = learned?.ratio ?? ZonePlanPlanner.learnedRatio(follower: series, leader: leaderFit.history)
        if learned == nil { ratios[key] = (leaderFit.fittedAt, ratio) }
        result.ratio = ratio
        if ratio == nil { result.problem = "its history and zone \(leader)'s share fewer than 12 timestamps with load; no ratio can be learned" }
        return result
    }

    /// What is read between fits: the last hour, at least six steps.
    static func recentSpan(step: Int64) -> Int64 { max(3600, 6 * step) }

    /// The time of the latest finite value, and that value as the observed load when it is recent
    /// (within two steps of `now`).
    static func latestObservation(_ series: TimeSeries, now: Date, step: Int64) -> (at: Date?, load: Double?) {
        guard let i = series.times.indices.filter({ series.values[$0].isFinite }).max(by: { series.times[$0] < series.times[$1] }) else { return (nil, nil) }
        let at = Date(timeIntervalSince1970: Double(series.times[i]))
        return (at, now.timeIntervalSince(at) <= Double(2 * step) ? series.values[i] : nil)
    }

    /// Records each observation after `fit`'s history, and after what the record already holds,
    /// against what `fit` predicted for its time.
    func record(_ key: String, _ fit: FittedForecast, series: TimeSeries, quantile: Double) {
        var index: [Int64: Int] = [:]
        for (i, t) in fit.forecast.times.enumerated() { index[t] = i }
        let f = fit.forecast
        let path = f.quantile(quantile) ?? f.mean, lower = f.quantile(0.05) ?? f.mean, upper = f.quantile(0.95) ?? f.mean
        var record = records[key] ?? LiveAccuracy()
        let after = max(fit.observedThrough, record.through)
        for (t, v) in zip(series.times, series.values) where t > after && v.isFinite {
            guard let i = index[t] else { continue }
            record.add(time: t, observed: v, mean: f.mean[i], lower: lower[i], upper: upper[i], quantile: path[i])
        }
        if record.observations > 0 { records[key] = record }
    }

    func liveAccuracy(_ key: String) -> LiveAccuracy? { records[key] }

    /// How long each zone's last fit took, seconds (for the benchmark).
    /// The forecast last fitted for a plan's zone (nil before the first fit); never fits.
    public func latest(planUID: String, zone: String) -> Forecast? { fitted["\(planUID)/\(zone)"]?.forecast }

    public func fitSeconds(planUID: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for (k, v) in fitted where k.hasPrefix("\(planUID)/") { out[String(k.dropFirst(planUID.count + 1))] = v.fitSeconds }
        return out
    }

    /// Forgets a plan's fits (the plan was deleted).
    public func forget(planUID: String) {
        fitted = fitted.filter { !$0.key.hasPrefix("\(planUID)/") }
        records = records.filter { !$0.key.hasPrefix("\(planUID)/") }
        ratios = ratios.filter { !$0.key.hasPrefix("\(planUID)/") }
    }
}
