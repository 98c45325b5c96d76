import Forecasting
import ForecastSources
import Foundation
import Testing
import TestSupport

/// The Prometheus history source against a real Prometheus (Debian's package, installed by
/// `hack/install-deps.sh`) whose TSDB is filled with the taylor trace by promtool.
@Suite(.serialized, .enabled(if: PrometheusFixture.available, "needs prometheus and promtool (hack/install-deps.sh)"))
struct PrometheusSourceTests {
    @Test func readsTheTraceBackAndForecastsFromIt() async throws {
        let fixture = try PrometheusFixture.start()
        defer { fixture.stop() }
        let csv = try CSVSeriesReader.read(file: "\(PrometheusFixture.data)/taylor.csv")
        let source = PrometheusSource(url: fixture.url)
        // Windows of 1,000 steps make the 4,032 points come in five queries.
        var small = source
        small.maxPointsPerQuery = 1000
        let series = try await small.queryRange("sum(load)", start: csv.times.first!, end: csv.times.last!, step: 1800)
        #expect(series.times == csv.times)
        #expect(series.values == csv.values)
        let f = try Forecaster().forecast(series, request: ForecastRequest(seasons: [86400, 604800], horizon: 86400))
        #expect(f.mean.count == 48)

        do {
            _ = try await source.queryRange("load{trace=~\".*\"} or vector(1)", start: csv.times.first!, end: csv.times.first! + 3600, step: 1800)
            Issue.record("two series must be refused")
        } catch let e as HistorySourceError { #expect(e.problem.contains("aggregate")) }
        do {
            _ = try await source.queryRange("sum(load", start: csv.times.first!, end: csv.times.first! + 3600, step: 1800)
            Issue.record("a malformed query must be refused")
        } catch let e as HistorySourceError { #expect(e.problem.contains("bad_data")) }
        do {
            _ = try await source.queryRange("sum(nothing_here)", start: csv.times.first!, end: csv.times.first! + 3600, step: 1800)
            Issue.record("an empty answer must be refused")
        } catch let e as HistorySourceError { #expect(e.problem.contains("no samples")) }
    }

    @Test func unreachableServerIsNamed() async {
        do {
            _ = try await PrometheusSource(url: "http://127.0.0.1:1").queryRange("up", start: 0, end: 60, step: 60)
            Issue.record("expected an error")
        } catch let e as HistorySourceError {
            #expect(e.source == "http://127.0.0.1:1")
        } catch { Issue.record("\(error)") }
    }
}

/// A Prometheus on a free loopback port, its TSDB made from the taylor trace.
struct PrometheusFixture {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Data").path
    static var available: Bool {
        let found = ["/usr/bin/prometheus", "/usr/bin/promtool"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
        if !found && ProcessInfo.processInfo.environment["FORESIGHT_REQUIRE_E2E"] == "1" {
            fatalError("FORESIGHT_REQUIRE_E2E=1 but prometheus/promtool are not installed")
        }
        return found
    }

    let url: String
    let pid: Int32
    let directory: String

    static func start() throws -> PrometheusFixture {
        let dir = NSTemporaryDirectory() + "foresight-prom-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(dir)/tsdb", withIntermediateDirectories: true)
        let csv = try CSVSeriesReader.read(file: "\(data)/taylor.csv")
        var om = "# TYPE load gauge\n"
        for (t, v) in zip(csv.times, csv.values) { om += "load{trace=\"taylor\"} \(v) \(t)\n" }
        om += "# EOF\n"
        try om.write(toFile: "\(dir)/taylor.om", atomically: true, encoding: .utf8)
        try "global: {scrape_interval: 1h}\n".write(toFile: "\(dir)/prometheus.yml", atomically: true, encoding: .utf8)
        let create = try shell("promtool tsdb create-blocks-from openmetrics \(dir)/taylor.om \(dir)/tsdb > \(dir)/promtool.log 2>&1")
        guard create == 0 else { throw FixtureError(message: "promtool failed: \((try? String(contentsOfFile: "\(dir)/promtool.log", encoding: .utf8)) ?? "")") }
        let port = Int.random(in: 41000...49000)
        let pidFile = "\(dir)/pid"
        _ = try shell("setsid prometheus --config.file=\(dir)/prometheus.yml --storage.tsdb.path=\(dir)/tsdb --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:\(port) > \(dir)/prometheus.log 2>&1 < /dev/null & echo $! > \(pidFile)")
        let pid = Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let fixture = PrometheusFixture(url: "http://127.0.0.1:\(port)", pid: pid, directory: dir)
        for _ in 0..<120 {
            if try shell("curl -fs http://127.0.0.1:\(port)/-/ready > /dev/null") == 0 { return fixture }
            usleep(250_000)
        }
        fixture.stop()
        throw FixtureError(message: "prometheus did not become ready: \((try? String(contentsOfFile: "\(dir)/prometheus.log", encoding: .utf8))?.suffix(800) ?? "")")
    }

    func stop() {
        kill(pid, SIGTERM)
        for _ in 0..<50 { if kill(pid, 0) != 0 { break }; usleep(100_000) }
        kill(pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func shell(_ command: String) throws -> Int32 { try runShell(command) }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
