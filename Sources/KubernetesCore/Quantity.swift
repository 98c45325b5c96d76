import Foundation

/// Kubernetes resource quantities (`250m`, `2`, `512Mi`, `1G`, `1e3`).
public enum Quantity {
    /// CPU in millicores.
    public static func millis(_ s: String?) -> Int? {
        guard let s, !s.isEmpty else { return nil }
        if s.hasSuffix("m") { return Int(s.dropLast()) }
        return Double(s).map { Int(($0 * 1000).rounded()) }
    }

    /// Bytes.
    public static func bytes(_ s: String?) -> Int64? {
        guard let s, !s.isEmpty else { return nil }
        let suffixes: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("Pi", 1_125_899_906_842_624),
                                            ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("m", 1e-3)]
        for (suffix, factor) in suffixes where s.hasSuffix(suffix) {
            return Double(s.dropLast(suffix.count)).map { Int64(($0 * factor).rounded()) }
        }
        return Double(s).map { Int64($0.rounded()) }
    }
}
