import Foundation

/// When a failed API request is sent again, and after how long. Pure, so every rule is unit-tested.
///
/// - **429 Too Many Requests with a Retry-After** (API Priority and Fairness, max-in-flight): the
///   server did not process the request, so any verb is retried after the time it asked for
///   (at most `maximumDelay`). A 429 *without* one is an answer for the caller: an eviction
///   refused by a PodDisruptionBudget is one, and the drain must see it to say which budget blocks.
/// - **5xx on an idempotent request** (GET, HEAD, PUT, DELETE, and PATCH by merge, strategic merge
///   or apply): retried with exponential backoff (0.25 s doubling), or after the server's
///   Retry-After. POST and JSON patches are never retried: their effect may already have happened.
/// - At most `maximumAttempts` sends in all.
public struct RetryPolicy: Sendable, Equatable {
    public var maximumAttempts: Int
    public var baseDelay: Double
    public var maximumDelay: Double

    public init(maximumAttempts: Int = 5, baseDelay: Double = 0.25, maximumDelay: Double = 10) {
        self.maximumAttempts = maximumAttempts
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// No retries at all (callers that handle every answer themselves).
    public static let never = RetryPolicy(maximumAttempts: 1)

    /// Whether a request can be sent twice with the same effect as once.
    public static func isIdempotent(method: String, contentType: String?) -> Bool {
        switch method {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS": return true
        case "PATCH": return contentType != "application/json-patch+json"
        default: return false
        }
    }

    /// The delay before sending again after `attempt` (1 for the first send) got `statusCode`,
    /// or nil when the answer stands.
    public func delay(afterAttempt attempt: Int, method: String, contentType: String?, statusCode: Int, retryAfterSeconds: Double?) -> Double? {
        guard attempt < maximumAttempts else { return nil }
        if statusCode == 429 {
            guard let after = retryAfterSeconds, after > 0 else { return nil }
            return min(after, maximumDelay)
        }
        if (500...599).contains(statusCode) && statusCode != 501 && Self.isIdempotent(method: method, contentType: contentType) {
            if let after = retryAfterSeconds, after > 0 { return min(after, maximumDelay) }
            return min(baseDelay * pow(2, Double(attempt - 1)), maximumDelay)
        }
        return nil
    }
}
