import ArgumentParser
import Forecasting
import Foundation

/// Options shared by `forecast` and `backtest`: where the history comes from and its seasons.
struct HistoryOptions: ParsableArguments {
    @Option(name: .long, help: "CSV file of timestamp,value rows. Default: the embedded taylor trace.")
    var input: String?

    @Option(name: .long, help: "A season as a duration (1d, 7d, 12h); repeat for several.")
    var season: [String] = ["1d", "7d"]

    @Option(name: .long, help: "A holiday date (YYYY-MM-DD); repeat for several.")
    var holiday: [String] = []

    func load() throws -> (TimeSeries, String) {
        if let input { return (try CSVSeriesReader.read(file: input), input) }
        return (try CSVSeriesReader.read(EmbeddedTrace.csv, source: "embedded"), EmbeddedTrace.name)
    }

    func seasonSeconds() throws -> [Int64] {
        try season.map { s in
            guard let v = DurationParser.seconds(s) else { throw ValidationError("--season \(s): not a duration (like 1d, 7d, 12h)") }
            return v
        }
    }
}

func parseDuration(_ s: String, flag: String) throws -> Int64 {
    guard let v = DurationParser.seconds(s) else { throw ValidationError("\(flag) \(s): not a duration (like 30m, 1d, 8w)") }
    return v
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case csv, json, table }

