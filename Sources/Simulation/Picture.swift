import Forecasting
import Foundation

/// A picture of a replay, read at a glance: the load, Foresight's forecast band, each policy's
/// ready capacity, update windows shaded, and below, each updating policy's node-update timeline.
public enum SimulationPicture {
    static let colours = ["foresight": "#1b7837", "reactive": "#c51b7d", "predictive-aws": "#e08214", "kured": "#2166ac", "static": "#7f7f7f"]

    public static func svg(scenario s: Scenario, runs: [(String, PolicyRun)]) -> String {
        let width = 1200.0, top = 40.0, plotHeight = 320.0, left = 70.0, right = 20.0
        let updating = runs.filter { !$0.1.updates.isEmpty }
        let laneHeight = 14.0
        let nodesShown = updating.map { Set($0.1.updates.map(\.node)).count }
        let timelineHeight = updating.isEmpty ? 0 : nodesShown.reduce(0) { $0 + Double($1) * laneHeight + 30 }
        let height = top + plotHeight + 60 + timelineHeight + 20
        let t0 = Double(s.start), t1 = Double(s.end)
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * (width - left - right) }
        let maxValue = max(1, runs.flatMap { $0.1.timeline.map { max($0.load, $0.capacity) } }.max() ?? 1) * 1.05
        func y(_ v: Double) -> Double { top + plotHeight - v / maxValue * plotHeight }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="15">\(escape(s.name)): load, forecast band and ready capacity per policy</text>

        """
        // Update windows, shaded.
        for w in s.update?.schedule.occurrences(from: Date(timeIntervalSince1970: t0), to: Date(timeIntervalSince1970: t1)) ?? [] {
            let a = max(t0, w.start.timeIntervalSince1970), b = min(t1, w.end.timeIntervalSince1970)
            out += "<rect x=\"\(f(x(a)))\" y=\"\(top)\" width=\"\(f(max(1, x(b) - x(a))))\" height=\"\(plotHeight)\" fill=\"#fde0a0\" opacity=\"0.6\"/>\n"
        }
        // The forecast band of Foresight (mean to the sized quantile).
        if let band = runs.first(where: { $0.0 == "foresight" })?.1.band, !band.times.isEmpty {
            let pts = band.times.indices.filter { Double(band.times[$0]) >= t0 && Double(band.times[$0]) <= t1 }
            // One polygon per stretch without a gap (closed hours have no forecast).
            let gaps = zip(pts, pts.dropFirst()).map { band.times[$1] - band.times[$0] }.sorted()
            let step = gaps.isEmpty ? 0 : gaps[gaps.count / 2]
            var stretches: [[Int]] = []
            for i in pts {
                if let last = stretches.last?.last, band.times[i] - band.times[last] <= 2 * step { stretches[stretches.count - 1].append(i) } else { stretches.append([i]) }
            }
            for stretch in stretches {
                let upper = stretch.map { "\(f(x(Double(band.times[$0])))),\(f(y(band.upper[$0])))" }
                let lower = stretch.reversed().map { "\(f(x(Double(band.times[$0])))),\(f(y(band.mean[$0])))" }
                out += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"#a6dba0\" opacity=\"0.5\"/>\n"
            }
        }
        // Load, then each policy's capacity; at most about 2,000 points a line (a finer timeline,
        // kept for `--timeline`, is thinned).
        func thinned(_ timeline: [TimelineSample]) -> [TimelineSample] {
            let every = max(1, timeline.count / 2000)
            return every == 1 ? timeline : Swift.stride(from: 0, to: timeline.count, by: every).map { timeline[$0] }
        }
        if let first = runs.first?.1.timeline {
            out += polyline(thinned(first).map { (x(Double($0.time)), y($0.load)) }, colour: "black", width: 1.2)
        }
        for (name, run) in runs {
            out += polyline(thinned(run.timeline).map { (x(Double($0.time)), y($0.capacity)) }, colour: colours[name] ?? "#333", width: 1, opacity: 0.8)
        }
        // Axes and legend.
        out += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - right)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        for k in 0...4 {
            let v = maxValue * Double(k) / 4
            out += "<text x=\"\(left - 6)\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(Int(v))</text>\n"
        }
        var day = (Int64(t0) + 86399) / 86400 * 86400
        while Double(day) < t1 {
            let label = TimestampParser.format(day).prefix(10)
            out += "<text x=\"\(f(x(Double(day))))\" y=\"\(top + plotHeight + 16)\" text-anchor=\"middle\" font-size=\"10\">\(label.suffix(5))</text>\n"
            day += max(1, Int64((t1 - t0) / 86400 / 14)) * 86400
        }
        var lx = left
        for (name, colour) in [("load", "black"), ("forecast band", "#a6dba0"), ("update window", "#fde0a0")] + runs.map({ ($0.0, colours[$0.0] ?? "#333") }) {
            out += "<rect x=\"\(f(lx))\" y=\"\(top + plotHeight + 28)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/><text x=\"\(f(lx + 16))\" y=\"\(top + plotHeight + 38)\">\(escape(name))</text>\n"
            lx += 30 + Double(name.count) * 7
        }
        // Node-update timelines, on their own time axis: from the first update to the last.
        var ty = top + plotHeight + 60
        let allUpdates = updating.flatMap { $0.1.updates }
        let u0 = (allUpdates.map(\.start).min() ?? t0) - 1800, u1 = (allUpdates.map(\.end).max() ?? t1) + 1800
        func ux(_ t: Double) -> Double { left + (t - u0) / max(1, u1 - u0) * (width - left - right) }
        if !allUpdates.isEmpty {
            out += "<text x=\"\(left)\" y=\"\(f(ty - 4))\" font-size=\"10\">node updates from \(TimestampParser.format(Int64(u0))) to \(TimestampParser.format(Int64(u1))) (update windows shaded)</text>\n"
            for w in s.update?.schedule.occurrences(from: Date(timeIntervalSince1970: u0), to: Date(timeIntervalSince1970: u1)) ?? [] {
                let a = max(u0, w.start.timeIntervalSince1970), b = min(u1, w.end.timeIntervalSince1970)
                out += "<rect x=\"\(f(ux(a)))\" y=\"\(f(ty))\" width=\"\(f(max(1, ux(b) - ux(a))))\" height=\"\(f(timelineHeight))\" fill=\"#fde0a0\" opacity=\"0.4\"/>\n"
            }
        }
        for (name, run) in updating {
            let nodes = Array(Set(run.updates.map(\.node))).sorted()
            out += "<text x=\"\(left)\" y=\"\(f(ty + 12))\">\(escape(name)): node updates</text>\n"
            ty += 18
            for (lane, node) in nodes.enumerated() {
                for u in run.updates where u.node == node {
                    out += "<rect x=\"\(f(ux(u.start)))\" y=\"\(f(ty + Double(lane) * laneHeight))\" width=\"\(f(max(2, ux(u.end) - ux(u.start))))\" height=\"\(laneHeight - 3)\" fill=\"\(colours[name] ?? "#333")\"/>\n"
                }
            }
            ty += Double(nodes.count) * laneHeight + 12
        }
        return out + "</svg>\n"
    }

    static func polyline(_ points: [(Double, Double)], colour: String, width: Double, opacity: Double = 1) -> String {
        "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(width)\" opacity=\"\(opacity)\" points=\"\(points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>\n"
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
