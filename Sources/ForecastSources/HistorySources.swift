import Forecasting
import Foundation
import HTTPTransport
import KubernetesClient
import KubernetesCore

/// A history source that could not deliver, naming the source and the reason.
public struct HistorySourceError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var problem: String
    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }
    public var description: String { "\(source): \(problem)" }
}

/// Load history from Prometheus's HTTP API (`/api/v1/query_range`), over the project's libcurl
/// transport, with an optional bearer token and TLS settings. A long range is fetched in windows
/// of at most 10,000 steps (Prometheus refuses more than 11,000 points per series).
public struct PrometheusSource: Sendable {
    public var baseURL: String
    public var bearerToken: String?
    public let http: HTTPClient
    public var maxPointsPerQuery = 10_000

    public init(url: String, bearerToken: String? = nil, tls: TLSConfiguration = TLSConfiguration()) {
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.bearerToken = bearerToken
        http = HTTPClient(tls: tls)
    }

    /// The values of `query` from `start` to `end` (seconds since 1970) every `step` seconds. The
    /// query must give exactly one series (aggregate it, e.g. `sum(rate(...))`).
    public func queryRange(_ query: String, start: Int64, end: Int64, step: Int64) async throws -> TimeSeries {
        guard step > 0, end >= start else { throw HistorySourceError(source: baseURL, problem: "invalid range \(start)…\(end) step \(step)") }
        var times: [Int64] = [], values: [Double] = []
        var windowStart = start
        while windowStart <= end {
            let windowEnd = min(end, windowStart + step * Int64(maxPointsPerQuery - 1))
            let part = try await fetch(query, start: windowStart, end: windowEnd, step: step)
            for (t, v) in zip(part.times, part.values) where times.last.map({ t > $0 }) ?? true {
                times.append(t)
                values.append(v)
            }
            windowStart = windowEnd + step
        }
        guard !times.isEmpty else { throw HistorySourceError(source: baseURL, problem: "query \(query) returned no samples between \(TimestampParser.format(start)) and \(TimestampParser.format(end))") }
        return TimeSeries(times: times, values: values)
    }

    private struct Response: Decodable {
        var status: String
        var error: String?
        var errorType: String?
        var data: DataPart?
        struct DataPart: Decodable { var resultType: String; var result: [Series] }
        struct Series: Decodable { var metric: [String: String]; var values: [[Sample]] }
        enum Sample: Decodable {
            case time(Double), value(String)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let d = try? c.decode(Double.self) { self = .time(d) } else { self = .value(try c.decode(String.self)) }
            }
        }
    }

    func fetch(_ query: String, start: Int64, end: Int64, step: Int64) async throws -> TimeSeries {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let q = query.addingPercentEncoding(withAllowedCharacters: allowed) ?? query
        let url = "\(baseURL)/api/v1/query_range?query=\(q)&start=\(start)&end=\(end)&step=\(step)"
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let bearerToken { headers.append(("Authorization", "Bearer \(bearerToken)")) }
        let response: HTTPResponse
        do { response = try await http.send(HTTPRequest(method: "GET", url: url, headers: headers, timeout: .seconds(60))) } catch {
            throw HistorySourceError(source: baseURL, problem: "\(error)")
        }
        let decoded: Response
        do { decoded = try JSONDecoder().decode(Response.self, from: response.body) } catch {
            throw HistorySourceError(source: baseURL, problem: "HTTP \(response.status), not a Prometheus API answer: \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        guard decoded.status == "success", let data = decoded.data else {
            throw HistorySourceError(source: baseURL, problem: "query \(query) failed (\(decoded.errorType ?? "HTTP \(response.status)")): \(decoded.error ?? "")")
        }
        guard data.resultType == "matrix" else { throw HistorySourceError(source: baseURL, problem: "expected a range vector, got \(data.resultType)") }
        if data.result.count > 1 {
            throw HistorySourceError(source: baseURL, problem: "query \(query) returned \(data.result.count) series; aggregate it to one (e.g. sum(...))")
        }
        var times: [Int64] = [], values: [Double] = []
        for pair in data.result.first?.values ?? [] {
            guard pair.count == 2, case .time(let t) = pair[0], case .value(let s) = pair[1] else {
                throw HistorySourceError(source: baseURL, problem: "malformed sample in the answer to \(query)")
            }
            times.append(Int64(t.rounded()))
            values.append(Double(s) ?? .nan)
        }
        return TimeSeries(times: times, values: values)
    }
}

/// Load history from a ConfigMap key holding CSV `timestamp,value` rows (for demos and air gaps).
public struct ConfigMapSource: Sendable {
    public let client: KubernetesClient
    public var namespace: String
    public var name: String

    public init(client: KubernetesClient, namespace: String, name: String) {
        self.client = client
        self.namespace = namespace
        self.name = name
    }

    public func series(key: String) async throws -> TimeSeries {
        let source = "configmap \(namespace)/\(name)"
        guard let cm = try await client.getIfExists(ConfigMap.self, namespace: namespace, name: name) else {
            throw HistorySourceError(source: source, problem: "not found")
        }
        return try Self.series(in: cm.data ?? [:], key: key, source: source)
    }

    /// The history under `key` of a ConfigMap's data, read as CSV; a missing key is named with the
    /// keys there are.
    public static func series(in data: [String: String], key: String, source: String) throws -> TimeSeries {
        guard let text = data[key] else {
            throw HistorySourceError(source: source, problem: "has no key \"\(key)\" (keys: \(data.keys.sorted().joined(separator: ", ")))")
        }
        return try CSVSeriesReader.read(text, source: "\(source) key \(key)")
    }
}
