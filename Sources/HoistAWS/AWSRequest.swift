import NIOHTTP1

/// One request to an AWS service, before signing: any method, path, query, headers and body.
///
/// ```swift
/// let list = AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/", query: [("MaxItems", "50")])
/// let caller = AWSRequest.query(service: .sts, action: "GetCallerIdentity")
/// ```
public struct AWSRequest: Sendable {
    public var service: AWSService
    public var method: HTTPMethod
    /// The path, not percent-encoded: `/2015-03-31/functions/my function` (the client encodes it).
    public var path: String
    /// Query parameters, not encoded.
    public var query: [(String, String)]
    /// Extra headers (`Content-Type`, `X-Amz-Invocation-Type`…); all are signed.
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// How long one attempt may take; `nil` for the client's default.
    public var timeout: Duration?
    /// A URL to send to instead of the service's endpoint (a Function URL), signed for the service.
    public var endpoint: String?

    public init(
        service: AWSService, method: HTTPMethod, path: String, query: [(String, String)] = [],
        headers: HTTPHeaders = [:], body: [UInt8] = [], timeout: Duration? = nil
    ) {
        self.service = service
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// A query-protocol call (IAM, STS): a form-encoded POST of `Action`, `Version` and the
    /// parameters; the answer is XML.
    public static func query(service: AWSService, action: String, parameters: [(String, String)] = []) -> AWSRequest {
        let fields = [("Action", action), ("Version", service.queryAPIVersion ?? "")] + parameters
        return AWSRequest(
            service: service, method: .POST, path: "/",
            headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"],
            body: Array(AWSPercentEncoding.formBody(fields).utf8)
        )
    }
}

/// A successful (2xx or 3xx) answer.
public struct AWSResponse: Sendable {
    public let statusCode: Int
    public let headers: HTTPHeaders
    public let body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The text of the first XML element `name` in the body (query-protocol answers).
    public func xmlValue(_ name: String) -> String? { AWSXML.value(name, in: text) }
}
