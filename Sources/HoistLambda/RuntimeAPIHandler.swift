import Foundation
import NIOCore
import NIOHTTP1

/// The Lambda Runtime API of one environment (`/2018-06-01/runtime/…`), on a listener of its
/// own: `/next` waits for the environment's invocation; `/response` (buffered, or streamed with
/// `Lambda-Runtime-Function-Response-Mode: streaming` and error trailers), `/error` and
/// `/init/error` end it.
final class RuntimeAPIHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The largest answer Lambda takes from a function (6 MB).
    static let responseLimit = 6_291_556

    private enum Route {
        case next
        case response(Invocation, streaming: Bool)
        case error(Invocation, type: String)
        case initError(type: String)
        case unknownRequest(String)
        case notFound
    }

    private let environment: LambdaEnvironment
    private var route: Route = .notFound
    private var body = ByteBuffer()
    private var head: HTTPRequestHead?
    private var tooLarge = false

    init(environment: LambdaEnvironment) {
        self.environment = environment
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            self.head = head
            body.clear()
            tooLarge = false
            route = resolve(head)
            if case let .response(invocation, true) = route {
                _ = invocation
            }
        case var .body(chunk):
            if case let .response(invocation, true) = route {
                invocation.yield(chunk)
            } else if body.readableBytes + chunk.readableBytes > Self.responseLimit {
                tooLarge = true
            } else if !tooLarge {
                body.writeBuffer(&chunk)
            }
        case let .end(trailers):
            finish(context: context, trailers: trailers)
        }
    }

    private func resolve(_ head: HTTPRequestHead) -> Route {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let prefix = "/2018-06-01/runtime/"
        guard path.hasPrefix(prefix) else { return .notFound }
        let parts = path.dropFirst(prefix.count).split(separator: "/").map(String.init)
        switch (head.method, parts.count, parts.first, parts.last) {
        case (.GET, 2, "invocation", "next"): return .next
        case (.POST, 2, "init", "error"): return .initError(type: head.headers.first(name: "Lambda-Runtime-Function-Error-Type") ?? "Runtime.Unknown")
        case (.POST, 3, "invocation", "response"), (.POST, 3, "invocation", "error"):
            guard let invocation = environment.invocation(parts[1]) else { return .unknownRequest(parts[1]) }
            if parts[2] == "error" {
                return .error(invocation, type: head.headers.first(name: "Lambda-Runtime-Function-Error-Type") ?? "Unhandled")
            }
            let streaming = head.headers.first(name: "Lambda-Runtime-Function-Response-Mode")?.lowercased() == "streaming"
            return .response(invocation, streaming: streaming)
        default: return .notFound
        }
    }

    private func finish(context: ChannelHandlerContext, trailers: HTTPHeaders?) {
        switch route {
        case .next:
            let eventLoop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: eventLoop)
            environment.next { invocation in
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.deliver(invocation, context: context)
                }
            }
        case let .response(invocation, streaming):
            if streaming {
                let type = trailers?.first(name: "Lambda-Runtime-Function-Error-Type")
                if let type {
                    // The error body is base64 in the trailer; a runtime that sends something
                    // else (a placeholder) still gets its error type through.
                    let text = trailers?.first(name: "Lambda-Runtime-Function-Error-Body") ?? ""
                    let body = Data(base64Encoded: text).map { ByteBuffer(bytes: $0) } ?? Invocation.errorDocument(type: type, message: text)
                    environment.complete(invocation, .functionError(type: type, body: body))
                } else {
                    environment.complete(invocation, .success)
                }
            } else if tooLarge {
                let message = "Response payload size exceeded maximum allowed payload size (\(Self.responseLimit) bytes)."
                environment.complete(invocation, .functionError(type: "Function.ResponseSizeTooLarge", body: Invocation.errorDocument(type: "Function.ResponseSizeTooLarge", message: message)))
                respond(context: context, status: .payloadTooLarge, json: #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#)
                return
            } else {
                invocation.yield(body)
                environment.complete(invocation, .success)
            }
            respond(context: context, status: .accepted, json: #"{"status":"OK"}"#)
        case let .error(invocation, type):
            environment.complete(invocation, .functionError(type: type, body: body))
            respond(context: context, status: .accepted, json: #"{"status":"OK"}"#)
        case let .initError(type):
            environment.initFailed(type: type, body: body)
            respond(context: context, status: .accepted, json: #"{"status":"OK"}"#)
        case let .unknownRequest(id):
            respond(context: context, status: .badRequest, json: #"{"errorMessage":"Invalid request ID: \#(id)","errorType":"InvalidRequestID"}"#)
        case .notFound:
            respond(context: context, status: .notFound, json: #"{"errorMessage":"Unknown Runtime API route","errorType":"NotFound"}"#)
        }
    }

    /// The answer to `/next`: the event, and the invocation's request id, deadline, ARN and trace.
    private func deliver(_ invocation: Invocation, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(invocation.payload.readableBytes))
        headers.add(name: "Lambda-Runtime-Aws-Request-Id", value: invocation.requestID)
        headers.add(name: "Lambda-Runtime-Deadline-Ms", value: String(invocation.deadlineMs))
        headers.add(name: "Lambda-Runtime-Invoked-Function-Arn", value: environment.function.arn(region: environment.settings.region, account: environment.settings.account))
        headers.add(name: "Lambda-Runtime-Trace-Id", value: "Root=1-\(String(Int(Date().timeIntervalSince1970), radix: 16))-\(invocation.requestID.replacingOccurrences(of: "-", with: "").prefix(24));Parent=\(invocation.requestID.replacingOccurrences(of: "-", with: "").suffix(16));Sampled=0")
        // The runtime gets the client context decoded, as JSON (Python parses it).
        if let context = invocation.clientContext, let decoded = Data(base64Encoded: context), !decoded.isEmpty {
            headers.add(name: "Lambda-Runtime-Client-Context", value: String(decoding: decoded, as: UTF8.self))
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(invocation.payload))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, json: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: json)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
