import Foundation
import HoistCore
import HTTPTypes
import NIOCore
import NIOHTTPTypes

#if canImport(Glibc)
import Glibc
#endif

/// Who may reach a listener, decided from a request's head alone: before its body is read and
/// before any route (and so any function) runs.
struct GatePolicy: Sendable {
    /// For the Unix socket: the peer's uid must be one of these (the daemon's own, and root).
    var peerUIDs: Set<UInt32>?
    /// For TCP: the `Host` names the daemon answers to, lower-case, without port. `nil` accepts any.
    var hostNames: Set<String>?
    /// Origins (`scheme://host[:port]`) whose pages may call the daemon; a request with any
    /// other `Origin` is refused, and CORS preflights are answered only for these.
    var allowedOrigins: Set<String> = []
    /// When set, every request must carry `Authorization: Bearer <token>`.
    var token: String?

    /// The Unix socket's policy: only the daemon's own user and root.
    static func socket() -> GatePolicy {
        GatePolicy(peerUIDs: [UInt32(getuid()), 0], hostNames: nil, allowedOrigins: [], token: nil)
    }

    /// The TCP listener's policy for `configuration`.
    static func tcp(_ configuration: DaemonConfiguration, token: String) -> GatePolicy {
        GatePolicy(
            peerUIDs: nil,
            hostNames: configuration.hostNames,
            allowedOrigins: Set(configuration.allowedOrigins.map(Self.normalizedOrigin)),
            token: configuration.tokenOnEveryRoute ? token : nil
        )
    }

    /// What to answer instead of serving, or `nil` to let the request through.
    func refusal(for head: HTTPRequest, peerUID: UInt32?) -> Refusal? {
        if let peerUIDs {
            guard let peerUID, peerUIDs.contains(peerUID) else {
                let who = peerUID.map { "uid \($0)" } ?? "a peer whose uid could not be read"
                return Refusal(.forbidden, "this daemon serves only its own user (uid \(getuid())) and root on its socket; the request came from \(who)")
            }
        }
        if let hostNames {
            let host = head.authority ?? ""
            guard hostNames.contains(Self.hostName(host)) else {
                return Refusal(.misdirected, "the request's Host '\(host.prefix(200))' is not one of this daemon's names (\(hostNames.sorted().joined(separator: ", "))); a page that renamed the daemon's address is refused. Call it by one of those names, or add the name to \(HoistEnvironment.allowedHosts)")
            }
        }
        if let origin = head.headerFields[.origin], !allowedOrigins.contains(Self.normalizedOrigin(origin)) {
            return Refusal(.forbidden, "requests from web pages of origin '\(origin.prefix(200))' are refused; allow an origin with \(HoistEnvironment.allowedOrigins) (comma-separated) when the daemon starts")
        }
        if head.method == .options, head.headerFields[.origin] != nil, head.headerFields[.accessControlRequestMethod] != nil {
            return nil  // an allowed origin's preflight: answered by the gate, without the token
        }
        if let token, !ConstantTime.equal(BearerToken.presented(head.headerFields[.authorization]), token) {
            return Refusal(.unauthorized, "this daemon needs its token on every request over TCP (Authorization: Bearer …, from \(HoistHome.controlTokenFileName) in the daemon's home), or use its Unix socket (\(HoistHome.socketFileName))")
        }
        return nil
    }

    struct Refusal {
        var code: HoistError.Code
        var message: String
        init(_ code: HoistError.Code, _ message: String) {
            self.code = code
            self.message = message
        }
    }

    /// `Host: Example.COM:32300` → `example.com`; `[::1]:32300` → `[::1]`.
    static func hostName(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("[") {
            if let close = name.firstIndex(of: "]") { name = String(name[...close]) }
        } else if let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    static func normalizedOrigin(_ origin: String) -> String {
        var origin = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while origin.hasSuffix("/") { origin.removeLast() }
        return origin
    }
}

/// Applies a ``GatePolicy`` to each request head on one connection, answering a refused request
/// itself (and closing the connection) so that nothing behind it sees the request. It also answers
/// CORS preflights of allowed origins and marks answers to them as readable by those origins.
final class RequestGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let policy: GatePolicy
    private var peerUID: UInt32?
    /// Set while the parts of a request answered here are dropped: a refused one's (then the
    /// connection closes) or a preflight's (then the connection carries on).
    private var discarding: (closeAtEnd: Bool, Void)?
    /// The allowed `Origin` of the request being answered, for its response head.
    private var corsOrigin: String?

    init(policy: GatePolicy) {
        self.policy = policy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard policy.peerUIDs != nil, let provider = context.channel as? any SocketOptionProvider else { return }
        // On the channel's own event loop this completes at once.
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // The future completes on the channel's loop, where this handler lives.
        let gate = NIOLoopBound(self, eventLoop: context.eventLoop)
        credentials.whenSuccess { (credentials: PeerCredentials) in gate.value.peerUID = credentials.uid }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case let .head(head):
            discarding = nil
            corsOrigin = nil
            if let refusal = policy.refusal(for: head, peerUID: peerUID) {
                refuse(context: context, refusal)
                return
            }
            if let origin = head.headerFields[.origin] {
                corsOrigin = origin
                if head.method == .options, head.headerFields[.accessControlRequestMethod] != nil {
                    answerPreflight(context: context, origin: origin)
                    return
                }
            }
            context.fireChannelRead(data)
        case .body, .end:
            if let discarding {
                if case .end = part {
                    self.discarding = nil
                    if discarding.closeAtEnd { context.close(promise: nil) }
                }
                return
            }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let origin = corsOrigin, case var .head(head) = unwrapOutboundIn(data), head.status.kind != .informational {
            head.headerFields[.accessControlAllowOrigin] = origin
            head.headerFields[.vary] = "Origin"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        }
        context.write(data, promise: promise)
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: GatePolicy.Refusal) {
        let failure = CallFailure(HoistError(refusal.code, refusal.message))
        let body = (try? JSONEncoder().encode(CallFailure.Envelope(error: failure))) ?? Data()
        var head = HTTPResponse(status: .init(code: failure.httpStatus))
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.connection] = "close"
        if refusal.code == .unauthorized { head.headerFields[.wwwAuthenticate] = "Bearer" }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        // The rest of the request is read and dropped, then the connection closes; a client that
        // waits for `100 Continue` never sends it, so the connection closes after a moment anyway.
        discarding = (true, ())
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    private func answerPreflight(context: ChannelHandlerContext, origin: String) {
        var head = HTTPResponse(status: .noContent)
        head.headerFields[.accessControlAllowOrigin] = origin
        head.headerFields[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
        head.headerFields[.accessControlAllowHeaders] = "Authorization, Content-Type, Accept, Prefer, Hoist-Timeout, Hoist-Call-Id, Hoist-Retry, Hoist-Run, Hoist-Get-Or-Call"
        head.headerFields[.accessControlMaxAge] = "600"
        head.headerFields[.vary] = "Origin"
        head.headerFields[.contentLength] = "0"
        corsOrigin = nil
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        // The preflight's own (empty) end is dropped.
        discarding = (false, ())
    }
}

/// Linux's `struct ucred` (what `SO_PEERCRED` reads), which Swift's Glibc module leaves out.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
