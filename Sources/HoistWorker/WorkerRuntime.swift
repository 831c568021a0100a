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

        // Calls and cancels are handled on the channel's event loop (``CallQueue``); the rest
        // (shutdown, anything unexpected) comes here.
        let (frames, framesContinuation) = AsyncStream.makeStream(of: WorkerFrame.self)
        let running = RunningCall()
        let queue = CallQueue(running: running) { request, callID, channel in
            await serve(consume request, callID: callID, table: table, capture: capture, channel: channel)
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WorkerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WorkerFrameWriter())
                    try channel.pipeline.syncOperations.addHandler(InboundFrames(queue: queue, running: running, capture: capture, continuation: framesContinuation))
                }
            }
            .connect(unixDomainSocketPath: socketPath)
            .get()

        let hello = WorkerHello(protocolVersion: DaemonAPI.protocolVersion, token: token, pid: getpid(), functions: table.descriptors)
        let helloBytes = try JSONEncoder().encode(hello)
        try await channel.writeAndFlush(WorkerFrame(kind: .hello, callID: 0, payload: ByteBuffer(bytes: helloBytes)))

        for await frame in frames {
            switch frame.kind {
            case .shutdown:
                await queue.idle()
                capture.finish()
                try? await channel.close()
                return
            default:
                capture.log("hoist worker: ignoring unexpected \(frame.kind) frame from the daemon")
            }
        }
        // The daemon went away: what is left goes to the app log before the process ends.
        capture.finish()
    }

    private static func serve(_ request: consuming CallRequest, callID: UInt64, table: FunctionTable, capture: OutputCapture, channel: any Channel) async -> WorkerFrame {
        guard let function = table[request.function] else {
            let failure = CallFailure(
                HoistError(.unknownFunction, "no function '\(request.function)' in this app; it has \(table.names.joined(separator: ", "))"),
                known: table.names
            )
            return failureFrame(failure, callID: callID)
        }
        // A caller on this machine may have left a large argument in its shared memory.
        var region: RegionMapping?
        if request.region {
            do {
                guard function is any BufferInvoking else {
                    throw HoistError(.payloadRegion, "'\(request.function)' cannot take its arguments from a payload region")
                }
                region = try RegionMapping(try RegionReference(decoding: request.body))
            } catch {
                return failureFrame(CallFailure.from(error, function: request.function), callID: callID)
            }
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
            if let region, let function = function as? any BufferInvoking {
                let answer = try await function.invoke(region: region, bytes: request.bytes)
                capture.end()
                return regionAnswer(answer, callID: callID)
            } else if let function = function as? any BufferInvoking {
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

    /// The answer to a call that came with a payload region: where its result lies, or the
    /// result itself.
    private static func regionAnswer(_ result: RegionResult, callID: UInt64) -> WorkerFrame {
        var head = ByteBufferAllocator().buffer(capacity: 1 + RegionReference.size)
        switch result {
        case let .inline(bytes):
            head.writeInteger(RegionReference.Answer.inline.rawValue)
            return WorkerFrame(kind: .result, callID: callID, payload: head, tail: bytes)
        case let .inRegion(reference):
            head.writeInteger(RegionReference.Answer.inRegion.rawValue)
            reference.write(to: &head)
            return WorkerFrame(kind: .result, callID: callID, payload: head)
        }
    }

    static func failureFrame(_ failure: CallFailure, callID: UInt64) -> WorkerFrame {
        let bytes = (try? JSONEncoder().encode(failure)) ?? Data(#"{"kind":"internalError","message":"the failure could not be encoded"}"#.utf8)
        return WorkerFrame(kind: .failure, callID: callID, payload: ByteBuffer(bytes: bytes))
    }
}

/// Queues calls and hears cancels on the event loop; hands anything else to the worker's
/// frame loop, and ends it when the daemon goes.
private final class InboundFrames: ChannelInboundHandler, Sendable {
    typealias InboundIn = WorkerFrame
    let queue: CallQueue
    let running: RunningCall
    let capture: OutputCapture
    let continuation: AsyncStream<WorkerFrame>.Continuation

    init(queue: CallQueue, running: RunningCall, capture: OutputCapture, continuation: AsyncStream<WorkerFrame>.Continuation) {
        self.queue = queue
        self.running = running
        self.capture = capture
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.kind {
        case .call:
            queue.enqueue(.call(id: frame.callID, payload: PayloadBox(frame.payload)), on: context.channel)
        case .batch:
            guard let batch = try? CallBatch(decoding: frame.payload) else {
                // Without the batch's length its calls cannot be answered: end the channel,
                // and the daemon fails them as it does for a worker that died.
                capture.log("hoist worker: a batch frame from the daemon could not be read; closing the channel")
                context.close(promise: nil)
                return
            }
            // The chunk's calls run one after another like any others; each answer is sent as
            // its call ends, and a crash names the call it happened in (hoist_crash_set_call).
            queue.enqueue(batch.bodies.enumerated().map { position, body in
                .batched(id: frame.callID + UInt64(position), request: CallRequest(function: batch.function, wantsOutput: batch.wantsOutput, body: body))
            }, on: context.channel)
        case .cancel:
            queue.cancel(frame.callID)
        default:
            continuation.yield(frame)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

