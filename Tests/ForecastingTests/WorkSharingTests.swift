import Foundation
import Testing
@testable import Forecasting

@Suite(.offThePool) struct WorkSharingTests {
    /// Records which (job, iteration) pairs ran, and on how many distinct threads.
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var runs: [String: Int] = [:]
        private var threads = Set<UInt>()
        func record(_ key: String) {
            lock.withLock {
                runs[key, default: 0] += 1
                threads.insert(UInt(pthread_self()))
            }
        }
        var counts: [String: Int] { lock.withLock { runs } }
        var threadCount: Int { lock.withLock { threads.count } }
    }

    @Test(arguments: [1, 2, 4])
    func everyJobAndEveryLoopIterationRunsExactlyOnce(threads: Int) {
        let sharing = WorkSharing(threads: threads)
        let ledger = Ledger()
        // Job 0 is long and splits its work; the others are short, so their threads go idle and help.
        sharing.run(jobs: 5) { job in
            ledger.record("job \(job)")
            if job == 0 {
                sharing.forEach(40) { i in
                    ledger.record("job 0 iteration \(i)")
                    // A loop inside a loop iteration, as a model's piece of work might post.
                    sharing.forEach(3) { j in ledger.record("job 0 iteration \(i).\(j)") }
                    usleep(200)
                }
            } else {
                sharing.forEach(2) { i in ledger.record("job \(job) iteration \(i)") }
            }
        }
        var expected: [String: Int] = [:]
        for job in 0..<5 { expected["job \(job)"] = 1 }
        for i in 0..<40 {
            expected["job 0 iteration \(i)"] = 1
            for j in 0..<3 { expected["job 0 iteration \(i).\(j)"] = 1 }
        }
        for job in 1..<5 { for i in 0..<2 { expected["job \(job) iteration \(i)"] = 1 } }
        #expect(ledger.counts == expected)
        if threads == 1 { #expect(ledger.threadCount == 1) }
    }

    @Test func aLoopOutsideTheEngineRunsOnTheCaller() {
        let ledger = Ledger()
        WorkSharing(threads: 4).forEach(10) { i in ledger.record("\(i)") }
        WorkSharing.serial.forEach(0) { _ in ledger.record("never") }
        #expect(ledger.counts == Dictionary(uniqueKeysWithValues: (0..<10).map { ("\($0)", 1) }))
        #expect(ledger.threadCount == 1)
    }

    @Test func concurrentAndSerialEnginesGiveTheSameForecast() throws {
        // The decomposition's segments run on whichever thread is idle; the result must not depend on it.
        let values = (0..<(6 * 7 * 48)).map { (t: Int) -> Double in
            let daily = 20 * sin(2 * Double.pi * Double(t) / 48)
            let weekly = 5 * sin(2 * Double.pi * Double(t) / 336)
            return 100 + daily + weekly + Double((t * 7919) % 13) / 4
        }
        let series = TimeSeries(times: (0..<values.count).map { 1_767_571_200 + Int64($0) * 1800 }, values: values)
        let request = ForecastRequest(seasons: [86400, 7 * 86400], horizon: 86400)
        let concurrent = try Forecaster(concurrent: true).forecast(series, request: request)
        let serial = try Forecaster(concurrent: false).forecast(series, request: request)
        #expect(concurrent.mean == serial.mean)
        #expect(concurrent.quantiles == serial.quantiles)
        #expect(concurrent.model == serial.model)
    }
}
