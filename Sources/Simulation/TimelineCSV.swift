import Foundation
import Forecasting

/// A replay's timeline as CSV, one row per policy and sample, for a spreadsheet or a notebook:
/// `time,policy,load,capacity,nodes,nodes_out`, then for each zone (in the scenario's order) its
/// load, its Ready replicas and the replicas the policy wanted. Load and capacity are in the
/// traces' units; capacity is what the Ready replicas serve (`perReplica` each).
public enum TimelineCSV {
    public static func render(scenario s: Scenario, runs: [(String, PolicyRun)]) -> String {
        var header = ["time", "policy", "load", "capacity", "nodes", "nodes_out"]
        for z in s.zones { header += ["\(z.name) load", "\(z.name) ready", "\(z.name) desired"] }
        var out = header.map(field).joined(separator: ",") + "\n"
        for (policy, run) in runs {
            for sample in run.timeline {
                var row = [TimestampParser.format(sample.time), policy, number(sample.load), number(sample.capacity), "\(sample.nodes)", "\(sample.nodesOut)"]
                for z in s.zones.indices { row += [number(sample.zoneLoad[z]), "\(sample.zoneReady[z])", "\(sample.zoneDesired[z])"] }
                out += row.map(field).joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// A value as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break.
    static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Up to four decimals, no trailing zeros.
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return v == 0 ? "0" : String(Int64(v)) }
        var s = String(format: "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }
}
