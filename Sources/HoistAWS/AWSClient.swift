import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Sends signed requests to AWS services, turns error answers into ``AWSError`` and retries
/// throttling, 5xx and connection failures as the SDKs' standard mode does.
///
/// ```swift
/// let client = AWSClient(config: try AWSConfig.load(profile: "dev"))
/// let functions = try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/"))
/// let identity = try await client.send(.query(service: .sts, action: "GetCallerIdentity"))
/// print(identity.xmlValue("Arn") ?? "")
/// ```
public struct AWSClient: Sendable {
    public let region: String
    public let retryPolicy: AWSRetryPolicy
    /// `nil` sends unsigned requests (STS `AssumeRoleWithWebIdentity` needs no credentials).
    let credentials: (any AWSCredentialProvider)?
    let endpoints: AWSEndpoints
    let http: HTTPClient
    let now: @Sendable () -> Date
    /// Sees each request before it is sent (tests count what a deploy sends).
    package var observer: (@Sendable (AWSRequest) -> Void)?
    /// Answers larger than this fail rather than fill memory (Lambda's are at most 6 MB).
    static let maxResponseBytes = 64 << 20
    static let defaultTimeout: Duration = .seconds(60)

    public init(config: AWSConfig, http: HTTPClient = .shared, retryPolicy: AWSRetryPolicy = .standard) {
        self.init(credentials: config.credentials, region: config.region, endpoints: config.endpoints,
                  http: http, retryPolicy: retryPolicy, now: config.environment.now)
    }

    init(credentials: (any AWSCredentialProvider)?, region: String, endpoints: AWSEndpoints, http: HTTPClient = .shared,
         retryPolicy: AWSRetryPolicy = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        self.credentials = credentials
        self.region = region
        self.endpoints = endpoints
        self.http = http
        self.retryPolicy = retryPolicy
        self.now = now
    }

    /// The endpoint requests to `service` go to.
    public func endpoint(for service: AWSService) -> String { endpoints.endpoint(for: service, region: region) }

    /// Sends `request`, signed, retrying what the retry policy allows. Throws ``AWSError`` for
    /// an error answer, and the HTTP client's error when none arrived.
    public func send(_ request: AWSRequest) async throws -> AWSResponse {
        var attempt = 1
        while true {
            // Outside the retry: a credential provider has retries of its own, and a profile
            // error will not go away by asking again.
            let credentials = try await self.credentials?.credentials()
            do {
                return try await sendOnce(request, credentials: credentials)
            } catch {
                guard let delay = retryPolicy.delay(afterAttempt: attempt, error: error) else { throw error }
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// A copy of this client with another retry policy: `Invoke` uses ``AWSRetryPolicy/none``.
    public func with(retryPolicy: AWSRetryPolicy) -> AWSClient {
        var client = AWSClient(credentials: credentials, region: region, endpoints: endpoints, http: http, retryPolicy: retryPolicy, now: now)
        client.observer = observer
        return client
    }

    private func sendOnce(_ request: AWSRequest, credentials: AWSCredentials?) async throws -> AWSResponse {
        observer?(request)
        let http = try signed(request, credentials: credentials)
        let response = try await self.http.execute(http, timeout: .init(request.timeout ?? Self.defaultTimeout))
        var buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        let status = Int(response.status.code)
        guard (200..<400).contains(status) else {
            throw AWSError(statusCode: status, headers: response.headers, body: body, service: request.service.signingName)
        }
        return AWSResponse(statusCode: status, headers: response.headers, body: body)
    }

    /// The request as sent: the endpoint's URL, the encoded path and query, and the signature.
    private func signed(_ request: AWSRequest, credentials: AWSCredentials?) throws -> HTTPClientRequest {
        let base = request.endpoint ?? endpoint(for: request.service)
        guard let url = URL(string: base), let host = url.host, let scheme = url.scheme, scheme == "http" || scheme == "https" else {
            throw AWSError(code: "InvalidEndpoint", message: "the endpoint for \(request.service) is not an http(s) URL: \(base)",
                           statusCode: 0, service: request.service.signingName)
        }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        // The path as sent: each segment encoded once, under the endpoint's own path if it has one.
        var prefix = url.path
        if prefix.hasSuffix("/") { prefix.removeLast() }
        let wirePath = prefix + AWSPercentEncoding.encode(request.path.hasPrefix("/") ? request.path : "/" + request.path, keepingSlashes: true)
        let queryString = request.query.map { "\(AWSPercentEncoding.encode($0.0))=\(AWSPercentEncoding.encode($0.1))" }.joined(separator: "&")

        var headers = request.headers
        headers.replaceOrAdd(name: "Host", value: hostHeader)
        if let credentials {
            let signer = AWSSigner(credentials: credentials, region: request.service.signingRegion(region), service: request.service.signingName)
            let signature = signer.sign(
                method: request.method.rawValue, path: wirePath, query: request.query,
                headers: headers.map { ($0.name, $0.value) }, body: request.body, date: now()
            )
            for (name, value) in signature.headers { headers.replaceOrAdd(name: name, value: value) }
        }

        var http = HTTPClientRequest(url: "\(scheme)://\(hostHeader)\(wirePath)\(queryString.isEmpty ? "" : "?" + queryString)")
        http.method = request.method
        http.headers = headers
        if !request.body.isEmpty || [.POST, .PUT, .PATCH].contains(request.method) {
            http.body = .bytes(ByteBuffer(bytes: request.body))
        }
        return http
    }

    /// Sends `request` once, signed, and hands back the answer with its body still to be read,
    /// for answers that stream (`InvokeWithResponseStream`). An error answer is read whole and
    /// thrown as ``AWSError``. Never retried: part of a stream may already have been consumed.
    func open(_ request: AWSRequest) async throws -> HTTPClientResponse {
        observer?(request)
        let credentials = try await self.credentials?.credentials()
        let response = try await self.http.execute(try signed(request, credentials: credentials), timeout: .init(request.timeout ?? Self.defaultTimeout))
        let status = Int(response.status.code)
        guard (200..<400).contains(status) else {
            var buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            throw AWSError(statusCode: status, headers: response.headers, body: buffer.readBytes(length: buffer.readableBytes) ?? [], service: request.service.signingName)
        }
        return response
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
