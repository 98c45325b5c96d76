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
        try fillTSDB(from: "\(dir)/data.om", into: "\(dir)/tsdb", log: "\(dir)/promtool.log")
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

    /// Where blocks made by promtool are kept between runs, by the hash of their samples and the
    /// promtool that made them: promtool writes one block per two hours of samples (1,008 for
    /// taylor's twelve weeks, about two minutes), and the same samples always make the same blocks.
    static var blockCache: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].map { $0 + "/foresight" } ?? (env["HOME"] ?? NSTemporaryDirectory()) + "/.cache/foresight"
        return base + "/prometheus-blocks"
    }

    /// Fills `tsdb` with the blocks of the OpenMetrics file `om`: copied from the cache when these
    /// samples were backfilled before, else made by promtool and then cached. The cache entry is
    /// written under a temporary name and renamed into place, so a run stopped midway, or two runs
    /// at once, never leave a partial entry to be copied.
    static func fillTSDB(from om: String, into tsdb: String, log: String) throws {
        let hashFile = om + ".key"
        guard try runShell("(promtool --version 2>&1 | head -1; cat \(om)) | sha256sum | cut -c1-64 > \(hashFile)") == 0,
              let key = try? String(contentsOfFile: hashFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), key.count == 64
        else { throw FixtureError(message: "could not hash the samples for the block cache (\(hashFile))") }
        let entry = "\(blockCache)/\(key)"
        if FileManager.default.fileExists(atPath: "\(entry)/complete"),
           try runShell("cp -R \(entry)/blocks/. \(tsdb)/ > \(log) 2>&1") == 0 {
            return
        }
        let create = try runShell("promtool tsdb create-blocks-from openmetrics \(om) \(tsdb) > \(log) 2>&1")
        guard create == 0 else { throw FixtureError(message: "promtool failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
        // Caching is an optimisation: a cache that cannot be written leaves the test as it was.
        let staging = "\(blockCache)/.\(key).\(UUID().uuidString.prefix(8))"
        _ = try? runShell("mkdir -p \(staging)/blocks && cp -R \(tsdb)/. \(staging)/blocks/ && touch \(staging)/complete && "
                          + "rm -rf \(entry) && mv \(staging) \(entry) || rm -rf \(staging)")
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
