import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A request the stand-in server received.
struct RecordedRequest: Sendable {
    var method: String
    var uri: String
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first(name: name) }
    /// The form fields of a query-protocol body.
    var form: [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            fields[parts[0].removingPercentEncoding ?? parts[0]] = parts.count > 1 ? (parts[1].removingPercentEncoding ?? parts[1]) : ""
        }
        return fields
    }
}

/// What the stand-in answers.
struct StubResponse: Sendable {
    var status: Int = 200
    var headers: [(String, String)] = []
    var body: String = ""
}

/// An HTTP/1.1 server on 127.0.0.1 and a free port that answers every request with `respond`
/// and records it: STS, the container agent, IMDS or an AWS service, as a test needs.
final class LocalHTTPServer: Sendable {
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
    private let channel: any Channel
    private let recorded: Mutex<[RecordedRequest]>

    var requests: [RecordedRequest] { recorded.withLock { $0 } }

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.recorded = Mutex([])
    }

    static func start(_ respond: @escaping @Sendable (RecordedRequest) -> StubResponse) async throws -> LocalHTTPServer {
        let box = Box()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StubHandler(respond: respond, record: { request in box.server?.recorded.withLock { $0.append(request) } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = LocalHTTPServer(channel: channel)
        box.server = server
        return server
    }

    func stop() async {
        try? await channel.close()
    }

    /// Lets the handlers reach the server made after the bind.
    private final class Box: @unchecked Sendable {
        private let lock = Mutex<LocalHTTPServer?>(nil)
        var server: LocalHTTPServer? {
            get { lock.withLock { $0 } }
            set { lock.withLock { $0 = newValue } }
        }
    }
}

private final class StubHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let respond: @Sendable (RecordedRequest) -> StubResponse
    let record: @Sendable (RecordedRequest) -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(respond: @escaping @Sendable (RecordedRequest) -> StubResponse, record: @escaping @Sendable (RecordedRequest) -> Void) {
        self.respond = respond
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let request = RecordedRequest(method: head.method.rawValue, uri: head.uri, headers: head.headers, body: body)
            record(request)
            let answer = respond(request)
            var headers = HTTPHeaders(answer.headers)
            headers.replaceOrAdd(name: "Content-Length", value: String(answer.body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: answer.status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
