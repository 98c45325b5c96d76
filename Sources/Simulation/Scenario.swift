import Forecasting
import ForesightAPI
import Foundation
import Reconcilers
import UpdatePlanning
import YAML

/// A scenario for `foresight simulate`: a node pool, zones each with a load trace, and optionally
/// an update window; read from YAML and checked like a CRD (every error names the field and line).
public struct Scenario: Sendable {
    public struct Zone: Sendable {
        public var name: String
        public var priority: Int
        /// The zone's load over time (the trace, times its `scale`; in time order, rows of the
        /// same time averaged, rows without a number left out).
        public var load: TimeSeries
        /// The times the trace observes (`ObservationCalendar.infer`): where it has no row at
        /// such a time, its data is missing; at any other time there is no load.
        public var calendar: ObservationCalendar
        public var traceSource: String
        /// Load one ready replica serves.
        public var perReplica: Double
        public var cpuMillisPerReplica: Int64
        /// Seconds from a pod's placement to Ready.
        public var podStartDelay: Double
        public var minReplicas: Int
        public var maxReplicas: Int
        /// The HPA target of the reactive policies (load ÷ what the ready replicas serve).
        public var targetUtilization: Double
        /// Foresight's headroom above the forecast quantile (`20%` or a replica count).
        public var buffer: String
        /// The forecast quantile Foresight sizes to.
        public var quantile: Double
    }

    public struct Pool: Sendable {
        public var initialNodes: Int
        public var minNodes: Int
        public var maxNodes: Int
        public var cpuMillisPerNode: Int64
        /// Seconds from asking for a node to its being Ready.
        public var provisioningDelay: Double
    }

    public struct Update: Sendable {
        public var schedule: WindowSchedule
        public var maxUnavailable: Int
        /// Seconds a node is out for its update (drained, updated, rebooted, Ready again).
        public var updateTime: Double
        /// Share of node updates whose agent fails (the node stays cordoned, retried once).
        public var failureShare: Double
    }

    public var name: String
    public var zones: [Zone]
    public var pool: Pool
    public var update: Update?
    /// The replay: from `start` to `end` (seconds since 1970 of the traces' clock).
    public var start: Int64
    public var end: Int64
    /// Seasons the forecasts use.
    public var seasons: [Int64]
    /// History the forecasts are fitted on (before each refit); by default a ZonePlan's.
    public var history: Int64
    /// How often Foresight's forecasts are fitted again (`spec.forecast.refitEvery` of a ZonePlan);
    /// between fits each new observation updates them, as in the controller.
    public var refitEvery: Int64
    /// How far ahead Foresight sizes zones (the ZonePlan's horizon).
    public var horizon: Int64
    public var seed: UInt64
    /// The simulation's clock step.
    public var tick: Int64 = 60
}

public struct ScenarioError: Error, CustomStringConvertible, Sendable {
    public var problem: String
    public var description: String { problem }
}

extension Scenario {
    static let topKeys: Set<String> = ["name", "nodePool", "zones", "updateWindow", "start", "days", "history", "seasons", "refitEvery", "horizon", "seed"]
    static let poolKeys: Set<String> = ["initialNodes", "minNodes", "maxNodes", "cpuPerNode", "provisioningDelay"]
    static let zoneKeys: Set<String> = ["name", "priority", "trace", "scale", "perReplica", "cpuPerReplica", "podStartDelay", "minReplicas",
                                        "maxReplicas", "targetUtilization", "buffer", "quantile"]
    static let updateKeys: Set<String> = ["start", "cron", "timeZone", "duration", "maxUnavailable", "updateTime", "failureShare"]

    /// Reads a scenario from YAML; `source` names it in errors; trace paths are relative to
    /// `directory`. `traces` may supply a trace by its path instead of the file system (the
    /// embedded default).
    public init(yaml text: String, source: String, directory: String, traces: [String: TimeSeries] = [:]) throws {
        do { try self.init(reading: text, source: source, directory: directory, traces: traces) } catch let e as YAMLFieldError {
            throw ScenarioError(problem: e.problem)
        }
    }

