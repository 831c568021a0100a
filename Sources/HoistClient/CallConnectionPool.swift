import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// Keep-alive HTTP/1.1 connections to one daemon, for calls: the hot path.
///
/// Each request is written as one flush (head, body and end together) and its response is
/// read part by part, so output records stream as they arrive. A general HTTP client costs
/// several times more per call on loopback; the control routes still use one.
final class CallConnectionPool: Sendable {
    private let host: String
    private let port: Int
    /// Set for a daemon reached over its Unix socket: then `host` and `port` are unused.
    private let socketPath: String?
    private let hostHeader: String
    private let idle = NIOLockedValueBox<[any Channel]>([])
    private let maximumIdle: Int
    /// Set for a daemon that serves TLS: the pinned certificate and a context that trusts only it.
    private let tls: (pin: PinnedCertificate, context: NIOSSLContext)?

    init(host: String, port: Int, pin: PinnedCertificate? = nil, maximumIdle: Int = 64) throws {
        self.host = host
        self.port = port
        self.socketPath = nil
        self.hostHeader = "\(host):\(port)"
        self.maximumIdle = maximumIdle
        self.tls = try pin.map { ($0, try NIOSSLContext(configuration: $0.tlsConfiguration)) }
    }

    /// A pool for the daemon listening on the Unix socket at `socketPath`.
    init(socketPath: String, maximumIdle: Int = 64) {
        self.host = "localhost"
        self.port = 0
        self.socketPath = socketPath
        self.hostHeader = "localhost"
        self.maximumIdle = maximumIdle
        self.tls = nil
    }

    private var url: String { socketPath.map { "the socket \($0)" } ?? "\(tls == nil ? "http" : "https")://\(hostHeader)" }

    struct Response {
        var status: HTTPResponseStatus
        /// The `Content-Type`, which says whether the body is call-stream records.
        var contentType: String?
        var body: AsyncThrowingStream<ByteBuffer, any Error>
        /// Hands the connection back once the body has been read to its end.
        let finish: @Sendable () -> Void
    }

    /// Sends a request and returns as soon as the response head arrives. `authorization` is the
    /// `Authorization` header's value, kept apart so that it costs no copy of `headers`.
    func send(path: String, headers: [(String, String)], body: ByteBuffer, authorization: String? = nil) async throws -> Response {
        // No retry on another connection: a call that reached the daemon must not run twice.
        let channel: any Channel
        if let idle = takeIdle() {
            channel = idle
        } else {
            channel = try await connect()
        }
        return try await send(on: channel, path: path, headers: headers, body: body, authorization: authorization)
    }

