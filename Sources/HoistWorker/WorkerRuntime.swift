import CHoistCrash
import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker role: connects to the daemon's Unix socket, says which functions it serves, and
/// runs the calls it is sent, one at a time, returning each result on the same channel.
public enum WorkerRuntime {
    /// Runs until the daemon closes the channel or asks the worker to stop. Started by the
    /// daemon with `HOIST_ROLE=worker`; not meant to be called directly.
    public static func run(table: FunctionTable) async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let socketPath = environment[HoistEnvironment.workerSocket], let token = environment[HoistEnvironment.workerToken] else {
            throw HoistError(.invalidConfiguration, "the worker role needs \(HoistEnvironment.workerSocket) and \(HoistEnvironment.workerToken); workers are started by the Hoist daemon")
        }
        signal(SIGPIPE, SIG_IGN)
        let capture = try OutputCapture()
        if let directory = environment[HoistEnvironment.crashDirectory] {
            capture.installCrashHandler(reportPath: directory + "/" + HoistEnvironment.crashStderrFile)
        }
        capture.start()

        let (frames, framesContinuation) = AsyncStream.makeStream(of: WorkerFrame.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WorkerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(WorkerFrameEncoder()))
                    try channel.pipeline.syncOperations.addHandler(InboundFrames(continuation: framesContinuation))
                }
            }
            .connect(unixDomainSocketPath: socketPath)
            .get()

        let hello = WorkerHello(protocolVersion: DaemonAPI.protocolVersion, token: token, pid: getpid(), functions: table.descriptors)
        let helloBytes = try JSONEncoder().encode(hello)
        try await channel.writeAndFlush(WorkerFrame(kind: .hello, callID: 0, payload: ByteBuffer(bytes: helloBytes)))

        // Calls run one at a time, in order, in a task of their own, so that the frame loop
        // stays free to hear a cancel for the call that is running.
        let (calls, callQueue) = AsyncStream.makeStream(of: WorkerFrame.self)
        let running = RunningCall()
        let processor = Task {
            for await frame in calls {
                guard frame.kind == .batch else {
                    let reply = await run(frame.callID, running: running) {
                        do {
                            return try await serve(CallRequest(decoding: frame.payload), callID: frame.callID, table: table, capture: capture, channel: channel)
                        } catch {
                            return failureFrame(CallFailure.from(error, function: "?"), callID: frame.callID)
                        }
                    }
                    channel.writeAndFlush(reply, promise: nil)
                    continue
                }
                guard let batch = try? CallBatch(decoding: frame.payload) else {
                    // Without the batch's length its calls cannot be answered: end the channel,
                    // and the daemon fails them as it does for a worker that died.
                    capture.log("hoist worker: a batch frame from the daemon could not be read; closing the channel")
                    try? await channel.close()
                    return
                }
                // Each answer is sent as its call ends (not awaited: that would cost a hand-off a
                // call); a crash names the call it happened in (hoist_crash_set_call).
                for (position, body) in batch.bodies.enumerated() {
                    let callID = frame.callID + UInt64(position)
                    let reply = await run(callID, running: running) {
                        await serve(CallRequest(function: batch.function, wantsOutput: batch.wantsOutput, body: body), callID: callID, table: table, capture: capture, channel: channel)
                    }
                    channel.writeAndFlush(reply, promise: nil)
                }
            }
        }

        for await frame in frames {
            switch frame.kind {
            case .call, .batch:
                callQueue.yield(frame)
            case .cancel:
                running.cancel(frame.callID)
            case .shutdown:
                callQueue.finish()
                await processor.value
                try? await channel.close()
                return
            default:
                capture.log("hoist worker: ignoring unexpected \(frame.kind) frame from the daemon")
            }
        }
        callQueue.finish()
    }

    /// Runs one call in a task of its own, so that a cancel frame can reach it; a call
    /// cancelled before it started is answered at once.
    private static func run(_ callID: UInt64, running: RunningCall, _ body: @escaping @Sendable () async -> WorkerFrame) async -> WorkerFrame {
        if running.wasCancelledWhileQueued(callID) {
            return failureFrame(CallFailure(HoistError(.cancelled, "the call was cancelled before it started")), callID: callID)
        }
        let task = Task { await body() }
        running.start(callID, task)
        hoist_crash_set_call(callID)
        let reply = await task.value
        hoist_crash_set_call(0)
        running.finish()
        return reply
    }

    private static func serve(_ request: CallRequest, callID: UInt64, table: FunctionTable, capture: OutputCapture, channel: any Channel) async -> WorkerFrame {
        guard let function = table[request.function] else {
            let failure = CallFailure(
                HoistError(.unknownFunction, "no function '\(request.function)' in this app; it has \(table.names.joined(separator: ", "))"),
                known: table.names
            )
            return failureFrame(failure, callID: callID)
        }
        if request.wantsOutput {
            capture.begin { stream, bytes in
                let frame = WorkerFrame(kind: stream == .stdout ? .stdout : .stderr, callID: callID, payload: ByteBuffer(bytes: bytes))
                channel.writeAndFlush(frame, promise: nil)
            }
        }
        do {
            if function.descriptor.streams == true {
                // Each element goes out as it is produced; the result frame marks the end.
                try await function.stream(json: Data(request.body.readableBytesView)) { element in
                    channel.writeAndFlush(WorkerFrame(kind: .item, callID: callID, payload: ByteBuffer(bytes: element)), promise: nil)
                }
                capture.end()
                return WorkerFrame(kind: .result, callID: callID, payload: ByteBuffer(string: "null"))
            }
            let result = try await function.invoke(json: Data(request.body.readableBytesView))
            capture.end()
            return WorkerFrame(kind: .result, callID: callID, payload: ByteBuffer(bytes: result))
        } catch {
            capture.end()
            return failureFrame(CallFailure.from(error, function: function.name), callID: callID)
        }
    }

    private static func failureFrame(_ failure: CallFailure, callID: UInt64) -> WorkerFrame {
        let bytes = (try? JSONEncoder().encode(failure)) ?? Data(#"{"kind":"internalError","message":"the failure could not be encoded"}"#.utf8)
        return WorkerFrame(kind: .failure, callID: callID, payload: ByteBuffer(bytes: bytes))
    }
}

