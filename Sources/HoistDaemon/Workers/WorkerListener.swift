import Foundation
import HoistCore
import Logging
import NIOCore
import NIOPosix

/// Accepts worker connections on the daemon's Unix socket.
struct WorkerListener {
    let registry: WorkerRegistry
    let logger: Logger

    func bind(path: String) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelInitializer { [registry, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WorkerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(WorkerFrameWriter())
                    try channel.pipeline.syncOperations.addHandler(WorkerChannelHandler(registry: registry, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
    }
}

/// Routes frames from one worker connection to its ``Worker``, once the hello has said who it is.
private final class WorkerChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WorkerFrame
    private let registry: WorkerRegistry
    private let logger: Logger
    private var worker: Worker?

    init(registry: WorkerRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let worker {
            worker.receive(frame)
            return
        }
        guard frame.kind == .hello,
              let hello = try? JSONDecoder().decode(WorkerHello.self, from: Data(frame.payload.readableBytesView)),
              let (worker, pool) = registry.lookup(token: hello.token)
        else {
            logger.warning("closing a worker connection without a valid hello")
            context.close(promise: nil)
            return
        }
        guard hello.protocolVersion == DaemonAPI.protocolVersion else {
            logger.error("worker speaks protocol \(hello.protocolVersion), daemon \(DaemonAPI.protocolVersion)")
            pool.appendToLog("hoist: the app binary speaks worker protocol \(hello.protocolVersion), this daemon \(DaemonAPI.protocolVersion); rebuild the app against the same Hoist version as the daemon")
            context.close(promise: nil)
            return
        }
        self.worker = worker
        pool.noteHello(hello)
        worker.attach(channel: context.channel, hello: hello)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("worker channel error: \(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The process monitor reports the exit with its status; if the process lingers after
        // closing its channel, it is of no use: end it so that its calls fail promptly.
        if let worker, worker.state != .exited {
            let pid = worker.pid
            context.eventLoop.scheduleTask(in: .seconds(2)) {
                if worker.state != .exited && worker.pid == pid { worker.signal(SIGKILL) }
            }
        }
    }
}
