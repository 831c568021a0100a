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
                    try channel.pipeline.syncOperations.addHandler(WorkerFrameWriter())
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
                    // The frame's bytes go to the call through a box it empties, so that nothing
                    // here keeps a large argument alive once the function has decoded it.
                    let callID = frame.callID
                    let payload = PayloadBox(frame.payload)
                    _ = consume frame
                    let reply = await run(callID, running: running) {
                        do {
                            return try await serve(CallRequest(decoding: payload.take()), callID: callID, table: table, capture: capture, channel: channel)
                        } catch {
                            return failureFrame(CallFailure.from(error, function: "?"), callID: callID)
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
                // The chunk's calls run one after another in one task, without a hand-off between
                // them. Cancelling the running call cancels that task: it stops after the call,
                // and the rest of the chunk goes on in a new one. Each answer is sent as its call
                // ends; a crash names the call it happened in (hoist_crash_set_call).
                var next = 0
                while next < batch.bodies.count {
                    let from = next
                    let task = Task { () -> Int in
                        var position = from
                        while position < batch.bodies.count {
                            let callID = frame.callID + UInt64(position)
                            let request = CallRequest(function: batch.function, wantsOutput: batch.wantsOutput, body: batch.bodies[position])
                            position += 1
                            guard running.begin(callID) else {
                                channel.writeAndFlush(failureFrame(CallFailure(HoistError(.cancelled, "the call was cancelled before it started")), callID: callID), promise: nil)
                                continue
                            }
                            hoist_crash_set_call(callID)
                            let reply = await serve(request, callID: callID, table: table, capture: capture, channel: channel)
                            hoist_crash_set_call(0)
                            running.end()
                            channel.writeAndFlush(reply, promise: nil)
                            if Task.isCancelled { break }
                        }
                        return position
                    }
                    running.attach(task)
                    next = await task.value
                    running.finish()
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

    private static func serve(_ request: consuming CallRequest, callID: UInt64, table: FunctionTable, capture: OutputCapture, channel: any Channel) async -> WorkerFrame {
        guard let function = table[request.function] else {
            let failure = CallFailure(
                HoistError(.unknownFunction, "no function '\(request.function)' in this app; it has \(table.names.joined(separator: ", "))"),
                known: table.names
            )
            return failureFrame(failure, callID: callID)
        }
        let frames = FrameBatcher(channel: channel, callID: callID)
        var sink: OutputCapture.Sink?
        if request.wantsOutput {
            sink = { stream, bytes in frames.add(stream == .stdout ? .stdout : .stderr, ByteBuffer(bytes: bytes)) }
        }
        capture.begin(sink)
        do {
            if function.descriptor.streams == true {
                // Each element goes out as it is produced; the result frame marks the end.
                try await function.stream(json: request.body.dataView) { element in
                    frames.add(.item, ByteBuffer(bytes: element))
                }
                capture.end()
                return WorkerFrame(kind: .result, callID: callID, payload: ByteBuffer(string: "null"))
            }
            let result: ByteBuffer
            if let function = function as? any BufferInvoking {
                let bytes = request.bytes
                result = try await function.invoke(buffer: (consume request).body, bytes: bytes)
            } else {
                result = ByteBuffer(bytes: try await function.invoke(json: request.body.dataView))
            }
            capture.end()
            return WorkerFrame(kind: .result, callID: callID, payload: result)
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
/// A call frame's bytes, handed over once: the call takes them, and the box lets go.
private final class PayloadBox: @unchecked Sendable {
    private var payload: ByteBuffer?
    init(_ payload: ByteBuffer) { self.payload = payload }
    /// The bytes, for the one call that runs them (empty after the first take).
    func take() -> ByteBuffer {
        defer { payload = nil }
        return payload ?? ByteBuffer()
    }
}

private final class RunningCall: Sendable {
    private struct State {
        var id: UInt64?
        /// Cancels the task running the call: a call's own, or its chunk's.
        var cancelTask: (@Sendable () -> Void)?
        /// A cancel for the running call that came before its chunk's task was known.
        var cancelRequested = false
        var cancelledBeforeStart: Set<UInt64> = []
    }
    private let state = NIOLockedValueBox(State())

    /// A call in a task of its own.
    func start(_ id: UInt64, _ task: Task<WorkerFrame, Never>) {
        let cancelled = state.withLockedValue { state -> Bool in
            state.id = id
            state.cancelTask = { task.cancel() }
            return state.cancelledBeforeStart.remove(id) != nil
        }
        if cancelled { task.cancel() }
    }

    func finish() {
        state.withLockedValue { state in
            state.id = nil
            state.cancelTask = nil
            state.cancelRequested = false
        }
    }

    /// The task that runs a chunk's calls one after another.
    func attach(_ task: Task<Int, Never>) {
        let cancel = state.withLockedValue { state -> Bool in
            state.cancelTask = { task.cancel() }
            // Only while the call it was meant for still runs (``end()`` clears it).
            defer { state.cancelRequested = false }
            return state.cancelRequested && state.id != nil
        }
        if cancel { task.cancel() }
    }

    /// A chunk's call starts; false when it was cancelled before it did.
    func begin(_ id: UInt64) -> Bool {
        state.withLockedValue { state in
            if state.cancelledBeforeStart.remove(id) != nil { return false }
            state.id = id
            return true
        }
    }

    /// A chunk's call ended.
    func end() {
        state.withLockedValue { state in
            state.id = nil
            state.cancelRequested = false
        }
    }

    /// Cancels the running call if it has this id; otherwise remembers the id for when it starts.
    func cancel(_ id: UInt64) {
        let cancel = state.withLockedValue { state -> (@Sendable () -> Void)? in
            guard state.id == id else {
                state.cancelledBeforeStart.insert(id)
                return nil
            }
            if state.cancelTask == nil { state.cancelRequested = true }
            return state.cancelTask
        }
        cancel?()
    }

    func wasCancelledWhileQueued(_ id: UInt64) -> Bool {
        state.withLockedValue { $0.cancelledBeforeStart.remove(id) != nil }
    }
}