/// Hands frames from the event loop to the worker's call loop; ends the loop when the daemon goes.
private final class InboundFrames: ChannelInboundHandler, Sendable {
    typealias InboundIn = WorkerFrame
    let continuation: AsyncStream<WorkerFrame>.Continuation

    init(continuation: AsyncStream<WorkerFrame>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The call a worker is running, so that a cancel frame can reach it.
private final class RunningCall: Sendable {
    private struct State {
        var id: UInt64?
        var task: Task<WorkerFrame, Never>?
        var cancelledBeforeStart: Set<UInt64> = []
    }
    private let state = NIOLockedValueBox(State())

    func start(_ id: UInt64, _ task: Task<WorkerFrame, Never>) {
        let cancelled = state.withLockedValue { state -> Bool in
            state.id = id
            state.task = task
            return state.cancelledBeforeStart.remove(id) != nil
        }
        if cancelled { task.cancel() }
    }

    func finish() {
        state.withLockedValue { state in
            state.id = nil
            state.task = nil
        }
    }

    /// Cancels the running call if it has this id; otherwise remembers the id for when it starts.
    func cancel(_ id: UInt64) {
        let task = state.withLockedValue { state -> Task<WorkerFrame, Never>? in
            if state.id == id { return state.task }
            state.cancelledBeforeStart.insert(id)
            return nil
        }
        task?.cancel()
    }

    func wasCancelledWhileQueued(_ id: UInt64) -> Bool {
        state.withLockedValue { $0.cancelledBeforeStart.remove(id) != nil }
    }
}
