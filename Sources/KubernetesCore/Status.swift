import Foundation

/// `metav1.Status`: what the API server says when a request fails (and in watch ERROR events).
public struct Status: Codable, Sendable, Equatable {
    public var status: String?
    public var message: String?
    public var reason: String?
    public var code: Int?
    public var details: StatusDetails?

    public init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil, details: StatusDetails? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
        self.details = details
    }
}

public struct StatusDetails: Codable, Sendable, Equatable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int?
}

public struct StatusCause: Codable, Sendable, Equatable {
    public var reason: String?
    public var message: String?
    public var field: String?
}

/// A request the API server answered with an error status. Carries the server's `Status`, and
/// `Retry-After` when the server sent one (429).
public struct APIError: Error, Sendable, CustomStringConvertible, Equatable {
    public var method: String
    public var path: String
    public var statusCode: Int
    public var status: Status
    public var retryAfter: Duration?

    public init(method: String, path: String, statusCode: Int, status: Status, retryAfter: Duration? = nil) {
        self.method = method
        self.path = path
        self.statusCode = statusCode
        self.status = status
        self.retryAfter = retryAfter
    }

    /// Builds the error from a raw response body, which is a `Status` on every real server, and
    /// falls back to the text when it is not.
    public static func from(method: String, path: String, statusCode: Int, body: Data, retryAfterHeader: String?) -> APIError {
        let status = (try? JSONDecoder().decode(Status.self, from: body))
            ?? Status(status: "Failure", message: String(decoding: body.prefix(512), as: UTF8.self), reason: nil, code: statusCode)
        let retry = retryAfterHeader.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { Duration.seconds($0) }
            ?? status.details?.retryAfterSeconds.map { Duration.seconds($0) }
        return APIError(method: method, path: path, statusCode: statusCode, status: status, retryAfter: retry)
    }

    public var reason: String? { status.reason }
    public var isNotFound: Bool { statusCode == 404 }
    public var isConflict: Bool { statusCode == 409 }
    public var isAlreadyExists: Bool { statusCode == 409 && status.reason == "AlreadyExists" }
    public var isGone: Bool { statusCode == 410 || status.reason == "Expired" || status.reason == "Gone" }
    public var isTooManyRequests: Bool { statusCode == 429 }
    public var isForbidden: Bool { statusCode == 403 }
    public var isInvalid: Bool { statusCode == 422 }
    /// True when a cause names `NamespaceTerminating` (an eviction in a namespace being deleted).
    public var isNamespaceTerminating: Bool { status.details?.causes?.contains(where: { $0.reason == "NamespaceTerminating" }) ?? false }

    public var description: String {
        "\(method) \(path): \(statusCode) \(status.reason ?? "")\(status.message.map { ": \($0)" } ?? "")"
    }
}
