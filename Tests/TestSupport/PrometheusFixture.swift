import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real Prometheus (Debian's package) on a free loopback port, its TSDB made by promtool from
/// the samples given, for tests of the Prometheus history source.
public struct PrometheusFixture {
    public static var available: Bool {
        let found = ["/usr/bin/prometheus", "/usr/bin/promtool"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
        if !found && ProcessInfo.processInfo.environment["FORESIGHT_REQUIRE_E2E"] == "1" {
            fatalError("FORESIGHT_REQUIRE_E2E=1 but prometheus/promtool are not installed")
        }
        return found
    }

    public let url: String
    let pid: Int32
    let directory: String

    /// Starts Prometheus with `series` (metric with labels, like `load{trace="taylor"}`, and its
    /// samples as Unix seconds and values) backfilled into its TSDB.
    public static func start(series: [(name: String, samples: [(Int64, Double)])]) throws -> PrometheusFixture {
        let dir = NSTemporaryDirectory() + "foresight-prom-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(dir)/tsdb", withIntermediateDirectories: true)
        var om = ""
        var typed = Set<String>()
        for s in series {
            let metric = String(s.name.prefix { $0 != "{" })
            if typed.insert(metric).inserted { om += "# TYPE \(metric) gauge\n" }
            for (t, v) in s.samples { om += "\(s.name) \(v) \(t)\n" }
        }
        om += "# EOF\n"
        try om.write(toFile: "\(dir)/data.om", atomically: true, encoding: .utf8)
        try "global: {scrape_interval: 1h}\n".write(toFile: "\(dir)/prometheus.yml", atomically: true, encoding: .utf8)
        let create = try runShell("promtool tsdb create-blocks-from openmetrics \(dir)/data.om \(dir)/tsdb > \(dir)/promtool.log 2>&1")
        guard create == 0 else { throw FixtureError(message: "promtool failed: \((try? String(contentsOfFile: "\(dir)/promtool.log", encoding: .utf8)) ?? "")") }
        let port = Int.random(in: 41000...49000)
        let pidFile = "\(dir)/pid"
        _ = try runShell("setsid prometheus --config.file=\(dir)/prometheus.yml --storage.tsdb.path=\(dir)/tsdb --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:\(port) > \(dir)/prometheus.log 2>&1 < /dev/null & echo $! > \(pidFile)")
        let pid = Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let fixture = PrometheusFixture(url: "http://127.0.0.1:\(port)", pid: pid, directory: dir)
        for _ in 0..<120 {
            if try runShell("curl -fs http://127.0.0.1:\(port)/-/ready > /dev/null") == 0 { return fixture }
            usleep(250_000)
        }
        fixture.stop()
        throw FixtureError(message: "prometheus did not become ready: \((try? String(contentsOfFile: "\(dir)/prometheus.log", encoding: .utf8))?.suffix(800) ?? "")")
    }

    public func stop() {
        kill(pid, SIGTERM)
        for _ in 0..<50 { if kill(pid, 0) != 0 { break }; usleep(100_000) }
        kill(pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
