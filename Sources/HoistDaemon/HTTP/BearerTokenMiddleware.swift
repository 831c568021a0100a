import Foundation
import HoistCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Lets a request through only when it carries the daemon's token (`Authorization: Bearer …`).
///
/// Installed in front of every route when the daemon listens beyond loopback, serves TLS or is
/// started with `HOIST_REQUIRE_TOKEN`; otherwise only the control routes check the token.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard BearerToken.matches(request, token) else {
            return BearerToken.unauthorized(
                "this daemon needs its token on every request (Authorization: Bearer …, from \(HoistHome.controlTokenFileName) in the daemon's home)"
            )
        }
        return try await next(request, context)
    }
}

/// Checking a bearer token, and the 401 sent without one.
enum BearerToken {
    /// Whether the request's bearer token is `token`, compared in constant time.
    static func matches(_ request: Request, _ token: String) -> Bool {
        let presented = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
        } ?? ""
        return ConstantTime.equal(presented, token)
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