    private init(reading text: String, source: String, directory: String, traces: [String: TimeSeries]) throws {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text) } catch { throw ScenarioError(problem: "\(source): \(error)") }
        let r = YAMLFieldReader(source: source)
        try r.mapping(root, "the scenario", keys: Self.topKeys)
        name = try root["name"].map { try r.string($0, "name") } ?? "scenario"

        guard let poolNode = root["nodePool"] else { throw r.fail(root, "nodePool is missing") }
        try r.mapping(poolNode, "nodePool", keys: Self.poolKeys)
        let maxNodes = try r.integer(r.required(poolNode, "maxNodes", in: "nodePool"), "nodePool.maxNodes", in: 1...100_000)
        let minNodes = try poolNode["minNodes"].map { try r.integer($0, "nodePool.minNodes", in: 0...maxNodes) } ?? 1
        let cpu = try r.cpuMillis(r.required(poolNode, "cpuPerNode", in: "nodePool"), "nodePool.cpuPerNode")
        pool = Pool(initialNodes: try poolNode["initialNodes"].map { try r.integer($0, "nodePool.initialNodes", in: minNodes...maxNodes) } ?? max(minNodes, 1),
                    minNodes: minNodes, maxNodes: maxNodes, cpuMillisPerNode: cpu,
                    provisioningDelay: Double(try poolNode["provisioningDelay"].map { try r.duration($0, "nodePool.provisioningDelay") } ?? 300))

        guard let zonesNode = root["zones"], case .sequence(let items, _) = zonesNode, !items.isEmpty else {
            throw r.fail(root["zones"] ?? root, "zones must be a non-empty list")
        }
        var zones: [Zone] = []
        var traceCache = traces
        for (i, item) in items.enumerated() {
            let at = "zones[\(i)]"
            try r.mapping(item, at, keys: Self.zoneKeys)
            let zoneName = try r.string(r.required(item, "name", in: at), "\(at).name")
            guard !zones.contains(where: { $0.name == zoneName }) else { throw r.fail(item["name"]!, "\(at).name \"\(zoneName)\" is used by two zones") }
            let traceNode = try r.required(item, "trace", in: at)
            let tracePath = try r.string(traceNode, "\(at).trace")
            var series: TimeSeries
            if let cached = traceCache[tracePath] { series = cached } else {
                let path = tracePath.hasPrefix("/") ? tracePath : (directory as NSString).appendingPathComponent(tracePath)
                guard FileManager.default.fileExists(atPath: path) else { throw r.fail(traceNode, "\(at).trace: no file \(path)") }
                do { series = try CSVSeriesReader.read(file: path) } catch { throw r.fail(traceNode, "\(at).trace: \(error)") }
                traceCache[tracePath] = series
            }
            series = Self.inTimeOrder(series)
            guard series.count >= 3 else { throw r.fail(traceNode, "\(at).trace has \(series.count) rows with a value; a replay needs a history") }
            let calendar: ObservationCalendar
            do { calendar = try ObservationCalendar.infer(times: series.times) } catch { throw r.fail(traceNode, "\(at).trace: \(error)") }
            let scale = try item["scale"].map { try r.number($0, "\(at).scale", in: 0...1e9) } ?? 1
            if scale != 1 { series.values = series.values.map { $0 * scale } }
            let perReplica = try r.number(r.required(item, "perReplica", in: at), "\(at).perReplica", in: 1e-9...1e12)
            let cpuPerReplica = try r.cpuMillis(r.required(item, "cpuPerReplica", in: at), "\(at).cpuPerReplica")
            guard cpuPerReplica <= cpu else {
                throw r.fail(item["cpuPerReplica"]!, "\(at).cpuPerReplica (\(cpuPerReplica)m) is more than a node holds (nodePool.cpuPerNode \(cpu)m): no replica could run")
            }
            let maxReplicas = try item["maxReplicas"].map { try r.integer($0, "\(at).maxReplicas", in: 1...1_000_000) } ?? 1000
            let minReplicas = try item["minReplicas"].map { try r.integer($0, "\(at).minReplicas", in: 0...maxReplicas) } ?? 1
            let buffer = try item["buffer"].map { try r.string($0, "\(at).buffer") } ?? "20%"
            guard buffer.hasSuffix("%") ? Double(buffer.dropLast()).map({ $0 >= 0 && $0 <= 1000 }) == true : Int(buffer).map({ $0 >= 0 }) == true else {
                throw r.fail(item["buffer"]!, "\(at).buffer \"\(buffer)\" must be a percentage (20%) or a replica count")
            }
            zones.append(Zone(name: zoneName, priority: try item["priority"].map { try r.integer($0, "\(at).priority", in: -1_000_000...1_000_000) } ?? 0,
                              load: series, calendar: calendar, traceSource: tracePath, perReplica: perReplica, cpuMillisPerReplica: cpuPerReplica,
                              podStartDelay: Double(try item["podStartDelay"].map { try r.duration($0, "\(at).podStartDelay") } ?? 60),
                              minReplicas: minReplicas, maxReplicas: maxReplicas,
                              targetUtilization: try item["targetUtilization"].map { try r.number($0, "\(at).targetUtilization", in: 0.05...1) } ?? 0.8,
                              buffer: buffer, quantile: try item["quantile"].map { try r.number($0, "\(at).quantile", in: 0.5...0.999) } ?? 0.9))
        }
        self.zones = zones

        seasons = try root["seasons"].map { node -> [Int64] in
            guard case .sequence(let items, _) = node, !items.isEmpty else { throw r.fail(node, "seasons must be a non-empty list of durations") }
            return try items.map { try r.duration($0, "seasons") }
        } ?? [86400, 604800]
        history = try root["history"].map { try r.duration($0, "history") } ?? ZonePlan.Forecast.defaultHistory
        refitEvery = try root["refitEvery"].map { try r.duration($0, "refitEvery") } ?? ForecastCadence.defaultRefitEvery(seasons: seasons)
        horizon = try root["horizon"].map { try r.duration($0, "horizon") } ?? 7200
        seed = UInt64(try root["seed"].map { try r.integer($0, "seed", in: 0...Int(Int32.max)) } ?? 1)
        guard refitEvery >= 60 else { throw r.fail(root["refitEvery"]!, "refitEvery must be at least 1m (the replay's step)") }

        // Every trace's step must fit the seasons (a whole number of steps per season).
        for (i, z) in zones.enumerated() {
            let step = Self.typicalStep(z.load)
            guard step > 0, step <= 3600 else {
                throw r.fail(items[i]["trace"]!, "zones[\(i)].trace \(z.traceSource): its step is \(step) s; the replay needs a step between 1 s and 1 h")
            }
            for s in seasons where s % step != 0 {
                throw r.fail(root["seasons"] ?? items[i]["trace"]!, "zones[\(i)].trace \(z.traceSource): its step (\(step) s) does not divide the season \(DurationParser.format(s))")
            }
        }

        // The replay: from `start` (default: as soon as `history` is behind) for `days` (default: to the traces' end).
        let traceStart = zones.map { $0.load.times.first! }.max()!
        let traceEnd = zones.map { $0.load.times.last! }.min()!
        if let s = root["start"] {
            guard let t = TimestampParser.parse(try r.string(s, "start")) else { throw r.fail(s, "start \"\(s.string ?? "")\" is not a time (2003-05-05 00:00:00)") }
            start = t
        } else {
            start = (traceStart + history + 86399) / 86400 * 86400
        }
        guard start - history >= traceStart else {
            throw r.fail(root["start"] ?? root, "the replay starts \(TimestampParser.format(start)), but the traces begin \(TimestampParser.format(traceStart)): \(DurationParser.format(history)) of history is needed before it")
        }
        if let d = root["days"] {
            end = start + Int64(try r.number(d, "days", in: 1.0 / 24...366) * 86400)
            guard end <= traceEnd + 86400 else { throw r.fail(d, "days runs to \(TimestampParser.format(end)), past the traces' end \(TimestampParser.format(traceEnd))") }
        } else {
            end = traceEnd
        }
        guard end > start else { throw r.fail(root, "the traces end (\(TimestampParser.format(traceEnd))) before the replay starts (\(TimestampParser.format(start)))") }
        // Missing data is filled by a straight line (`LoadCursor`) for up to a day; through a
        // longer gap the replay would be scored on load nobody recorded.
        for (i, z) in zones.enumerated() {
            let step = Self.typicalStep(z.load)
            if let gap = LoadCursor.missingStretches(z.load, step: step, calendar: z.calendar, from: start, to: end)
                .first(where: { Int64($0.missingSteps) * step > Self.longestFilledGap }) {
                throw r.fail(items[i]["trace"]!, "zones[\(i)].trace \(z.traceSource) has no data from \(TimestampParser.format(gap.after)) to \(TimestampParser.format(gap.before)) "
                             + "(\(DurationParser.format(Int64(gap.missingSteps) * step)) of times it otherwise observes), inside the replay; gaps of up to \(DurationParser.format(Self.longestFilledGap)) are filled by interpolation: choose start and days around it")
            }
        }

        if let u = root["updateWindow"] {
            try r.mapping(u, "updateWindow", keys: Self.updateKeys)
            let duration = TimeInterval(try r.duration(r.required(u, "duration", in: "updateWindow"), "updateWindow.duration"))
            let schedule: WindowSchedule
            if let s = u["start"] {
                guard let t = TimestampParser.parse(try r.string(s, "updateWindow.start")) else { throw r.fail(s, "updateWindow.start is not a time") }
                schedule = .once(start: Date(timeIntervalSince1970: Double(t)), duration: duration)
            } else if let c = u["cron"] {
                let tzName = try u["timeZone"].map { try r.string($0, "updateWindow.timeZone") } ?? "UTC"
                guard let tz = TimeZone(identifier: tzName) else { throw r.fail(u["timeZone"]!, "updateWindow.timeZone \"\(tzName)\" is not a time zone") }
                do { schedule = .recurring(try CronSchedule(try r.string(c, "updateWindow.cron")), timeZone: tz, duration: duration) } catch {
                    throw r.fail(c, "updateWindow.cron: \(error)")
                }
            } else {
                throw r.fail(u, "updateWindow needs start or cron")
            }
            let from = Date(timeIntervalSince1970: Double(start)), to = Date(timeIntervalSince1970: Double(end))
            guard let first = schedule.current(at: from) ?? schedule.next(after: from), first.start < to else {
                throw r.fail(u, "updateWindow never opens between the replay's start \(TimestampParser.format(start)) and end \(TimestampParser.format(end))")
            }
            update = Update(schedule: schedule,
                            maxUnavailable: try u["maxUnavailable"].map { try r.integer($0, "updateWindow.maxUnavailable", in: 1...10_000) } ?? 1,
                            updateTime: Double(try u["updateTime"].map { try r.duration($0, "updateWindow.updateTime") } ?? 600),
                            failureShare: try u["failureShare"].map { try r.number($0, "updateWindow.failureShare", in: 0...1) } ?? 0)
        } else {
            update = nil
        }
    }

    /// The longest stretch of missing data (absent rows at times a trace observes) a replay fills.
    static let longestFilledGap: Int64 = 86400

    /// The trace in time order, rows of the same time averaged (as the forecasting engine merges
    /// them), rows whose value is not a number left out (missing data).
    static func inTimeOrder(_ s: TimeSeries) -> TimeSeries {
        let order = s.times.indices.filter { s.values[$0].isFinite }.sorted { (s.times[$0], $0) < (s.times[$1], $1) }
        var times: [Int64] = [], values: [Double] = [], counts: [Int] = []
        for k in order {
            if times.last == s.times[k] { values[values.count - 1] += s.values[k]; counts[counts.count - 1] += 1 } else {
                times.append(s.times[k]); values.append(s.values[k]); counts.append(1)
            }
        }
        return TimeSeries(times: times, values: zip(values, counts).map { $0 / Double($1) })
    }

    /// The most common gap between consecutive rows (the trace's step; gaps such as nights are longer).
    static func typicalStep(_ s: TimeSeries) -> Int64 {
        var counts: [Int64: Int] = [:]
        for i in 1..<min(s.count, 5000) { counts[s.times[i] - s.times[i - 1], default: 0] += 1 }
        return counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0
    }
}

/// The scenario's own kinds of field, on top of the YAML module's reader.
extension YAMLFieldReader {
    func duration(_ node: YAMLNode, _ key: String) throws -> Int64 {
        guard let s = node.string, let v = DurationParser.seconds(s), v > 0 else {
            throw fail(node, "\(key) must be a duration such as 90s, 5m, 2h or 7d, found \"\(node.string ?? node.kindName)\"")
        }
        return v
    }

    /// CPU as Kubernetes writes it (`500m`, `2`, `0.5`), in millicores.
    func cpuMillis(_ node: YAMLNode, _ key: String) throws -> Int64 {
        let s = try string(node, key)
        let millis: Double? = s.hasSuffix("m") ? Double(s.dropLast()) : Double(s).map { $0 * 1000 }
        guard let m = millis, m.isFinite, m >= 1, m <= 1e9 else { throw fail(node, "\(key) must be CPU such as 500m or 4, found \"\(s)\"") }
        return Int64(m.rounded())
    }
}
