import ArgumentParser
import Logging

/// The `--log-level` every long-running subcommand takes: checked in `validate()`, then used to
/// send logs to standard error at that level.
enum CommandLogging {
    static func validate(_ level: String) throws {
        if Logger.Level(rawValue: level) == nil { throw ValidationError("--log-level \(level): not one of trace, debug, info, notice, warning, error, critical") }
    }

    static func bootstrap(_ level: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
