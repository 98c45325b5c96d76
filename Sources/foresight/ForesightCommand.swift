import ArgumentParser
import Foundation

@main
struct ForesightCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foresight",
        abstract: "Keeps service capacity ahead of load: forecasts demand, sizes priority zones, and runs node updates in the safest order.",
        subcommands: [SimulateCommand.self, ForecastCommand.self, BacktestCommand.self, RunCommand.self, NodeAgentCommand.self])
}
