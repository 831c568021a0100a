import Foundation
import NIOHTTP1

/// An error AWS answered with: the service's error code, its message and the request id to
/// quote to AWS support.
///
/// ```swift
/// do { _ = try await client.send(request) }
/// catch let error as AWSError where error.code == "ResourceNotFoundException" { … }
/// catch let error as AWSError where error.isThrottling { … }   // still throttled after the retries
/// ```
public struct AWSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// AWS's error code: `ResourceNotFoundException`, `SignatureDoesNotMatch`, `Throttling`…;
    /// the HTTP status as text when the answer carried none.
    public let code: String
    public let message: String
    public let requestID: String?
    /// The HTTP status; 0 when no answer arrived.
    public let statusCode: Int
    /// The service's signing name (`lambda`, `sts`, …).
    public let service: String

    public init(code: String, message: String, requestID: String? = nil, statusCode: Int, service: String) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.statusCode = statusCode
        self.service = service
    }

    /// Whether AWS asked the caller to slow down (a throttling code, or HTTP 429).
    public var isThrottling: Bool { AWSRetryPolicy.throttlingCodes.contains(code) || statusCode == 429 }

    public var description: String {
        var text = "\(service) answered \(code)"
        if statusCode > 0 { text += " (HTTP \(statusCode))" }
        if !message.isEmpty { text += ": \(message)" }
        if let requestID { text += " [request id \(requestID)]" }
        if Self.credentialCodes.contains(code) {
            text += "; the credentials were refused: they are wrong or expired. Check which ones are in use (AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws/credentials) and refresh them (new keys, or `aws sso login` / `aws configure` for the profile)"
        }
        return text
    }

    /// Codes AWS answers for credentials it does not take: unknown keys, a bad secret, an
    /// expired session.
    static let credentialCodes: Set<String> = [
        "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
        "SignatureDoesNotMatch", "InvalidSignatureException", "InvalidAccessKeyId", "RequestExpired", "AuthFailure",
    ]

    /// Reads an error answer in any of AWS's shapes: JSON (`__type`, `code`, `message`/`Message`,
    /// with the code in `X-Amzn-ErrorType` for REST-JSON services), the query protocol's XML
    /// (`<ErrorResponse><Error><Code>…</Code><Message>…</Message></Error><RequestId>…`) and S3's
    /// `<Error><Code>…</Code>…<RequestId>…</Error>`.
    init(statusCode: Int, headers: HTTPHeaders, body: [UInt8], service: String) {
        var code: String?
        var message: String?
        var requestID = headers.first(name: "x-amzn-requestid") ?? headers.first(name: "x-amz-request-id")

        let text = String(decoding: body, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            code = (object["__type"] as? String) ?? (object["code"] as? String) ?? (object["Code"] as? String)
            message = (object["message"] as? String) ?? (object["Message"] as? String) ?? (object["errorMessage"] as? String)
        } else if trimmed.hasPrefix("<") {
            // The <Error> element first: the <RequestId> of ErrorResponse sits outside it.
            let error = AWSXML.element("Error", in: trimmed) ?? trimmed
            code = AWSXML.value("Code", in: error)
            message = AWSXML.value("Message", in: error)
            requestID = AWSXML.value("RequestId", in: trimmed) ?? AWSXML.value("RequestID", in: trimmed) ?? requestID
        }
        // The header wins for REST-JSON services; it may carry `:http://internal.amazon.com/…`.
        if let header = headers.first(name: "x-amzn-errortype"), !header.isEmpty {
            code = String(header.split(separator: ":", maxSplits: 1).first ?? Substring(header))
        }
        // `__type` may be namespaced: `com.amazonaws.lambda#ResourceNotFoundException`.
        if let full = code, let hash = full.lastIndex(of: "#") { code = String(full[full.index(after: hash)...]) }

        let status = HTTPResponseStatus(statusCode: statusCode)
        self.init(
            code: code.flatMap { $0.isEmpty ? nil : $0 } ?? "\(statusCode)",
            message: message ?? (trimmed.isEmpty || code != nil ? status.reasonPhrase : String(trimmed.prefix(200))),
            requestID: requestID,
            statusCode: statusCode,
            service: service
        )
    }
}