    private func send(on channel: any Channel, path: String, headers: [(String, String)], body: ByteBuffer, authorization: String?) async throws -> Response {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
        let head = try await withCheckedThrowingContinuation { (headContinuation: CheckedContinuation<HTTPResponseHead, any Error>) in
            let exchange = Exchange(head: headContinuation, body: continuation)
            channel.eventLoop.execute {
                // A pooled connection can close (a daemon restart, a dropped tunnel) between
                // being taken and being used: then nothing was sent, and the caller must hear so.
                let closed = HoistError(.daemonUnavailable, "the connection to the daemon closed before the request was sent")
                guard channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self) else {
                    exchange.fail(closed)
                    return
                }
                handler.begin(exchange)
                var requestHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
                requestHead.headers.reserveCapacity(headers.count + 3)
                requestHead.headers.add(name: "Host", value: self.hostHeader)
                requestHead.headers.add(name: "Content-Length", value: String(body.readableBytes))
                if let authorization { requestHead.headers.add(name: "Authorization", value: authorization) }
                for (name, value) in headers { requestHead.headers.add(name: name, value: value) }
                channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
                if body.readableBytes > 0 {
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
                }
                let written = channel.eventLoop.makePromise(of: Void.self)
                let boundHandler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                written.futureResult.whenFailure { error in
                    boundHandler.value.abandon(exchange, because: HoistError(.daemonUnavailable, "the request could not be sent to the daemon (\(error))"))
                }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: written)
            }
        }
        let keepAlive = head.isKeepAlive
        return Response(status: head.status, contentType: head.headers.first(name: "Content-Type"), body: stream) { [self] in
            // Only a connection whose response was read to its end can carry the next request;
            // one abandoned mid-response (a cancelled caller) is closed.
            channel.eventLoop.execute {
                let idle = (try? channel.pipeline.syncOperations.handler(type: ExchangeHandler.self))?.isIdle ?? false
                if keepAlive, idle, channel.isActive {
                    self.giveBack(channel)
                } else {
                    channel.close(promise: nil)
                }
            }
        }
    }

    /// An idle connection that is still open; ones the daemon closed (a restart) are dropped.
    private func takeIdle() -> (any Channel)? {
        while let channel = idle.withLockedValue({ $0.popLast() }) {
            if channel.isActive { return channel }
            channel.close(promise: nil)
        }
        return nil
    }

    private static let pools = NIOLockedValueBox<[String: CallConnectionPool]>([:])

    /// The pool for a daemon, shared by every client of it in this process; one per pinned
    /// certificate for a daemon that serves TLS.
    static func shared(socketPath: String) -> CallConnectionPool {
        pools.withLockedValue { pools in
            let key = "unix:" + socketPath
            if let pool = pools[key] { return pool }
            let pool = CallConnectionPool(socketPath: socketPath)
            pools[key] = pool
            return pool
        }
    }

    static func shared(host: String, port: Int, pin: PinnedCertificate? = nil) throws -> CallConnectionPool {
        try pools.withLockedValue { pools in
            let key = pin.map { "\($0.fingerprint)@\(host):\(port)" } ?? "\(host):\(port)"
            if let pool = pools[key] { return pool }
            let pool = try CallConnectionPool(host: host, port: port, pin: pin)
            pools[key] = pool
            return pool
        }
    }

    private func giveBack(_ channel: any Channel) {
        let keep = idle.withLockedValue { idle -> Bool in
            guard idle.count < maximumIdle else { return false }
            idle.append(channel)
            return true
        }
        if !keep { channel.close(promise: nil) }
    }

    private func connect() async throws -> any Channel {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
        do {
            if let socketPath {
                return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(5))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try Self.addCallHandlers(to: channel) }
                    }
                    .connect(unixDomainSocketPath: socketPath)
                    .get()
            }
            guard let tls else {
                return try await bootstrap
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try Self.addCallHandlers(to: channel) }
                    }
                    .connect(host: host, port: port)
                    .get()
            }
            let (channel, handshake) = try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { () -> (any Channel, EventLoopFuture<Void>) in
                    let done = channel.eventLoop.makePromise(of: Void.self)
                    // No SNI: the daemon has one certificate, and the pin replaces host names.
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls.context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(HandshakeHandler(done: done))
                    try Self.addCallHandlers(to: channel)
                    return (channel, done.futureResult)
                }
            }
            do {
                // A certificate that is not the pinned one fails here, not in the first call.
                try await handshake.get()
            } catch {
                channel.close(promise: nil)
                throw error
            }
            return channel
        } catch {
            if let tls, let failure = tls.pin.failure(error, url: url) { throw failure }
            if let socketPath, let refusal = Self.socketRefusal(error, socketPath: socketPath) { throw refusal }
            throw HoistError(.daemonUnavailable, "no Hoist daemon is listening at \(url) (\(error)); start one with `hoist daemon start`")
        }
    }

    /// The error for a connect to a daemon's socket that the file's permissions refused: the
    /// socket is another user's.
    static func socketRefusal(_ error: any Error, socketPath: String) -> HoistError? {
        let text = "\(error)"
        guard text.contains("ermission denied") || text.contains("EACCES") else { return nil }
        return HoistError(.forbidden, "permission denied on the daemon's socket \(socketPath): it belongs to another user (only the daemon's own user and root may connect)")
    }

    private static func addCallHandlers(to channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
    }

    func shutdown() {
        let channels = idle.withLockedValue { idle in
            defer { idle = [] }
            return idle
        }
        channels.forEach { $0.close(promise: nil) }
    }
}

/// Completes `done` when the TLS handshake has finished, or fails it with what stopped it.
private final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            done.succeed()
            // Out of the way of every read that follows.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(HoistError(.daemonUnavailable, "the daemon closed the connection during the TLS handshake"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A connection that never opened is torn down without going inactive; no-op after success.
        done.fail(HoistError(.daemonUnavailable, "the connection closed before its TLS handshake"))
    }
}

/// The request in progress on one connection and where its response goes.
private final class Exchange: @unchecked Sendable {
    private var head: CheckedContinuation<HTTPResponseHead, any Error>?
    let body: AsyncThrowingStream<ByteBuffer, any Error>.Continuation

    init(head: CheckedContinuation<HTTPResponseHead, any Error>, body: AsyncThrowingStream<ByteBuffer, any Error>.Continuation) {
        self.head = head
        self.body = body
    }

    func received(_ head: HTTPResponseHead) {
        self.head?.resume(returning: head)
        self.head = nil
    }

    func fail(_ error: any Error) {
        if let head {
            head.resume(throwing: error)
            self.head = nil
        }
        body.finish(throwing: error)
    }
}

/// Feeds response parts to the current ``Exchange``; lives on the channel's event loop.
private final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    private var exchange: Exchange?

    /// No request is waiting for its response.
    var isIdle: Bool { exchange == nil }

    func begin(_ exchange: Exchange) {
        self.exchange?.fail(HoistError(.internalError, "a connection was given a second request while the first was unanswered"))
        self.exchange = exchange
    }

    /// Fails `exchange` if it is still the current one (a write that did not go out).
    func abandon(_ exchange: Exchange, because error: HoistError) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        exchange.fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 100 Continue and other informational heads are not the answer.
            if head.status.code >= 200 { exchange?.received(head) }
        case .body(let buffer):
            exchange?.body.yield(buffer)
        case .end:
            let done = exchange
            exchange = nil
            done?.body.finish()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.fail(HoistError(.daemonUnavailable, "the daemon closed the connection before answering"))
        exchange = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A response cut off (a daemon that died mid-answer) is a daemon that went away.
        exchange?.fail(error as? HoistError ?? HoistError(.daemonUnavailable, "the connection to the daemon broke before the answer was complete (\(error))"))
        exchange = nil
        context.close(promise: nil)
    }
}
