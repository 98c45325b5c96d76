/// The default history of `foresight forecast` and `foresight backtest`: electricity demand of
/// England and Wales, 2000-06-05 to 2000-08-27, half-hourly (Taylor 2003; see Tests/Data/README.md).
/// The CSV is a SwiftPM resource embedded in the binary (`Resources/taylor.csv`, a link to the
/// test data's copy), so the static binary needs no file beside it.
enum EmbeddedTrace {
    static let name = "taylor (England and Wales electricity demand, 2000, half-hourly)"
    static var csv: String { String(decoding: PackageResources.taylor_csv, as: UTF8.self) }
}
