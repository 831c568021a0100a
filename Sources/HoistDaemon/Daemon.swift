import Foundation
import HoistCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
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
    /// Every route needs the daemon's token, not only the control routes.
    public var requireToken: Bool
    /// Serve HTTPS with the daemon's self-signed certificate (``HoistHome/tlsCertificateFile``).
    public var tls: Bool

    /// Reads `HOIST_HOME`, `HOIST_HOST`, `HOIST_PORT`, `HOIST_MAX_BODY_BYTES`,
    /// `HOIST_REQUIRE_TOKEN` and `HOIST_TLS`, defaulting to `~/.hoist`, `127.0.0.1:32300`,
    /// 1 GiB, and plain HTTP with open function routes.
    public init(
        home: HoistHome = .current,
        host: String = HoistEnvironment.listenHost,
        port: Int = HoistEnvironment.listenPort,
        maxBodyBytes: Int? = nil,
        requireToken: Bool = HoistEnvironment.isEnabled(HoistEnvironment.requireToken),
        tls: Bool = HoistEnvironment.isEnabled(HoistEnvironment.tls)
    ) {
        self.home = home
        self.host = host
        self.port = port
        let fromEnvironment = ProcessInfo.processInfo.environment[HoistEnvironment.maxBodySize].flatMap(Int.init)
        self.maxBodyBytes = maxBodyBytes ?? fromEnvironment ?? (1 << 30)
        self.requireToken = requireToken
        self.tls = tls
    }

    /// Whether every route needs the token: asked for, or implied by TLS or by listening
    /// beyond loopback, where anyone who can reach the port could otherwise call functions.
    public var tokenOnEveryRoute: Bool { requireToken || tls || !Self.isLoopback(host) }

    public var publicURL: String { url(port: port) }

    func url(port: Int) -> String {
        let address = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "https" : "http")://\(address):\(port)"
    }

    /// Where a client on this machine reaches the daemon: its URL, with a wildcard listen
    /// address replaced by loopback.
    func localURL(port: Int) -> String {
        let host = ["0.0.0.0", "::", "*"].contains(self.host) ? "127.0.0.1" : self.host
        let address = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "https" : "http")://\(address):\(port)"
    }

    /// `localhost`, 127.0.0.0/8 and ::1.
    public static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { $0.dropLast().allSatisfy { $0 == 0 } && $0.last == 1 }
        }
        return false
    }
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
        try? FileManager.default.removeItem(atPath: home.daemonURLFile)
        try "\(getpid())\n".write(toFile: home.daemonPidFile, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: home.daemonPidFile)
            try? FileManager.default.removeItem(atPath: home.daemonPortFile)
        try? FileManager.default.removeItem(atPath: home.daemonURLFile)
        }
        signal(SIGPIPE, SIG_IGN)
        // Before anything starts, so that a certificate problem stops the daemon at once.
        let certificate = configuration.tls ? try DaemonCertificate.loadOrCreate(home: home, host: configuration.host, logger: logger) : nil

        let registry = WorkerRegistry()
        let listener = try await WorkerListener(registry: registry, logger: logger).bind(path: home.workerSocket)
        let manager = AppManager(home: home, registry: registry, logger: logger)

        let controlToken = try home.controlToken()
        let router = Router(context: BasicRequestContext.self)
        // Added before the routes, so it guards every one of them and the not-found answer too.
        if configuration.tokenOnEveryRoute {
            router.add(middleware: BearerTokenMiddleware(token: controlToken))
        }
        DaemonRoutes(manager: manager, configuration: configuration, startedAt: Date().timeIntervalSince1970, controlToken: controlToken, calls: CallRegistry(), runs: try RunManager(home: home)).register(on: router)
        let http1: HTTPServerBuilder = .http1(configuration: .init(additionalChannelHandlers: [ContinueHandler()]))
        let server = try certificate.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0.serverConfiguration) } ?? http1
        var security: Logger.Metadata = ["auth": configuration.tokenOnEveryRoute ? "token on every route" : "token on control routes"]
        if let certificate {
            security["certificate"] = "\(home.tlsCertificateFile)"
            security["sha256"] = "\(certificate.fingerprint)"
        }
        let listening = security
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hoist"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                try? "\(port)\n".write(toFile: home.daemonPortFile, atomically: true, encoding: .utf8)
                try? "\(configuration.localURL(port: port))\n".write(toFile: home.daemonURLFile, atomically: true, encoding: .utf8)
                logger.info("listening", metadata: listening.merging(["url": "\(configuration.url(port: port))", "pid": "\(getpid())", "home": "\(home.root)"]) { $1 })
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
