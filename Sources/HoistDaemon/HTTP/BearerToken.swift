import Foundation
import HoistCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Checking a bearer token, and the 401 sent without one.
enum BearerToken {
    /// Whether the request's bearer token is `token`, compared in constant time.
    static func matches(_ request: Request, _ token: String) -> Bool {
        ConstantTime.equal(presented(request.headers[.authorization]), token)
    }

    /// The token in an `Authorization: Bearer …` value, or "" without one.
    static func presented(_ authorization: String?) -> String {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return "" }
        return String(authorization.dropFirst(7))
    }

    /// A 401 whose body says what is missing and nothing about the daemon's apps.
    static func unauthorized(_ message: String) -> Response {
        let body = (try? JSONEncoder().encode(CallFailure.Envelope(error: CallFailure(HoistError(.unauthorized, message))))) ?? Data()
        return Response(
            status: .unauthorized,
            headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