struct ForecastCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forecast", abstract: "Forecast a load history as a distribution per step.")

    @OptionGroup var history: HistoryOptions

    @Option(help: "How far ahead (e.g. 2h, 1d).")
    var horizon: String = "1d"

    @Option(help: "A quantile to report besides 0.5, 0.9, 0.95, 0.99; repeat for several.")
    var quantile: [Double] = []

    @Option(help: "Output format: csv or json.")
    var format: OutputFormat = .csv

    @Option(help: "Only consider these models (holt-winters, decomposition, seasonal-ar, seasonal-naive).")
    var model: [String] = []

    func validate() throws {
        for q in quantile where !(q > 0 && q < 1) { throw ValidationError("--quantile \(q): must be between 0 and 1") }
        if format == .table { throw ValidationError("--format table is for backtest; use csv or json") }
    }

    func run() throws {
        let (series, source) = try history.load()
        let request = ForecastRequest(seasons: try history.seasonSeconds(), horizon: try parseDuration(horizon, flag: "--horizon"),
                                      quantiles: quantile, holidays: history.holiday, models: model.isEmpty ? nil : model)
        let forecast = try Forecaster().forecast(series, request: request)
        let levels = forecast.quantiles.keys.sorted()
        switch format {
        case .csv:
            var out = "timestamp,mean," + levels.map { "q\(fmt($0))" }.joined(separator: ",") + "\n"
            for i in forecast.times.indices {
                out += TimestampParser.format(forecast.times[i]) + "," + String(format: "%.3f", forecast.mean[i])
                for q in levels { out += "," + String(format: "%.3f", forecast.quantiles[q]![i]) }
                out += "\n"
            }
            print(out, terminator: "")
            var err = "# source: \(source); model: \(forecast.model); inner MASE \(NumberOutput.cell(forecast.accuracy.mase, "%.3f")), 90% coverage \(NumberOutput.cell(forecast.accuracy.intervalCoverage * 100, "%.1f")) %\n"
            for n in forecast.notes { err += "# \(n)\n" }
            FileHandle.standardError.write(Data(err.utf8))
        case .json, .table:
            var steps: [[String: Any]] = []
            for i in forecast.times.indices {
                var q: [String: Double] = [:]
                for l in levels { q[fmt(l)] = forecast.quantiles[l]![i] }
                steps.append(["timestamp": TimestampParser.format(forecast.times[i], separator: "T"), "mean": NumberOutput.jsonNumber(forecast.mean[i]),
                              "quantiles": q.mapValues(NumberOutput.jsonNumber)])
            }
            let doc: [String: Any] = [
                "source": source, "model": forecast.model, "weights": forecast.weights.mapValues(NumberOutput.jsonNumber),
                "parameters": forecast.parameters.mapValues { $0.mapValues(NumberOutput.jsonNumber) },
                "notes": forecast.notes, "stepSeconds": forecast.step,
                "accuracy": ["mase": NumberOutput.jsonNumber(forecast.accuracy.mase), "mape": NumberOutput.jsonNumber(forecast.accuracy.mape),
                             "intervalCoverage": NumberOutput.jsonNumber(forecast.accuracy.intervalCoverage), "origins": forecast.accuracy.origins],
                "forecast": steps,
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

func fmt(_ q: Double) -> String {
    var s = String(format: "%.4f", q)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

struct BacktestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backtest", abstract: "Rolling-origin backtest of every model and of the engine's own choice (auto).")

    @OptionGroup var history: HistoryOptions

    @Option(help: "Start of the first training window (timestamp). Default: the first row.")
    var start: String?

    @Option(help: "Training window before each origin.")
    var train: String = "8w"

    @Option(help: "Forecast horizon; origins are one horizon apart.")
    var horizon: String = "1d"

    @Option(help: "Number of origins.")
    var origins: Int = 20

    @Option(help: "Run the protocol (the engine's choice only) from the start and then every this long across the whole history (e.g. 4w), and report each window and the spread.")
    var sweep: String?

    @Option(help: "With --sweep: issue each window's forecasts at this many times of day, spread evenly over the day's observed steps from the start's, and score them together (a controller forecasts at every time of day; the protocol only at the start's).")
    var timesOfDay: Int = 1

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    static let marginNote = """
        ±90%: half the width of a 90 % confidence interval of the mean over the window's origins, each origin's day one observation
        >q95%: actuals above the 0.95 quantile (5 when calibrated); ≤q90%: at or below the 0.9 quantile, what zones are sized to by default (90)
        """

    func validate() throws {
        if origins < 1 { throw ValidationError("--origins must be at least 1") }
        if timesOfDay < 1 { throw ValidationError("--times-of-day must be at least 1") }
        if timesOfDay != 1 && sweep == nil { throw ValidationError("--times-of-day needs --sweep") }
        if format == .csv { throw ValidationError("--format csv is for forecast; use table or json") }
    }

    func run() throws {
        let (series, source) = try history.load()
        let startTime: Int64
        if let start {
            guard let t = TimestampParser.parse(start) else { throw ValidationError("--start \(start): not a timestamp") }
            startTime = t
        } else {
            startTime = series.times.min()!
        }
        let p = BacktestProtocol(seasons: try history.seasonSeconds(), start: startTime, train: try parseDuration(train, flag: "--train"),
                                 horizon: try parseDuration(horizon, flag: "--horizon"), origins: origins, holidays: history.holiday)
        if let sweep {
            let summary = try Backtest.sweep(series, protocol: p, every: try parseDuration(sweep, flag: "--sweep"), timesOfDay: timesOfDay)
            switch format {
            case .json, .csv:
                print(try NumberOutput.json(summary))
            case .table:
                let times = timesOfDay == 1 ? "" : " at each of \(timesOfDay) times of day"
                print("source: \(source); a window every \(sweep): \(origins) origins each\(times), train \(train), horizon \(horizon); the engine's choice (auto)")
                print("window start          MASE_d  Cov90% (±90%)  >q95%  ≤q90%  pinball")
                let c = NumberOutput.cell
                for w in summary.windows {
                    print(w.start.padding(toLength: 20, withPad: " ", startingAt: 0)
                          + "  \(c(w.maseDay, "%6.3f"))  \(c(w.coverage90, "%6.1f")) ±\(c(w.coverage90Margin, "%5.1f"))  \(c(w.above95, "%5.1f"))  \(c(w.atOrBelow90, "%5.1f"))  \(c(w.scaledPinball, "%7.4f"))")
                }
                print("\(summary.windows.count) windows: MASE_d median \(c(summary.medianMASE, "%.3f")), worst \(c(summary.worstMASE, "%.3f")); "
                      + "90% coverage median \(c(summary.medianCoverage, "%.1f")) %, lowest \(c(summary.lowestCoverage, "%.1f")) %, highest \(c(summary.highestCoverage, "%.1f")) %; "
                      + "pinball median \(c(summary.medianPinball, "%.4f"))")
                print("above the 0.95 quantile: median \(c(summary.medianAbove95, "%.1f")) %; at or below the 0.9 quantile: median \(c(summary.medianAtOrBelow90, "%.1f")) %, "
                      + "lowest \(c(summary.lowestAtOrBelow90, "%.1f")) %")
                print(Self.marginNote)
            }
            return
        }
        let scores = try Backtest.run(series, protocol: p)
        switch format {
        case .json, .csv:
            print(try NumberOutput.json(scores))
        case .table:
            print("source: \(source); \(origins) origins, train \(train), horizon \(horizon)")
            print("model".padding(toLength: 20, withPad: " ", startingAt: 0) + "  MASE_d (±90%)  sMAPE%  Cov90% (±90%)  >q95%  ≤q90%  pinball  ms/origin  cpu ms/origin")
            let c = NumberOutput.cell
            for s in scores {
                print(s.model.padding(toLength: 20, withPad: " ", startingAt: 0)
                      + "  \(c(s.maseDay, "%6.3f")) ±\(c(s.maseDayMargin, "%5.3f"))  \(c(s.smape, "%6.2f"))  \(c(s.coverage90, "%6.1f")) ±\(c(s.coverage90Margin, "%5.1f"))"
                      + "  \(c(s.above95, "%5.1f"))  \(c(s.atOrBelow90, "%5.1f"))  \(c(s.scaledPinball, "%7.4f"))  \(c(s.secondsPerOrigin * 1000, "%9.2f"))  \(c(s.cpuSecondsPerOrigin * 1000, "%13.2f"))")
            }
            if let choices = scores.last?.choices {
                let counts = Dictionary(grouping: choices, by: { $0 }).mapValues(\.count).sorted { $0.value > $1.value }
                print("auto chose: " + counts.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
            }
            print(Self.marginNote)
        }
    }
}
