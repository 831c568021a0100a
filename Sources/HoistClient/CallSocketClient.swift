import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Foundation

/// Calls to the daemon on this machine as frames on its call socket (``SocketCallHeader``):
/// one connection carries every call of this process, many in flight at once.
final class CallSocketClient: Sendable {
    /// Nothing of the call was sent (no call socket, or its connection closed first): the call
    /// may go another way.
    struct NotSent: Error {}

    let path: String
    private let connection = NIOLockedValueBox<Connection?>(nil)
    private let ids = NIOLockedValueBox<UInt64>(0)

    private init(path: String) {
        self.path = path
    }

    private static let clients = NIOLockedValueBox<[String: CallSocketClient]>([:])

    /// The one client of this process for the call socket at `path`.
    static func shared(path: String) -> CallSocketClient {
        clients.withLockedValue { clients in
            if let client = clients[path] { return client }
            let client = CallSocketClient(path: path)
            clients[path] = client
            return client
        }
    }

    /// Arguments from this size on go through a payload region when the daemon shares this
    /// machine's memory.
    static let regionThreshold = 1 << 20
    /// Cleared for the process when a worker could not use a region (another pid namespace,
    /// say): large arguments then go in the frame, as over a tunnel.
    private static let regionsUsable = NIOLockedValueBox(true)
    private let regions = PayloadRegionPool()
    private let regionCallCount = NIOLockedValueBox(0)
    /// Calls whose argument went through a payload region, for tests.
    var regionCalls: Int { regionCallCount.withLockedValue { $0 } }

    /// Sends a call and waits for its result; `output` gets its output and elements as they come.
    /// Cancelling the calling task cancels the call. Throws ``NotSent`` when nothing was sent.
    /// With `sharedMemory`, a large argument goes through a ``PayloadRegion`` when the daemon is
    /// on this machine: only for functions that return one result.
    func call(_ header: SocketCallHeader, body: ByteBuffer, output: DaemonClient.OutputHandler?, sharedMemory: Bool = false, resultReader: ResultReader? = nil) async throws -> ByteBuffer {
        let link = try await connected()
        guard sharedMemory, body.readableBytes >= Self.regionThreshold, link.handler.sharesMemory,
              Self.regionsUsable.withLockedValue({ $0 }),
              let region = regions.acquire(capacity: body.readableBytes), let reference = region.write(body)
        else {
            return try await send(header, body: body, output: output, on: link)
        }
        var regionHeader = header
        regionHeader.region = true
        do {
            let answer = try await send(regionHeader, body: reference.buffer, output: output, on: link)
            let result = try Self.result(of: answer, in: region, reader: resultReader)
            regions.release(region)
            regionCallCount.withLockedValue { $0 += 1 }
            return result
        } catch let error as HoistError where error.code == .payloadRegion {
            // The region's memory could not be shared after all: send the argument itself.
            Self.regionsUsable.withLockedValue { $0 = false }
            return try await send(header, body: body, output: output, on: link)
        }
        // On any other end the region is let go, not reused: a worker may still be writing to it.
    }

    /// A region call's answer: the result itself, or where it lies in the region (read there by
    /// `reader`, which leaves an empty buffer to return, or copied out).
    private static func result(of answer: ByteBuffer, in region: PayloadRegion, reader: ResultReader?) throws -> ByteBuffer {
        var answer = answer
        switch answer.readInteger(as: UInt8.self).flatMap(RegionReference.Answer.init(rawValue:)) {
        case .inline:
            return answer
        case .inRegion:
            let notOurs = HoistError(.badResponse, "the daemon answered a call with a result in a payload region that is not the call's")
            guard let reference = try? RegionReference(decoding: answer) else { throw notOurs }
            if let reader {
                guard try region.read(reference, into: reader) else { throw notOurs }
                return ByteBuffer()
            }
            guard let result = region.read(reference) else { throw notOurs }
            return result
        case nil:
            throw HoistError(.badResponse, "the daemon answered a call with a payload region in a way this Hoist does not read")
        }
    }

    private func send(_ header: SocketCallHeader, body: ByteBuffer, output: DaemonClient.OutputHandler?, on link: Link) async throws -> ByteBuffer {
        let id = ids.withLockedValue { id -> UInt64 in
            id += 1
            return id
        }
        let head = header.encode(allocator: link.channel.allocator)
        let loop = link.channel.eventLoop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
                let call = CallSocketClientHandler.Call(id: id, head: head, body: body, output: output, continuation: continuation)
                if loop.inEventLoop {
                    link.handler.start(call)
                } else {
                    loop.execute { link.handler.start(call) }
                }
            }
        } onCancel: {
            loop.execute { link.handler.cancel(id) }
        }
    }

    /// A connection and the handler of its calls (looked up once, not per call).
    private struct Link: Sendable {
        var channel: any Channel
        var handler: CallSocketClientHandler
    }

    private enum Connection: Sendable {
        case connecting(EventLoopFuture<Link>)
        case connected(Link)
    }

    /// The connection, made on first use and again after it closed (the daemon restarted).
    private func connected() async throws -> Link {
        let state = connection.withLockedValue { state -> Connection in
            switch state {
            case let .connected(link) where link.channel.isActive: return .connected(link)
            case let .connecting(future): return .connecting(future)
            default:
                let made = Self.connect(path: path)
                state = .connecting(made)
                return .connecting(made)
            }
        }
        switch state {
        case let .connected(link):
            return link
        case let .connecting(future):
            do {
                let link = try await future.get()
                connection.withLockedValue { state in
                    if case let .connecting(current) = state, current === future { state = .connected(link) }
                }
                return link
            } catch {
                connection.withLockedValue { state in
                    if case let .connecting(current) = state, current === future { state = nil }
                }
                throw NotSent()
            }
        }
    }

    private static func connect(path: String) -> EventLoopFuture<Link> {
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WorkerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WorkerFrameWriter())
                    try channel.pipeline.syncOperations.addHandler(CallSocketClientHandler())
                }
            }
            .connect(unixDomainSocketPath: path)
            .flatMap { channel in
                channel.pipeline.handler(type: CallSocketClientHandler.self).map { Link(channel: channel, handler: $0) }
            }
    }
}

