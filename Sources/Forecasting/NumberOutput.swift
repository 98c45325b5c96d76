import Foundation

/// Output of scores that may be undefined, for the commands' JSON and tables: the MASE of a series
/// that never changes is 0 ÷ 0, the coverage of a forecast with no inner origins is unknown.
public enum NumberOutput {
    /// Indented JSON with sorted keys, each non-finite number written as `null` (JSON has no NaN,
    /// and `JSONEncoder` would otherwise fail the whole output for one undefined score).
    public static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Non-finite numbers become a string no real value can hold (it starts with a control
        // character, which the encoder escapes), and that string then becomes null.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: marker, negativeInfinity: marker, nan: marker)
        return String(decoding: try encoder.encode(value), as: UTF8.self).replacingOccurrences(of: escapedMarker, with: "null")
    }

    static let marker = "\u{1}not a finite number"
    static let escapedMarker = "\"\\u0001not a finite number\""

    /// A number for `JSONSerialization`: itself when finite, else `NSNull` (written as null).
    public static func jsonNumber(_ v: Double) -> Any { v.isFinite ? v : NSNull() }

    /// `v` in a table cell formatted by `spec` (e.g. `%6.3f`), or `n/a` right-aligned to the spec's
    /// width (none for `%.3f`) when it is not a finite number.
    public static func cell(_ v: Double, _ spec: String) -> String {
        if v.isFinite { return String(format: spec, v) }
        let width = Int(String(spec.dropFirst().prefix(while: \.isNumber))) ?? 0
        return String(repeating: " ", count: max(0, width - 3)) + "n/a"
    }
}
