import Foundation
import HoistCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's call socket (``HoistHome/callSocket``): function calls from Hoist's own callers
/// on this machine as frames (``SocketCallHeader``), checked and run exactly as `POST
/// /{app}/{function}` runs them, without HTTP on either side. Like the daemon's HTTP socket it is
/// mode 0600 in the 0700 home, and each peer's uid is checked before anything it sends is read.
struct CallSocket {
    let routes: DaemonRoutes
    let logger: Logger

    func bind(path: String) async throws -> any Channel {
        let (routes, logger) = (routes, logger)
        let allowed = GatePolicy.socket().peerUIDs ?? []
        // Room for the largest body the daemon takes, plus a header.
        let limit = routes.configuration.maxBodyBytes + (1 << 16)
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(CallSocketFrameDecoder(limit: limit)))
                    try channel.pipeline.syncOperations.addHandler(WorkerFrameWriter())
                    try channel.pipeline.syncOperations.addHandler(CallSocketHandler(routes: routes, allowedUIDs: allowed, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
    }
}

/// What the call socket reads: a frame, or word that a call's frame was over the daemon's body
/// limit (its bytes are skipped, so that the connection and its other calls carry on).
enum CallSocketInbound {
    case frame(WorkerFrame)
    case tooLarge(callID: UInt64, length: Int)
}

/// ``WorkerFrameDecoder`` with the daemon's body limit: a larger frame is answered, not read.
struct CallSocketFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = CallSocketInbound
    let limit: Int
    private var skipping = 0

    init(limit: Int) {
        self.limit = limit
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if skipping > 0 {
            let skipped = min(skipping, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: skipped)
            skipping -= skipped
            return skipping == 0 ? .continue : .needMoreData
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) > limit, length >= 9 else {
            guard let frame = try WorkerFrameDecoder.nextFrame(from: &buffer) else { return .needMoreData }
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
            return .continue
        }
        guard buffer.readableBytes >= 13 else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 5)
        let callID = buffer.readInteger(as: UInt64.self)!
        skipping = Int(length) - 9
        context.fireChannelRead(wrapInboundOut(.tooLarge(callID: callID, length: Int(length) - 9)))
        return .continue
    }
}

