import Foundation
import Testing
@testable import Forecasting
import TestSupport

/// Mutated histories (bytes flipped, lines cut, duplicated or swapped, text truncated) must give
/// a forecast or an error that names the problem: never a crash, a hang or a non-finite value.
@Suite(.offThePool) struct HistoryFuzzTests {
    static let seed: String = {
        // Four weeks of a half-hourly daily and weekly rhythm, as CSV.
        var lines = ["timestamp,value"]
        for t in 0..<(4 * 7 * 48) {
            let time = TimestampParser.format(1_767_571_200 + Int64(t) * 1800)
            let value = 100 + 30 * sin(2 * Double.pi * Double(t) / 48) + 10 * sin(2 * Double.pi * Double(t) / 336)
            lines.append("\(time),\(String(format: "%.2f", value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    /// `kinds` picks the mutations (0–7 below); `cut` allows cutting the text mid-line.
    static func mutate(_ text: String, _ random: inout SplitMix, kinds: [UInt64] = Array(0...7), cut: Bool = true) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<(1 + Int(random.next() % 6)) {
            let i = Int(random.next() % UInt64(lines.count))
            switch kinds[Int(random.next() % UInt64(kinds.count))] {
            case 0:  // a byte of the line replaced by any printable or control byte
                var bytes = Array(lines[i].utf8)
                if !bytes.isEmpty { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(random.next() % 128) }
                lines[i] = String(decoding: bytes, as: UTF8.self)
            case 1: lines[i] = String(lines[i].prefix(Int(random.next() % 25)))  // truncated line
            case 2: lines.insert(lines[i], at: i)  // duplicated timestamp
            case 3: lines.swapAt(i, Int(random.next() % UInt64(lines.count)))  // out of order
            case 4: lines.remove(at: i)  // a gap
            case 5: lines[i] = lines[i].replacingOccurrences(of: ",", with: ",,")  // extra column, empty value
            case 6: lines[i] = "\(lines[i].split(separator: ",").first ?? ""),\(["NaN", "1e308", "-1e308", "inf", "", "0x10", "1,5"].randomElement(using: &random)!)"
            default: lines.removeSubrange(i..<min(lines.count, i + Int(random.next() % 400)))  // a long gap
            }
            if lines.isEmpty { lines = [""] }
        }
        let text = lines.joined(separator: "\n")
        // Sometimes the stream itself is cut mid-line.
        return cut && random.next() % 4 == 0 ? String(text.prefix(Int(random.next() % UInt64(text.count + 1)))) : text
    }

    @Test func mutatedCSVIsReadOrRefusedWithAReason() {
        var random = SplitMix(seed: 20261128)
        var read = 0, refused = 0
        for _ in 0..<400 {
            let text = Self.mutate(Self.seed, &random)
            do {
                let series = try CSVSeriesReader.read(text, source: "fuzz.csv")
                #expect(series.times.count == series.values.count)
                let readable = series.values.allSatisfy { $0.isNaN || $0.isFinite }
                #expect(readable, "values are numbers or missing")
                let regular = try SeriesRepair.regularize(series)
                let finite = regular.values.allSatisfy(\.isFinite)
                #expect(finite, "repaired values are finite")
                read += 1
            } catch let error as SeriesError {
                #expect(!error.problem.isEmpty)
                if ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil { print("refused: \(error)") }
                refused += 1
            } catch let error as ForecastError {
                #expect(!error.problem.isEmpty)
                refused += 1
            } catch {
                Issue.record("unexpected error type \(type(of: error)): \(error)")
            }
        }
        // Both outcomes occur, so the mutations reach both paths.
        #expect(read > 50 && refused > 10, "read \(read), refused \(refused)")
    }

    @Test func mutatedHistoriesAreForecastOrRefused() {
        // Mutations that keep every row readable: duplicates, disorder, gaps, missing values.
        var random = SplitMix(seed: 7)
        var forecasts = 0
        for _ in 0..<12 {
            let text = Self.mutate(Self.seed, &random, kinds: [2, 3, 4, 7], cut: false)
            guard let series = try? CSVSeriesReader.read(text, source: "fuzz.csv") else { continue }
            do {
                let f = try Forecaster().forecast(series, request: ForecastRequest(seasons: [86400, 604800], horizon: 86400))
                let finite = f.mean.allSatisfy(\.isFinite) && f.quantiles.values.allSatisfy { $0.allSatisfy(\.isFinite) }
                #expect(finite, "forecast values are finite")
                forecasts += 1
            } catch let error as SeriesError {
                #expect(!error.problem.isEmpty)
            } catch let error as ForecastError {
                #expect(!error.problem.isEmpty)
            } catch {
                Issue.record("unexpected error type \(type(of: error)): \(error)")
            }
        }
        #expect(forecasts > 6, "\(forecasts) of 12 forecast")
    }
}
