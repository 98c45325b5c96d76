import ForecastSources
import Forecasting
import ForesightAPI
import Foundation
import KubernetesClient
import KubernetesCore

/// A zone's history and forecast as the reconciler keeps them between reconciles.
struct FittedForecast: Sendable {
    var fingerprint: String
    var fittedAt: Date
    var forecast: Forecast
    var fitSeconds: Double
    /// The last time of the history it was fitted on: later observations are out of sample.
    var historyEnd: Int64
    /// The full history it was fitted on.
    var history: TimeSeries
}

/// How a zone's forecasts have done against what was then observed: each observation after a fit
/// against that fit's mean and sizing quantile for its time, over the last day.
public struct LiveAccuracy: Sendable, Equatable {
    public var points: Int
    /// Mean absolute percentage error of the mean (over observations above zero).
    public var mape: Double
    /// Share of observations at or below the quantile the zone is sized to.
    public var quantileCoverage: Double
    public var window: Double
}

/// Loads each zone's history from the plan's source and keeps one fitted forecast per zone.
///
/// A zone's model is refitted at most once per `step` (or when anything the fit depends on
/// changes: source, query, seasons, quantile, holidays); between fits the last forecast is reused
/// and only the observed load is read again, so a burst of events costs no fitting. Fitting runs
/// on a thread of its own, never on Swift's cooperative pool, so reconciles of other objects (and
/// the leader's Lease renewals) go on while a zone is fitted.
public actor ZoneForecasts {
    private var fitted: [String: FittedForecast] = [:]
    /// Out-of-sample checks per zone: time → (mean, quantile, observed), from the forecast that was
    /// current before that time.
    private var checks: [String: [Int64: (mean: Double, quantile: Double, observed: Double)]] = [:]
    /// The last data read of each ConfigMap source, with its resourceVersion.
    private var configMaps: [String: (version: String, data: [String: String])] = [:]
    /// Histories parsed from ConfigMaps, by source, resourceVersion and key.
    private var parsed: [String: TimeSeries] = [:]
    /// Followers' learned ratios, with the leader fit they were learned against.
    private var ratios: [String: (leaderFit: Date, ratio: Double?)] = [:]
    /// How much live record is kept.
    public let accuracyWindow: Double = 86400
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

    public func forecast(planUID: String, plan: ZonePlan.Spec, zone: ZonePlan.Zone, input: HistoryInput, leadSeconds: Int64, now: Date) async -> Result {
        let fc = plan.forecast ?? ZonePlan.Forecast()
        let step = fc.step.flatMap(DurationParser.seconds) ?? 300
        let span = fc.history.flatMap(DurationParser.seconds) ?? 14 * 86400
        let horizon = fc.horizon.flatMap(DurationParser.seconds) ?? 7200
        let seasons = (fc.seasonalities ?? ["1d", "7d"]).compactMap(DurationParser.seconds)
        let quantile = fc.quantile ?? 0.9
        let key = "\(planUID)/\(zone.name ?? "")"
        let fingerprint = "\(fc.source?.prometheus?.url ?? "")|\(fc.source?.configMap?.namespace ?? "")/\(fc.source?.configMap?.name ?? "")|\(zone.load?.query ?? zone.load?.configMapKey ?? "")|\(seasons)|\(quantile)|\(fc.holidays ?? [])|\(span)|\(step)"
        var result = Result(refitted: false)
        var series: TimeSeries
        // Between fits only the recent past is read (the last hour, at least six steps); a fit
        // reads the whole history span.
        let current = fitted[key].flatMap { $0.fingerprint == fingerprint && now.timeIntervalSince($0.fittedAt) < Double(step) ? $0 : nil }
        let readSpan = current == nil ? span : Self.recentSpan(step: step)
        do { series = try await history(plan: plan, zone: zone, input: input, now: now, span: readSpan) } catch {
            result.problem = "history: \(error)"
            result.forecast = fitted[key]?.forecast
            result.fittedAt = fitted[key]?.fittedAt
            return result
        }
        if zip(series.times, series.times.dropFirst()).contains(where: { $0 > $1 }) {
            let order = series.times.indices.sorted { series.times[$0] < series.times[$1] }
            series = TimeSeries(times: order.map { series.times[$0] }, values: order.map { series.values[$0] })
        }
        (result.observedAt, result.observedLoad) = Self.latestObservation(series, now: now, step: step)
        if let previous = fitted[key] { record(key, previous, series: series, quantile: quantile, now: now) }
        result.live = liveAccuracy(key)
        if let current {
            result.forecast = current.forecast
            result.fittedAt = current.fittedAt
            return result
        }
        // Fit on the last `history` of it, far enough ahead to cover the lead window from now.
        let end = series.times.last ?? Int64(now.timeIntervalSince1970)
        let first = series.times.firstIndex { $0 > end - span } ?? 0
        let trimmed = TimeSeries(times: Array(series.times[first...]), values: Array(series.values[first...]))
        let ahead = max(0, Int64(now.timeIntervalSince1970) - end) + horizon + leadSeconds
        let request = ForecastRequest(seasons: seasons, horizon: (ahead + step - 1) / step * step, quantiles: [quantile], holidays: fc.holidays ?? [])
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
                fitted[key] = FittedForecast(fingerprint: fingerprint, fittedAt: now, forecast: f, fitSeconds: seconds, historyEnd: end, history: trimmed)
                result.forecast = f
                result.fittedAt = now
                result.refitted = true
                result.fitSeconds = seconds
            }
        case .failure(let e):
            result.problem = "forecast: \(e)"
            result.forecast = fitted[key]?.forecast
            result.fittedAt = fitted[key]?.fittedAt
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
        let span = plan.forecast?.history.flatMap(DurationParser.seconds) ?? 14 * 86400
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

    /// Records each observation after `fit`'s history against what `fit` predicted for its time.
    func record(_ key: String, _ fit: FittedForecast, series: TimeSeries, quantile: Double, now: Date) {
        var index: [Int64: Int] = [:]
        for (i, t) in fit.forecast.times.enumerated() { index[t] = i }
        let path = fit.forecast.quantile(quantile) ?? fit.forecast.mean
        var log = checks[key] ?? [:]
        for (t, v) in zip(series.times, series.values) where t > fit.historyEnd && v.isFinite && log[t] == nil {
            guard let i = index[t] else { continue }
            log[t] = (fit.forecast.mean[i], path[i], v)
        }
        let oldest = Int64(now.timeIntervalSince1970 - accuracyWindow)
        checks[key] = log.filter { $0.key >= oldest }
    }

    func liveAccuracy(_ key: String) -> LiveAccuracy? {
        guard let log = checks[key], !log.isEmpty else { return nil }
        let positive = log.values.filter { $0.observed > 0 }
        let mape = positive.isEmpty ? .nan : positive.map { abs($0.mean - $0.observed) / $0.observed }.reduce(0, +) / Double(positive.count)
        let covered = Double(log.values.filter { $0.observed <= $0.quantile }.count) / Double(log.count)
        return LiveAccuracy(points: log.count, mape: mape, quantileCoverage: covered, window: accuracyWindow)
    }

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
        checks = checks.filter { !$0.key.hasPrefix("\(planUID)/") }
        ratios = ratios.filter { !$0.key.hasPrefix("\(planUID)/") }
    }
}