/// Runs the calls of one call-socket connection.
private final class CallSocketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = CallSocketInbound
    typealias OutboundOut = WorkerFrame

    private let routes: DaemonRoutes
    private let allowedUIDs: Set<UInt32>
    private let logger: Logger
    /// Set once the peer's uid is known to be allowed; nothing is read before.
    private var allowed = false
    /// The peer's pid, which a payload region it names must belong to.
    private var peerPID: Int32 = 0
    /// The calls in flight on this connection and their keys, touched on its event loop only:
    /// a cancel frame or the connection's end cancels them by key.
    private var inFlight: [UInt64: String?] = [:]
    /// Answers, flushed once for those written in one pass of the loop.
    private var answers: FlushCoalescer?

    init(routes: DaemonRoutes, allowedUIDs: Set<UInt32>, logger: Logger) {
        self.routes = routes
        self.allowedUIDs = allowedUIDs
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        answers = FlushCoalescer(channel: context.channel)
        guard let provider = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        // On the channel's own event loop this completes at once.
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let channel = context.channel
        credentials.whenComplete { [self] result in
            if case let .success(peer) = result, allowedUIDs.contains(peer.uid) {
                allowed = true
                peerPID = peer.pid
                // Tells the caller whether it shares this machine's memory (SocketHello).
                let hello = SocketHello(bootID: SocketHello.machineBootID ?? "", callerPID: peer.pid)
                channel.writeAndFlush(WorkerFrame(kind: .hello, callID: 0, payload: hello.encode()), promise: nil)
            } else {
                let who = (try? result.get()).map { "uid \($0.uid)" } ?? "a peer whose uid could not be read"
                logger.warning("refused a call-socket connection from \(who): this daemon serves only its own user (uid \(getuid())) and root")
                channel.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard allowed else { return }
        switch unwrapInboundIn(data) {
        case let .tooLarge(callID, length):
            reply(context, Self.failure(callID, routes.tooLargeFailure(length: length, limit: routes.configuration.maxBodyBytes)))
        case let .frame(frame):
            switch frame.kind {
            case .call:
                start(frame, context: context)
            case .cancel:
                if case let .some(.some(key)) = inFlight[frame.callID] { _ = routes.calls.cancel(key) }
            default:
                logger.warning("closing a call-socket connection that sent a frame of kind \(frame.kind)")
                context.close(promise: nil)
            }
        }
    }

    private func start(_ frame: WorkerFrame, context: ChannelHandlerContext) {
        let id = frame.callID
        var body = frame.payload
        let plan: CallPlan, wantsOutput: Bool, region: Bool
        do {
            let header = try SocketCallHeader(decoding: &body)
            guard inFlight[id] == nil else {
                throw HoistError(.invalidConfiguration, "call id \(id) is already in flight on this connection; give each call on a connection its own id")
            }
            plan = try routes.plan(CallAsk(
                app: header.app, function: header.function, timeout: header.timeout, key: header.key, retry: header.retry,
                rawBody: header.bytes.contains(.argument), rawResult: header.bytes.contains(.result), caller: header.caller
            ))
            wantsOutput = header.wantsOutput
            guard body.readableBytes <= routes.configuration.maxBodyBytes else {
                throw routes.tooLargeFailure(length: body.readableBytes, limit: routes.configuration.maxBodyBytes)
            }
            if header.region {
                try checkRegion(body, plan: plan)
            }
            region = header.region
        } catch {
            reply(context, Self.failure(id, error))
            return
        }
        inFlight[id] = plan.key
        let channel = context.channel
        let answers = self.answers
        // What the function prints goes back when asked for. A streaming function's elements go
        // back as they come to a caller taking output; to one that is not, they are its result,
        // as newline-delimited JSON (what HTTP answers such a caller).
        let streams = plan.descriptor.streams == true
        let collected = streams && !wantsOutput ? NIOLockedValueBox(ByteBuffer()) : nil
        var output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
        if let collected {
            output = { kind, bytes in
                guard kind == .item else { return }
                collected.withLockedValue { lines in
                    var bytes = bytes
                    lines.writeBuffer(&bytes)
                    lines.writeString("\n")
                }
            }
        } else if wantsOutput {
            output = { kind, bytes in
                answers?.send(WorkerFrame(kind: kind, callID: id, payload: bytes))
            }
        }
        let sink = output
        var planned = plan.request(wantsOutput: wantsOutput, body: consume body)
        planned.region = region
        let request = planned
        let calls = routes.calls
        let finish: @Sendable (Result<ByteBuffer, any Error>) -> Void = { outcome in
            let answer: WorkerFrame
            switch outcome {
            case let .success(result):
                answer = WorkerFrame(kind: .result, callID: id, payload: collected?.withLockedValue { $0 } ?? result)
            case let .failure(error):
                answer = Self.failure(id, error)
            }
            // After the call's output: that was written from the worker's loop before its result came.
            if channel.eventLoop.inEventLoop {
                self.finished(id, answer)
            } else {
                channel.eventLoop.execute { self.finished(id, answer) }
            }
        }
        // With a worker ready the call goes out from this loop; otherwise (and for nested calls)
        // a task waits for one as HTTP calls do. Under a retry policy the first attempt goes out
        // the same way, and only a failure the policy retries takes a task, for the pause and
        // the attempts after it.
        var complete = finish
        if plan.retry.attempts > 1 {
            let pool = plan.pool, timeout = plan.timeout, key = plan.key
            complete = { outcome in
                guard case let .failure(error) = outcome, let failure = error as? CallFailure, pool.retries(failure, after: 1) else {
                    return finish(outcome)
                }
                Task {
                    do {
                        finish(.success(try await pool.call(request, timeout: timeout, key: key, calls: calls, failedFirst: failure, output: sink)))
                    } catch {
                        finish(.failure(error))
                    }
                }
            }
        }
        if plan.caller == nil,
           plan.pool.pool.start(request, timeout: plan.timeout, key: plan.key, calls: calls, output: sink, complete: complete) {
            return
        }
        Task {
            do {
                finish(.success(try await plan.pool.call(request, timeout: plan.timeout, key: plan.key, calls: calls, caller: plan.caller, output: sink)))
            } catch {
                finish(.failure(error))
            }
        }
    }

    /// A payload region must be the caller's own, hold no more than a body may, and serve a
    /// function that returns one result.
    private func checkRegion(_ body: ByteBuffer, plan: CallPlan) throws {
        let reference = try RegionReference(decoding: body)
        guard reference.pid == peerPID else {
            throw HoistError(.payloadRegion, "a call named a payload region of pid \(reference.pid), and the caller is pid \(peerPID) here; send the payload itself")
        }
        guard Int(reference.length) <= routes.configuration.maxBodyBytes else {
            throw routes.tooLargeFailure(length: Int(reference.length), limit: routes.configuration.maxBodyBytes)
        }
        guard plan.descriptor.streams != true else {
            throw HoistError(.payloadRegion, "'\(plan.function)' streams its result; send its arguments themselves, not in a payload region")
        }
    }

    private func finished(_ id: UInt64, _ answer: WorkerFrame) {
        inFlight[id] = nil
        answers?.send(answer)
    }

    private func reply(_ context: ChannelHandlerContext, _ frame: WorkerFrame) {
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    private static func failure(_ id: UInt64, _ error: any Error) -> WorkerFrame {
        let failure = DaemonRoutes.callFailure(error)
        return WorkerFrame(kind: .failure, callID: id, payload: ByteBuffer(bytes: (try? JSONEncoder().encode(failure)) ?? Data()))
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A caller that went away wants nothing more from its calls.
        for case let .some(key) in inFlight.values { _ = routes.calls.cancel(key) }
        inFlight.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("call-socket connection error: \(error)")
        context.close(promise: nil)
    }
}
