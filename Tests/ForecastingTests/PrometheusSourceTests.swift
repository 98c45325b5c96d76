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
        let fixture = try taylorFixture()
        defer { fixture.stop() }
        let csv = try CSVSeriesReader.read(file: "\(testData)/taylor.csv")
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

        // A ratio over a zero denominator is `+Inf` in the answer. Here every 10th of the month
        // divides by 0 (three days of taylor's twelve weeks): those samples arrive infinite, the
        // repair takes them as missing and says so, and the forecast stays finite. (Same fixture:
        // promtool takes about two minutes to build one.)
        let ratio = try await source.queryRange("sum(load) / scalar(day_of_month() != bool 10)", start: csv.times.first!, end: csv.times.last!, step: 1800)
        #expect(ratio.values.filter { $0 == .infinity }.count == 3 * 48)
        #expect(ratio.values.filter(\.isFinite).count == csv.count - 3 * 48)
        let repaired = try Forecaster().forecast(ratio, request: ForecastRequest(seasons: [86400, 604800], horizon: 86400))
        #expect(repaired.notes.contains("144 values were not finite (infinite) and were taken as missing"), "\(repaired.notes)")
        #expect(repaired.mean.allSatisfy(\.isFinite) && repaired.quantiles.values.allSatisfy { $0.allSatisfy(\.isFinite) })
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

/// The taylor trace as a Prometheus fixture's series.
func taylorFixture() throws -> PrometheusFixture {
    let csv = try CSVSeriesReader.read(file: "\(testData)/taylor.csv")
    return try PrometheusFixture.start(series: [("load{trace=\"taylor\"}", Array(zip(csv.times, csv.values)))])
}

let testData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Data").path
