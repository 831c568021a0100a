import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error of the Lambda API as AWS shapes it: the code in `X-Amzn-ErrorType` (where boto3 and
/// the AWS CLI read it), `{"Type":"User","message":…}` as the body.
struct LambdaAPIError: Error, Sendable, CustomStringConvertible {
    var code: String
    var status: HTTPResponse.Status
    var message: String
    /// `TooManyRequestsException`'s `Reason`.
    var reason: String?
    var type = "User"

    var description: String { message }

    static func notFound(_ arn: String) -> Self {
        Self(code: "ResourceNotFoundException", status: .notFound, message: "Function not found: \(arn)")
    }
    static func invalidParameter(_ message: String) -> Self {
        Self(code: "InvalidParameterValueException", status: .badRequest, message: message)
    }
    static func conflict(_ message: String) -> Self {
        Self(code: "ResourceConflictException", status: .conflict, message: message)
    }
    static func invalidContent(_ message: String) -> Self {
        Self(code: "InvalidRequestContentException", status: .badRequest, message: message)
    }
    static func tooLarge(_ message: String) -> Self {
        Self(code: "RequestTooLargeException", status: .contentTooLarge, message: message)
    }
    static func throttled(_ reason: String) -> Self {
        Self(code: "TooManyRequestsException", status: .tooManyRequests, message: "Rate Exceeded.", reason: reason)
    }
    static func service(_ message: String) -> Self {
        Self(code: "ServiceException", status: .internalServerError, message: message, type: "Service")
    }

    var response: Response {
        var body: [String: String] = ["Type": type, "message": message]
        if let reason { body["Reason"] = reason }
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[HTTPField.Name("X-Amzn-ErrorType")!] = code
        headers[HTTPField.Name("X-Amzn-RequestId")!] = UUID().uuidString.lowercased()
        if status == .tooManyRequests { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
