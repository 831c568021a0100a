import Foundation
import HoistCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Where and how a daemon listens.
///
/// The daemon always listens on a private Unix socket (``HoistHome/daemonSocket``) for Hoist's
/// own clients, and by default also on TCP (`127.0.0.1:32300`) for `curl` and other languages,
/// where every route needs the daemon's token and requests from web pages are refused.
public struct DaemonConfiguration: Sendable {
    public var home: HoistHome
    public var host: String
    public var port: Int
    /// The largest request body a call may send (HTTP 413 above it).
    public var maxBodyBytes: Int
    /// Every TCP route needs the daemon's token, also with ``openLoopback``.
    public var requireToken: Bool
    /// Serve HTTPS with the daemon's self-signed certificate (``HoistHome/tlsCertificateFile``).
    public var tls: Bool
    /// Whether the TCP listener runs at all (`HOIST_TCP=0` turns it off).
    public var tcp: Bool
    /// Function calls, listings and runs on TCP loopback without the token (`HOIST_OPEN_LOOPBACK=1`).
    public var openLoopback: Bool
    /// Origins whose web pages may call over TCP (`HOIST_ALLOWED_ORIGINS`); none by default.
    public var allowedOrigins: [String]
    /// `Host` names accepted on TCP beyond the daemon's own (`HOIST_ALLOWED_HOSTS`).
    public var allowedHosts: [String]

    /// Reads `HOIST_HOME`, `HOIST_HOST`, `HOIST_PORT`, `HOIST_MAX_BODY_BYTES`, `HOIST_REQUIRE_TOKEN`,
    /// `HOIST_TLS`, `HOIST_TCP`, `HOIST_OPEN_LOOPBACK`, `HOIST_ALLOWED_ORIGINS` and
    /// `HOIST_ALLOWED_HOSTS`, defaulting to `~/.hoist`, `127.0.0.1:32300`, 1 GiB, and plain HTTP
    /// with the token on every route.
    public init(
        home: HoistHome = .current,
        host: String = HoistEnvironment.listenHost,
        port: Int = HoistEnvironment.listenPort,
        maxBodyBytes: Int? = nil,
        requireToken: Bool = HoistEnvironment.isEnabled(HoistEnvironment.requireToken),
        tls: Bool = HoistEnvironment.isEnabled(HoistEnvironment.tls),
        tcp: Bool = HoistEnvironment.isEnabled(HoistEnvironment.tcp, default: true),
        openLoopback: Bool = HoistEnvironment.isEnabled(HoistEnvironment.openLoopback),
        allowedOrigins: [String] = HoistEnvironment.list(HoistEnvironment.allowedOrigins),
        allowedHosts: [String] = HoistEnvironment.list(HoistEnvironment.allowedHosts)
    ) {
        self.home = home
        self.host = host
        self.port = port
        let fromEnvironment = ProcessInfo.processInfo.environment[HoistEnvironment.maxBodySize].flatMap(Int.init)
        self.maxBodyBytes = maxBodyBytes ?? fromEnvironment ?? (1 << 30)
        self.requireToken = requireToken
        self.tls = tls
        self.tcp = tcp
        self.openLoopback = openLoopback
        self.allowedOrigins = allowedOrigins
        self.allowedHosts = allowedHosts
    }

    /// Whether every TCP route needs the token: always, unless `HOIST_OPEN_LOOPBACK` opens a
    /// plain-HTTP loopback listener (then only the control routes need it).
    public var tokenOnEveryRoute: Bool { requireToken || tls || !Self.isLoopback(host) || !openLoopback }

