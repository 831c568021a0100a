import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error of a JSON 1.1 service (CloudWatch Logs) as AWS shapes it: status 400 and
/// `{"__type":"ResourceNotFoundException","message":"…"}`, where boto3 and the AWS CLI read it.
struct LogsAPIError: Error, Sendable {
    var code: String
    var message: String
    var status: HTTPResponse.Status = .badRequest

    static func notFound(_ group: String) -> Self {
        Self(code: "ResourceNotFoundException", message: "The specified log group does not exist: \(group)")
    }
    static func invalidParameter(_ message: String) -> Self { Self(code: "InvalidParameterException", message: message) }

    var response: Response {
        let data = (try? JSONEncoder().encode(["__type": code, "message": message])) ?? Data()
        return Self.response(data, status: status)
    }

    /// A JSON 1.1 answer, error or not.
    static func response(_ body: Data, status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [.contentType: "application/x-amz-json-1.1"]
        headers[HTTPField.Name("X-Amzn-RequestId")!] = UUID().uuidString.lowercased()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
