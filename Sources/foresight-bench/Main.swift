import ArgumentParser

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foresight-bench",
        abstract: "Benchmarks that print figures (recorded in benchmarks/ with the machine they ran on).",
        subcommands: [ClientBenchmark.self, ListPods.self, SimulatorBenchmark.self, ZonePlanBenchmark.self, UpdateWindowBenchmark.self,
                      ForecastUpdateBenchmark.self])
}
