import Foundation
import HoistCore
import Hummingbird
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Where and how a daemon listens.
public struct DaemonConfiguration: Sendable {
    public var home: HoistHome
    public var host: String
    public var port: Int
    /// The largest request body a call may send (HTTP 413 above it).
    public var maxBodyBytes: Int

    /// Reads `HOIST_HOME`, `HOIST_PORT` and `HOIST_MAX_BODY_BYTES`, defaulting to `~/.hoist`,
    /// `127.0.0.1:32300` and 1 GiB.
    public init(
        home: HoistHome = .current,
        host: String = "127.0.0.1",
        port: Int = HoistEnvironment.listenPort,
        maxBodyBytes: Int? = nil
    ) {
        self.home = home
        self.host = host
        self.port = port
        let fromEnvironment = ProcessInfo.processInfo.environment[HoistEnvironment.maxBodySize].flatMap(Int.init)
        self.maxBodyBytes = maxBodyBytes ?? fromEnvironment ?? (1 << 30)
    }

    public var publicURL: String { "http://\(host):\(port)" }
}

/// The Hoist daemon: serves deployed apps' functions over HTTP and keeps their workers alive.
///
/// Any Hoist-linked binary can be the daemon (`HOIST_ROLE=daemon`); the `hoist` CLI runs it
/// with `hoist daemon start`. It runs until SIGTERM or SIGINT, then stops its workers.
///
/// ```swift
/// try await Daemon(configuration: .init(port: 32300)).run()
/// ```
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration

    public init(configuration: DaemonConfiguration = .init()) {
        self.configuration = configuration
    }

    public func run() async throws {
        let home = configuration.home
        try home.prepare()
        let logger = Logger(label: "hoist.daemon")

        // One daemon per home: the lock is held for the daemon's whole life.
        guard let lockFD = ProcessSupport.tryLock(home.daemonLockFile) else {
            let pid = (try? String(contentsOfFile: home.daemonPidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw HoistError(.daemonUnavailable, "another Hoist daemon (pid \(pid)) is already running with home \(home.root); stop it with `hoist daemon stop`")
        }
        defer { close(lockFD) }
        // A port file left by a daemon that was killed would point at nothing.
        try? FileManager.default.removeItem(atPath: home.daemonPortFile)
        try "\(getpid())\n".write(toFile: home.daemonPidFile, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: home.daemonPidFile)
            try? FileManager.default.removeItem(atPath: home.daemonPortFile)
        }
        signal(SIGPIPE, SIG_IGN)

        let registry = WorkerRegistry()
        let listener = try await WorkerListener(registry: registry, logger: logger).bind(path: home.workerSocket)
        let manager = AppManager(home: home, registry: registry, logger: logger)

        let router = Router(context: BasicRequestContext.self)
        DaemonRoutes(manager: manager, configuration: configuration, startedAt: Date().timeIntervalSince1970, controlToken: try home.controlToken(), calls: CallRegistry(), runs: try RunManager(home: home)).register(on: router)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ContinueHandler()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hoist"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                try? "\(port)\n".write(toFile: home.daemonPortFile, atomically: true, encoding: .utf8)
                logger.info("listening", metadata: ["url": "http://\(configuration.host):\(port)", "pid": "\(getpid())", "home": "\(home.root)"])
            },
            logger: logger
        )
        let restore = Task { await manager.restoreAll() }
        do {
            try await app.runService()
        } catch {
            restore.cancel()
            await manager.stopAll()
            try? await listener.close()
            throw error
        }
        restore.cancel()
        logger.info("stopping workers")
        await manager.stopAll()
        try? await listener.close()
        logger.info("stopped")
    }
}