/// The calls in flight on one call-socket connection, touched on its event loop only.
final class CallSocketClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WorkerFrame
    typealias OutboundOut = WorkerFrame

    struct Call: Sendable {
        var id: UInt64
        var head: ByteBuffer
        var body: ByteBuffer
        var output: DaemonClient.OutputHandler?
        var continuation: CheckedContinuation<ByteBuffer, any Error>
    }

    private var pending: [UInt64: Call] = [:]
    private var context: ChannelHandlerContext?
    private var calls: FlushCoalescer?
    private let hello = NIOLockedValueBox<SocketHello?>(nil)

    /// Whether the daemon said it shares this process's machine and pid namespace
    /// (``SocketHello``); false until its hello has come.
    var sharesMemory: Bool {
        hello.withLockedValue { $0?.sharesMemory ?? false }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        calls = FlushCoalescer(channel: context.channel)
    }

    func start(_ call: Call) {
        guard let context, context.channel.isActive else {
            call.continuation.resume(throwing: CallSocketClient.NotSent())
            return
        }
        var call = call
        let frame = WorkerFrame(kind: .call, callID: call.id, payload: call.head, tail: call.body)
        // The body is the frame's now; the entry keeps only what the answer needs.
        call.body = ByteBuffer()
        call.head = ByteBuffer()
        pending[call.id] = call
        calls?.send(frame)
    }

    func cancel(_ id: UInt64) {
        guard pending[id] != nil, let context else { return }
        context.writeAndFlush(wrapOutboundOut(WorkerFrame(kind: .cancel, callID: id, payload: ByteBuffer())), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.kind {
        case .hello: hello.withLockedValue { $0 = SocketHello(decoding: frame.payload) }
        case .stdout: pending[frame.callID]?.output?(.stdout, frame.payload)
        case .stderr: pending[frame.callID]?.output?(.stderr, frame.payload)
        case .item: pending[frame.callID]?.output?(.item, frame.payload)
        case .result:
            pending.removeValue(forKey: frame.callID)?.continuation.resume(returning: frame.payload)
        case .failure:
            guard let call = pending.removeValue(forKey: frame.callID) else { return }
            if let failure = try? JSONDecoder().decode(CallFailure.self, from: Data(frame.payload.readableBytesView)) {
                call.continuation.resume(throwing: failure.error)
            } else {
                call.continuation.resume(throwing: HoistError(.badResponse, "the daemon's call socket answered with a failure that is not a CallFailure: \(String(buffer: frame.payload).prefix(300))"))
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let calls = pending.values
        pending.removeAll()
        for call in calls {
            call.continuation.resume(throwing: HoistError(.daemonUnavailable, "the daemon closed the connection before answering"))
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The payload regions of one connection's calls: a region goes back here after a call that
/// ended with its result, and the regions kept go after a while without a large call, so that an
/// idle process does not hold a large payload's memory.
final class PayloadRegionPool: Sendable {
    private struct State {
        var free: [PayloadRegion] = []
        var lastUse = ContinuousClock.now
        var sweeping = false
    }
    private let state = NIOLockedValueBox(State())
    static let kept = 2
    static let idle = Duration.seconds(10)

    func acquire(capacity: Int) -> PayloadRegion? {
        let reused = state.withLockedValue { state -> PayloadRegion? in
            state.lastUse = .now
            guard !state.free.isEmpty else { return nil }
            let index = state.free.indices.max { state.free[$0].capacity < state.free[$1].capacity }!
            return state.free.remove(at: index)
        }
        return reused ?? PayloadRegion.make(capacity: capacity)
    }

    func release(_ region: PayloadRegion) {
        let sweep = state.withLockedValue { state -> Bool in
            state.lastUse = .now
            if state.free.count < Self.kept { state.free.append(region) }
            let starts = !state.sweeping
            state.sweeping = true
            return starts
        }
        if sweep { scheduleSweep(in: Self.idle) }
    }

    private func scheduleSweep(in delay: Duration) {
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000)) { [self] in
            let again = state.withLockedValue { state -> Duration? in
                let idle = ContinuousClock.now - state.lastUse
                if idle >= Self.idle || state.free.isEmpty {
                    state.free.removeAll()
                    state.sweeping = false
                    return nil
                }
                return Self.idle - idle
            }
            if let again { scheduleSweep(in: max(again, .seconds(1))) }
        }
    }
}