    /// The `Host` names the TCP listener answers to: loopback's, the listen address and, for a
    /// wildcard address, this machine's name and interface addresses; plus ``allowedHosts``.
    var hostNames: Set<String> {
        var names: Set<String> = ["127.0.0.1", "localhost", "[::1]", "localhost.localdomain"]
        let wildcard = ["0.0.0.0", "::", "*"].contains(host)
        if !wildcard { names.insert(host.contains(":") ? "[\(host.lowercased())]" : host.lowercased()) }
        if wildcard || !Self.isLoopback(host) {
            var buffer = [CChar](repeating: 0, count: 256)
            if gethostname(&buffer, buffer.count) == 0 {
                let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
                if !name.isEmpty { names.insert(name) }
            }
        }
        if wildcard { names.formUnion(LocalAddresses.all().map { $0.contains(":") ? "[\($0)]" : $0 }) }
        names.formUnion(allowedHosts.map { GatePolicy.hostName($0) })
        return names
    }

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
            try? FileManager.default.removeItem(atPath: home.daemonSocket)
            try? FileManager.default.removeItem(atPath: home.callSocket)
        }
        signal(SIGPIPE, SIG_IGN)
        // Before anything starts, so that a certificate problem stops the daemon at once.
        let certificate = configuration.tls ? try DaemonCertificate.loadOrCreate(home: home, host: configuration.host, logger: logger) : nil

        let registry = WorkerRegistry()
        let listener = try await WorkerListener(registry: registry, logger: logger).bind(path: home.workerSocket)
        let manager = AppManager(home: home, registry: registry, logger: logger)

        let controlToken = try home.controlToken()
        let socketPath = home.daemonSocket
        guard socketPath.utf8.count < 108 else {
            throw HoistError(.invalidConfiguration, "the daemon's socket path \(socketPath) is longer than a Unix socket path may be (107 bytes); use a shorter \(HoistEnvironment.home)")
        }
        let routes = DaemonRoutes(manager: manager, configuration: configuration, startedAt: Date().timeIntervalSince1970, controlToken: controlToken, calls: CallRegistry(), runs: try RunManager(home: home))
        let callSocket = try await CallSocket(routes: routes, logger: logger).bind(path: home.callSocket)
        chmod(home.callSocket, 0o600)
        // The socket's peers are checked by uid, so its control routes need no token; on TCP
        // the gate asks for the token before any route runs.
        let socketRouter = Router(context: DaemonRequestContext.self)
        routes.register(on: socketRouter, controlRoutesNeedToken: false)
        let socketGate = GatePolicy.socket()
        let socketApp = Application(
            router: socketRouter,
            server: .http1(configuration: .init(additionalChannelHandlers: [RequestGate(policy: socketGate), ContinueHandler(), ConnectionCloseHandler(watch: routes.connections)])),
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "hoist"),
            onServerRunning: { _ in
                // The home is 0700 already; the socket itself is the user's alone as well.
                chmod(socketPath, 0o600)
                // Without a TCP listener, endpoints are the socket's URL (see DaemonClient.local).
                if !configuration.tcp {
                    try? "\(home.daemonSocketURL)\n".write(toFile: home.daemonURLFile, atomically: true, encoding: .utf8)
                }
                logger.info("listening", metadata: ["socket": "\(socketPath)", "pid": "\(getpid())", "home": "\(home.root)"])
            },
            logger: logger
        )
        var services: [any Service] = [socketApp]
        if configuration.tcp {
            let tcpRouter = Router(context: DaemonRequestContext.self)
            routes.register(on: tcpRouter, controlRoutesNeedToken: true)
            let gate = GatePolicy.tcp(configuration, token: controlToken)
            let http1: HTTPServerBuilder = .http1(configuration: .init(additionalChannelHandlers: [RequestGate(policy: gate), ContinueHandler(), ConnectionCloseHandler(watch: routes.connections)]))
            let server = try certificate.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0.serverConfiguration) } ?? http1
            var security: Logger.Metadata = ["auth": configuration.tokenOnEveryRoute ? "token on every route" : "open loopback: token on control routes"]
            if !configuration.allowedOrigins.isEmpty { security["origins"] = "\(configuration.allowedOrigins.joined(separator: ","))" }
            if let certificate {
                security["certificate"] = "\(home.tlsCertificateFile)"
                security["sha256"] = "\(certificate.fingerprint)"
            }
            let listening = security
            services.append(Application(
                router: tcpRouter,
                server: server,
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hoist"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? configuration.port
                    try? "\(port)\n".write(toFile: home.daemonPortFile, atomically: true, encoding: .utf8)
                    try? "\(configuration.localURL(port: port))\n".write(toFile: home.daemonURLFile, atomically: true, encoding: .utf8)
                    logger.info("listening", metadata: listening.merging(["url": "\(configuration.url(port: port))", "pid": "\(getpid())", "home": "\(home.root)"]) { $1 })
                },
                logger: logger
            ))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let restore = Task { await manager.restoreAll() }
        do {
            try await group.run()
        } catch {
            restore.cancel()
            try? await callSocket.close()
            await manager.stopAll()
            try? await listener.close()
            throw error
        }
        restore.cancel()
        try? await callSocket.close()
        logger.info("stopping workers")
        await manager.stopAll()
        try? await listener.close()
        logger.info("stopped")
    }
}
