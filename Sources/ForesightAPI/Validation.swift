import Forecasting
import Foundation
import KubernetesCore

/// A spec problem the CRD schema cannot express, named by its field path.
public struct SpecProblem: Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }
    public var description: String { "\(field): \(message)" }
}

func checkDuration(_ value: String?, _ field: String, into problems: inout [SpecProblem]) {
    guard let value else { return }
    if DurationParser.seconds(value) == nil { problems.append(SpecProblem(field, "\"\(value)\" is not a duration (like 30s, 5m, 2h, 1d)")) }
}

extension ZonePlan.Spec {
    /// Cross-field checks beyond the schema: unique names, bounds, references, one history source.
    public func validate() -> [SpecProblem] {
        var p: [SpecProblem] = []
        let zones = zones ?? []
        if zones.isEmpty { p.append(SpecProblem("spec.zones", "at least one zone is required")) }
        var names = Set<String>()
        for (i, z) in zones.enumerated() {
            let f = "spec.zones[\(i)]"
            guard let name = z.name, !name.isEmpty else { p.append(SpecProblem("\(f).name", "required")); continue }
            if !names.insert(name).inserted { p.append(SpecProblem("\(f).name", "duplicate zone name \"\(name)\"")) }
            if let min = z.minReplicas, let max = z.maxReplicas, min > max {
                p.append(SpecProblem("\(f).minReplicas", "\(min) is greater than maxReplicas \(max)"))
            }
            if let per = z.load?.perReplica, per <= 0 { p.append(SpecProblem("\(f).load.perReplica", "must be positive")) }
            if case .string(let s)? = z.buffer {
                if !(s.hasSuffix("%") && Double(s.dropLast()).map({ $0 >= 0 }) == true) {
                    p.append(SpecProblem("\(f).buffer", "\"\(s)\" must be a percentage like \"20%\" or a whole number of replicas"))
                }
            } else if case .int(let n)? = z.buffer, n < 0 {
                p.append(SpecProblem("\(f).buffer", "must not be negative"))
            }
            if let m = z.workloads?.selector?.validate(field: "\(f).workloads.selector") { p.append(SpecProblem("\(f).workloads.selector", m)) }
            if forecast?.source?.prometheus != nil && (z.load?.query ?? "").isEmpty {
                p.append(SpecProblem("\(f).load.query", "required with a Prometheus history source"))
            }
        }
        for (i, z) in zones.enumerated() {
            guard let leader = z.load?.follows?.zone else { continue }
            let f = "spec.zones[\(i)].load.follows.zone"
            if leader == z.name { p.append(SpecProblem(f, "a zone cannot follow itself")); continue }
            guard let target = zones.first(where: { $0.name == leader }) else { p.append(SpecProblem(f, "names no zone of this plan (\"\(leader)\")")); continue }
            if target.load?.follows != nil { p.append(SpecProblem(f, "zone \"\(leader)\" follows another zone itself; follow the zone it follows")) }
        }
        if let gp = generalPurpose?.zone, !names.contains(gp) {
            p.append(SpecProblem("spec.generalPurpose.zone", "names no zone of this plan (\"\(gp)\")"))
        }
        var poolNames = Set<String>()
        for (i, pool) in (nodePools ?? []).enumerated() {
            let f = "spec.nodePools[\(i)]"
            if let n = pool.name, !poolNames.insert(n).inserted { p.append(SpecProblem("\(f).name", "duplicate pool name \"\(n)\"")) }
            if let min = pool.minNodes, let max = pool.maxNodes, min > max { p.append(SpecProblem("\(f).minNodes", "\(min) is greater than maxNodes \(max)")) }
            checkDuration(pool.provisioningLeadTime, "\(f).provisioningLeadTime", into: &p)
            if let m = pool.nodeSelector?.validate(field: "\(f).nodeSelector") { p.append(SpecProblem("\(f).nodeSelector", m)) }
        }
        if let fc = forecast {
            let sources = [fc.source?.prometheus != nil, fc.source?.configMap != nil].filter { $0 }.count
            if sources != 1 { p.append(SpecProblem("spec.forecast.source", "exactly one of prometheus or configMap is required, found \(sources)")) }
            checkDuration(fc.history, "spec.forecast.history", into: &p)
            checkDuration(fc.horizon, "spec.forecast.horizon", into: &p)
            checkDuration(fc.step, "spec.forecast.step", into: &p)
            checkDuration(fc.refitEvery, "spec.forecast.refitEvery", into: &p)
            if let every = fc.refitEvery.flatMap(DurationParser.seconds), every < (fc.step.flatMap(DurationParser.seconds) ?? 300) {
                p.append(SpecProblem("spec.forecast.refitEvery", "\(fc.refitEvery!) is shorter than the step \(fc.step ?? "5m"): the forecast is updated every step anyway"))
            }
            for (i, s) in (fc.seasonalities ?? []).enumerated() { checkDuration(s, "spec.forecast.seasonalities[\(i)]", into: &p) }
            for (i, d) in (fc.holidays ?? []).enumerated() where TimestampParser.parse(d) == nil {
                p.append(SpecProblem("spec.forecast.holidays[\(i)]", "\"\(d)\" is not a date (YYYY-MM-DD)"))
            }
            if let step = fc.step.flatMap(DurationParser.seconds) {
                for (i, s) in (fc.seasonalities ?? []).enumerated() {
                    if let season = DurationParser.seconds(s), season % step != 0 {
                        p.append(SpecProblem("spec.forecast.seasonalities[\(i)]", "\(s) is not a multiple of the step \(fc.step!)"))
                    }
                }
            }
        }
        if let sd = scaleDown { checkDuration(sd.stabilizationWindow, "spec.scaleDown.stabilizationWindow", into: &p) }
        return p
    }
}

