import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Function URLs: each function with a URL config gets an HTTP listener of its own on loopback
/// (`http://127.0.0.1:PORT/`, where Lambda has `https://ID.lambda-url.REGION.on.aws/`). A request
/// becomes the payload-format-2.0 event Lambda sends; the function's answer becomes the HTTP
/// response (`{"statusCode":…,"headers":…,"body":…}`, or any other JSON as a 200 JSON body),
/// buffered or streamed as it is produced (`RESPONSE_STREAM`).
final class FunctionURLs: Sendable {
    private let listeners = NIOLockedValueBox<[String: any Channel]>([:])

    /// Starts the listener of `name` on `port` (0: the kernel picks; a saved port is tried first).
    /// Returns the port it listens on.
    func start(_ name: String, port: Int, host: String, lambda: LocalLambda) async throws -> Int {
        stop(name)
        let bind = { (port: Int) in
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(FunctionURLHandler(name: name, lambda: lambda))
                    }
                }
                .bind(host: host, port: port).get()
        }
        let channel: any Channel
        do {
            channel = try await bind(port)
        } catch where port != 0 {
            channel = try await bind(0)
        }
        listeners.withLockedValue { $0[name] = channel }
        return channel.localAddress?.port ?? 0
    }

    func stop(_ name: String) {
        listeners.withLockedValue { $0.removeValue(forKey: name) }?.close(promise: nil)
    }

    func stopAll() {
        listeners.withLockedValue { listeners in
            defer { listeners = [:] }
            return Array(listeners.values)
        }.forEach { $0.close(promise: nil) }
    }
}

/// One request to a Function URL.
final class FunctionURLHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private let lambda: LocalLambda
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(name: String, lambda: LocalLambda) {
        self.name = name
        self.lambda = lambda
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            self.head = head
            body.clear()
        case var .body(chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            handle(head, body: body, context: context)
        }
    }

    private func handle(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        guard let function = lambda.store[name], let url = function.url else {
            return respond(context: context, status: .notFound, headers: [("Content-Type", "application/json")], body: ByteBuffer(string: #"{"Message":null}"#))
        }
        // AWS_IAM wants a SigV4-signed request; the local Lambda holds no credentials to check
        // the signature against, so any signed request passes and an unsigned one does not.
        if url.authType == "AWS_IAM", !(head.headers.first(name: "Authorization")?.hasPrefix("AWS4-HMAC-SHA256") ?? false) {
            return respond(context: context, status: .forbidden, headers: [("Content-Type", "application/json")], body: ByteBuffer(string: #"{"Message":"Forbidden"}"#))
        }
        let event = Self.event(head, body: body, port: context.localAddress?.port ?? 0, account: lambda.settings.account)
        let invocation: Invocation
        do {
            invocation = try lambda.start(function, payload: event)
        } catch {
            return respond(context: context, status: .tooManyRequests, headers: [("Content-Type", "application/json")], body: ByteBuffer(string: #"{"Message":"Rate Exceeded."}"#))
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let streaming = url.invokeMode == "RESPONSE_STREAM"
        Task {
            if streaming {
                var started = false
                for await event in invocation.events {
                    switch event {
                    case let .chunk(bytes):
                        let first = !started
                        started = true
                        loop.execute {
                            let (handler, context) = bound.value
                            if first { handler.writeHead(context: context, status: .ok, headers: [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]) }
                            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
                        }
                    case let .end(ending):
                        let failed = { if case .functionError = ending { true } else { false } }()
                        let wasStarted = started
                        loop.execute {
                            let (handler, context) = bound.value
                            if !wasStarted {
                                if failed { return handler.respond(context: context, status: .badGateway, headers: [("Content-Type", "text/plain")], body: ByteBuffer(string: "Internal Server Error")) }
                                handler.writeHead(context: context, status: .ok, headers: [("Content-Type", "application/octet-stream"), ("Content-Length", "0")])
                            }
                            context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                        }
                    }
                }
            } else {
                var output = ByteBuffer()
                var failed = false
                for await event in invocation.events {
                    switch event {
                    case var .chunk(bytes): output.writeBuffer(&bytes)
                    case let .end(ending): if case .functionError = ending { failed = true }
                    }
                }
                let (status, headers, body) = failed
                    ? (HTTPResponseStatus.badGateway, [("Content-Type", "text/plain")], ByteBuffer(string: "Internal Server Error"))
                    : Self.response(output)
                loop.execute {
                    let (handler, context) = bound.value
                    handler.respond(context: context, status: status, headers: headers, body: body)
                }
            }
        }
    }

    private func writeHead(context: ChannelHandlerContext, status: HTTPResponseStatus, headers: [(String, String)]) {
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers)))), promise: nil)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, headers: [(String, String)], body: ByteBuffer) {
        var all = headers
        all.append(("Content-Length", String(body.readableBytes)))
        writeHead(context: context, status: status, headers: all)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The request as Lambda's payload format 2.0.
    static func event(_ head: HTTPRequestHead, body: ByteBuffer, port: Int, account: String) -> ByteBuffer {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        let query = parts.count > 1 ? String(parts[1]) : ""
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = headers[name.lowercased()].map { "\($0),\(value)" } ?? value }
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let item = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if let key = item.first { parameters[key] = item.count > 1 ? item[1] : "" }
        }
        let bytes = Data(body.readableBytesView)
        let text = String(data: bytes, encoding: .utf8)
        var event: [String: Any] = [
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": [
                "accountId": "anonymous",
                "apiId": "local",
                "domainName": "127.0.0.1:\(port)",
                "domainPrefix": "127",
                "http": ["method": head.method.rawValue, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers["user-agent"] ?? ""],
                "requestId": UUID().uuidString.lowercased(),
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": Int(Date().timeIntervalSince1970 * 1000),
            ] as [String: Any],
            "isBase64Encoded": text == nil,
        ]
        if !parameters.isEmpty { event["queryStringParameters"] = parameters }
        if !bytes.isEmpty { event["body"] = text ?? bytes.base64EncodedString() }
        return ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
    }

    /// The function's answer as HTTP: an object with `statusCode` says it all; anything else is
    /// a 200 JSON body.
    static func response(_ output: ByteBuffer) -> (HTTPResponseStatus, [(String, String)], ByteBuffer) {
        let data = Data(output.readableBytesView)
        if let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let status = object["statusCode"] as? Int {
            var headers = ((object["headers"] as? [String: Any]) ?? [:]).map { ($0.key, "\($0.value)") }
            var body = Data()
            if let text = object["body"] as? String {
                body = (object["isBase64Encoded"] as? Bool == true) ? Data(base64Encoded: text) ?? Data() : Data(text.utf8)
            }
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
            return (HTTPResponseStatus(statusCode: status), headers, ByteBuffer(bytes: body))
        }
        return (.ok, [("Content-Type", "application/json")], output)
    }
}
