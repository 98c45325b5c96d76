/// Mutations of a YAML text for fuzzing an input path: each drops, repeats or cuts one to three
/// lines, or replaces a value (everything after a line's first ": ") with an odd one. The same
/// seed gives the same mutations on every machine, so a failure can be replayed.
public enum TextMutations {
    /// Values that are wrong in some field of every kind this project reads.
    public static let oddValues = ["-1", "0", "1e9", "\"\"", "null", "[]", "{}", "x", "25h", "-5m", "2026-02-30", "999999999999999999999",
                                   "1.5", "\"0 0 * * *\"", "\"* * *\""]

    public static func of(_ text: String, seed: UInt64, count: Int, values: [String] = oddValues) -> [String] {
        var random = SplitMix(seed: seed)
        return (0..<count).map { _ in
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<(1 + random.next(3)) {
                let i = random.next(lines.count)
                switch random.next(4) {
                case 0: lines.remove(at: i)
                case 1: lines.insert(lines[i], at: i)
                case 2: lines[i] = String(lines[i].prefix(random.next(lines[i].count + 1)))
                default:
                    if let colon = lines[i].range(of: ": ") { lines[i] = String(lines[i][..<colon.upperBound]) + values[random.next(values.count)] }
                }
                if lines.isEmpty { lines = [""] }
            }
            return lines.joined(separator: "\n")
        }
    }
}