extension UpdateWindow.Spec {
    /// Cross-field checks beyond the schema.
    public func validate() -> [SpecProblem] {
        var p: [SpecProblem] = []
        if let m = nodeSelector?.validate(field: "spec.nodeSelector") { p.append(SpecProblem("spec.nodeSelector", m)) }
        if let s = schedule {
            if (s.start == nil) == (s.cron == nil) { p.append(SpecProblem("spec.schedule", "exactly one of start or cron is required")) }
            if let start = s.start, Timestamp.parse(start) == nil { p.append(SpecProblem("spec.schedule.start", "\"\(start)\" is not an RFC 3339 time")) }
            if let cron = s.cron, cron.split(separator: " ").count != 5 { p.append(SpecProblem("spec.schedule.cron", "\"\(cron)\" must have five fields")) }
            if let tz = s.timeZone, TimeZone(identifier: tz) == nil { p.append(SpecProblem("spec.schedule.timeZone", "unknown time zone \"\(tz)\"")) }
            checkDuration(s.duration, "spec.schedule.duration", into: &p)
        } else {
            p.append(SpecProblem("spec.schedule", "required"))
        }
        if case .string(let s)? = maxUnavailable, !(s.hasSuffix("%") && Int(s.dropLast()).map({ $0 > 0 && $0 <= 100 }) == true) {
            p.append(SpecProblem("spec.maxUnavailable", "\"\(s)\" must be a number of nodes or a percentage from 1% to 100%"))
        } else if case .int(let n)? = maxUnavailable, n < 1 {
            p.append(SpecProblem("spec.maxUnavailable", "must be at least 1"))
        }
        if order == "Given" && (nodes ?? []).isEmpty { p.append(SpecProblem("spec.nodes", "order Given needs the list of nodes")) }
        checkDuration(drain?.timeout, "spec.drain.timeout", into: &p)
        if let selector = drain?.podSelector {
            do { _ = try LabelSelector(parsing: selector) } catch { p.append(SpecProblem("spec.drain.podSelector", "\(error)")) }
        }
        checkDuration(update?.nodeTimeout, "spec.update.nodeTimeout", into: &p)
        checkDuration(verify?.settle, "spec.verify.settle", into: &p)
        return p
    }
}
