import ArgumentParser
import Forecasting
import Foundation
import KubernetesClient
import Simulation

/// `foresight simulate [SCENARIO.yaml]`: replays recorded load through Foresight's planners and the
/// usual alternatives, side by side, in virtual time; no cluster needed.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a scenario's load under Foresight and the usual alternatives, side by side.",
        discussion: """
        Without a scenario, replays the embedded default: four weeks of the embedded electricity-demand \
        trace, each forecast fitted on the four weeks before it (a ZonePlan's default history), on a \
        pool of 2-CPU nodes with a weekly daytime update window. The scenario format is in the README.
        """)

    @Argument(help: "The scenario (YAML). Default: the embedded scenario.") var scenario: String?
    @Option(help: "Output format: table or json.") var format: SimulateFormat = .table
    @Option(help: "Only these policies (foresight, reactive, predictive-aws, kured, static); repeat for several.") var policy: [String] = []
    @Option(help: "Write a picture of the replay to this SVG file.") var svg: String?
    @Option(help: "Write the picture as PNG too (needs rsvg-convert, Debian package librsvg2-bin).") var png: String?
    @Option(help: "Write every minute of the replay, per policy and zone, to this CSV file (load, ready capacity, nodes, Ready and wanted replicas).") var timeline: String?

    enum SimulateFormat: String, ExpressibleByArgument { case table, json }

    func validate() throws {
        if png != nil && !FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert") {
            throw ValidationError("--png needs rsvg-convert (apt-get install librsvg2-bin); --svg needs nothing")
        }
        for (option, path) in [("--svg", svg), ("--png", png), ("--timeline", timeline)] { if let path { try Self.checkWritable(path, option: option) } }
        for p in policy where Policy(rawValue: p) == nil {
            throw ValidationError("--policy \(p): unknown (known: \(Policy.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        let loaded: Scenario
        if let path = scenario {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw CommandFailure("cannot read the scenario \(path): \((error as NSError).localizedDescription)")
            }
            loaded = try Scenario(yaml: text, source: path, directory: (path as NSString).deletingLastPathComponent)
        } else {
            let trace = try CSVSeriesReader.read(EmbeddedTrace.csv, source: "embedded taylor trace")
            loaded = try Scenario(yaml: Scenario.embeddedDefault, source: "the embedded scenario", directory: ".", traces: [Scenario.embeddedTrace: trace])
        }
        let policies = policy.isEmpty ? Policy.allCases : policy.compactMap(Policy.init(rawValue:))
        let started = Date()
        let replay = Replay(scenario: loaded, timelineEvery: timeline == nil ? nil : loaded.tick)
        let runs = policies.map { replay.run($0) }
        let seconds = Date().timeIntervalSince(started)
        if svg != nil || png != nil {
            let picture = SimulationPicture.svg(scenario: loaded, runs: zip(policies, runs).map { ($0.rawValue, $1) })
            // Each file is written whole to a temporary file and renamed: never a half-written picture.
            let svgPath = svg ?? (NSTemporaryDirectory() + "foresight-simulate-\(getpid()).svg")
            try Self.writeWhole(svgPath) { try picture.write(toFile: $0, atomically: false, encoding: .utf8) }
            defer { if svg == nil { try? FileManager.default.removeItem(atPath: svgPath) } }
            if let png {
                try Self.writeWhole(png) { tmp in
                    let r = try runChildProcess(executable: "/usr/bin/rsvg-convert", arguments: ["-o", tmp, svgPath],
                                                environment: ProcessInfo.processInfo.environment, timeout: 60)
                    guard r.status == 0 else { throw CommandFailure("rsvg-convert failed: \(String(decoding: r.errorOutput.suffix(300), as: UTF8.self))") }
                }
            }
        }
        if let timeline {
            let csv = TimelineCSV.render(scenario: loaded, runs: zip(policies, runs).map { ($0.rawValue, $1) })
            try Self.writeWhole(timeline) { try csv.write(toFile: $0, atomically: false, encoding: .utf8) }
        }
        let hours = Double(loaded.end - loaded.start) / 3600
        switch format {
        case .json:
            struct Output: Encodable {
                var scenario: String
                var from: String
                var to: String
                var replayHours: Double
                var replaySeconds: Double
                var policies: [PolicyFigures]
            }
            let out = Output(scenario: loaded.name, from: TimestampParser.format(loaded.start), to: TimestampParser.format(loaded.end),
                             replayHours: hours, replaySeconds: (seconds * 100).rounded() / 100, policies: runs.map(\.figures))
            print(try NumberOutput.json(out))
        case .table:
            print("scenario \(loaded.name): \(TimestampParser.format(loaded.start)) to \(TimestampParser.format(loaded.end)) (\(String(format: "%.0f", hours)) h), \(loaded.zones.count) zone(s), replayed in \(String(format: "%.2f", seconds)) s")
            print(Self.table(runs.map(\.figures)))
            if loaded.zones.count > 1 {
                print("\nunserved by zone (share of the zone's load, minutes):")
                for f in runs.map(\.figures) {
                    print("  " + f.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                          + f.zones.map { String(format: "%@ %.4f %% %.0f min", $0.name, $0.unservedShare * 100, $0.unservedMinutes) }.joined(separator: "   "))
                }
            }
        }
    }

    /// Fails, with the operating system's reason (no such directory, permission denied), when
    /// `path` cannot be written: checked before the replay, so a long one is not run for nothing.
    static func checkWritable(_ path: String, option: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST { return }  // a leftover of an earlier run: the write replaces it
            throw ValidationError("\(option) \(path): cannot write there: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(tmp)
    }

    /// Writes `path` through a temporary file renamed into place; on failure nothing is left.
    static func writeWhole(_ path: String, _ write: (String) throws -> Void) throws {
        let tmp = path + ".tmp"
        do {
            try write(tmp)
            guard rename(tmp, path) == 0 else { throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            if let e = error as? CommandFailure { throw e }
            throw CommandFailure("cannot write \(path): \((error as NSError).localizedDescription)")
        }
    }

    static func table(_ figures: [PolicyFigures]) -> String {
        func pct(_ v: Double?) -> String {
            guard let v else { return "—" }
            return v > 0 && v < 0.000_01 ? "<0.001 %" : String(format: "%.3f %%", v * 100)
        }
        func num(_ v: Double?, _ f: String = "%.1f") -> String { v.map { String(format: f, $0) } ?? "—" }
        let header = ["policy", "unserved", "min. unserved", "unserved in windows", "node-hours", "replica-hours", "max dip in windows", "of it by updates",
                      "update makespan h", "nodes not updated", "evictions/pod"]
        let rows = figures.map { f in
            [f.name, pct(f.unservedShare), num(f.unservedMinutes, "%.0f"), pct(f.windowUnservedShare), num(f.nodeHours), num(f.replicaHours),
             pct(f.maxWindowCapacityDip), pct(f.maxUpdateCapacityDip), num(f.updateMakespanHours), f.nodesNotUpdated.map(String.init) ?? "—", num(f.evictionsPerPod, "%.2f")]
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0) : String(repeating: " ", count: widths[i] - c.count) + c }
                .joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
