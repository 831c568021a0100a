import Foundation
import HoistClient
import HoistCore
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A real daemon (`hoist daemon run`) with its own home and port, started for a test and
/// stopped by PID afterwards.
final class TestDaemon: @unchecked Sendable {
    let home: HoistHome
    private(set) var port: Int
    private let extraEnvironment: [String: String]
    private var process: Process?
    /// The pid of the daemon process this harness started last.
    var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Started with `HOIST_TLS` on: then ``client`` talks HTTPS, pinned to the daemon's certificate.
    var usesTLS: Bool {
        !["", "0", "false", "no", "off"].contains(extraEnvironment[HoistEnvironment.tls]?.lowercased() ?? "")
    }

    /// A client with the daemon's token; for a TLS daemon, pinned to its certificate once it
    /// has made one (before that, a plain client that cannot reach it).
    var client: DaemonClient {
        if usesTLS, let pem = try? String(contentsOfFile: home.tlsCertificateFile, encoding: .utf8),
           let client = try? DaemonClient(baseURL: "https://127.0.0.1:\(port)", token: try? home.controlToken(), pinnedCertificatePEM: pem) {
            return client
        }
        return DaemonClient.local(port: port, home: home)
    }
    var environment: [String: String] {
        var environment = extraEnvironment
        environment[HoistEnvironment.home] = home.root
        environment[HoistEnvironment.port] = String(port)
        return environment
    }

    /// The daemon's TCP URL, where `curl` and other HTTP callers reach it (with the token).
    var baseURL: String { "\(usesTLS ? "https" : "http")://127.0.0.1:\(port)" }

    /// The daemon's token, as its user reads it from the home.
    var token: String { (try? home.controlToken()) ?? "" }

    /// `curl` of `path` on the daemon's TCP listener, with the daemon's token.
    func curl(_ path: String, _ arguments: [String] = []) throws -> CurlResult {
        try HoistEndToEndTests.curl(baseURL + path, ["-H", "Authorization: Bearer \(token)"] + arguments)
    }

    init(extraEnvironment: [String: String] = [:]) throws {
        let root = NSTemporaryDirectory() + "hoist-test-" + UUID().uuidString.prefix(8)
        home = HoistHome(root)
        port = try Self.freePort()
        self.extraEnvironment = extraEnvironment
    }

    /// Whether the daemon opens its TCP listener (not with `HOIST_TCP=0`).
    var listensOnTCP: Bool { extraEnvironment[HoistEnvironment.tcp] != "0" }

    /// Starts (or restarts) the daemon and waits until it answers. Another test may take the
    /// chosen port between the probe and the bind: then a new port is chosen, and a daemon only
    /// counts as ours when its pid is the one we started.
    func start() async throws {
        for _ in 0..<5 {
            if try await startOnce() { return }
            port = try Self.freePort()
        }
        throw HoistError(.daemonUnavailable, "test daemon found no free port: \(daemonLog)")
    }

    /// Returns false when the port was taken by someone else.
    private func startOnce() async throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.hoist)
        process.arguments = ["daemon", "run", "--port", String(port)]
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        try FileManager.default.createDirectory(atPath: home.logsDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: home.daemonLog, contents: nil)
        let log = FileHandle(forWritingAtPath: home.daemonLog)!
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if !listensOnTCP || ProcessSupport.isListening(port: port), let health = try? await client.health(timeout: .seconds(5)),
               health.pid == process.processIdentifier {
                return true
            }
            guard process.isRunning else {
                if daemonLog.contains("in use") { return false }
                throw HoistError(.daemonUnavailable, "test daemon exited: \(daemonLog)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HoistError(.daemonUnavailable, "test daemon did not answer: \(daemonLog)")
    }

    static func started(extraEnvironment: [String: String] = [:]) async throws -> TestDaemon {
        let daemon = try TestDaemon(extraEnvironment: extraEnvironment)
        try await daemon.start()
        return daemon
    }

    /// Stops the daemon it started (SIGTERM, then SIGKILL), by its PID, and waits until the
    /// home's daemon lock is free.
    func stop(signal: Int32 = SIGTERM) {
        guard let process else { return }
        process.stop(signal: signal, grace: 15)
        releaseHome(startedPid: process.processIdentifier)
    }

    /// Whether a daemon other than the one this harness started last was found holding the
    /// home and stopped (see ``releaseHome(startedPid:)``).
    private(set) var strayDaemon: Int32?

    /// The home is this test's alone (a fresh temporary directory), so a daemon holding its
    /// lock was started for it. One was seen once still holding it after the harness's own had
    /// exited (the SIGKILL durability test): then it is stopped by the pid it wrote in the home,
    /// which the lock makes trustworthy, and the test hears of it.
    private func releaseHome(startedPid: Int32) {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let fd = ProcessSupport.tryLock(home.daemonLockFile) {
                close(fd)
                return
            }
            if let text = try? String(contentsOfFile: home.daemonPidFile, encoding: .utf8),
               let holder = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), holder != startedPid, holder > 1 {
                FileHandle.standardError.write(Data("test daemon: pid \(holder) still holds \(home.root) after pid \(startedPid) exited; stopping it\n".utf8))
                strayDaemon = holder
                kill(holder, SIGKILL)
            }
            usleep(20_000)
        }
    }

    /// Stops the daemon and removes its home.
    func shutdown() {
        stop()
        try? FileManager.default.removeItem(atPath: home.root)
    }

    @discardableResult
    func deploy(_ binary: String = Binaries.testApp, app: String = "testapp", env: Env = Env(), secrets: [String: String] = [:]) async throws -> DaemonAPI.DeployResponse {
        try await client.deploy(
            app: app,
            request: DaemonAPI.DeployRequest(sha256: try ExecutableHash.computeSHA256(of: binary), executablePath: binary, env: env, secretValues: secrets)
        )
    }

    /// Calls with a JSON text and returns the result's JSON text.
    func call(_ function: String, _ json: String, app: String = "testapp", output: DaemonClient.OutputHandler? = nil) async throws -> String {
        let result = try await client.call(app: app, function: function, body: ByteBuffer(string: json), output: output)
        return String(buffer: result)
    }

    /// Starts a call whose function prints as it starts, and returns once its first output has
    /// arrived: the call is then known to be running in a worker, however loaded the machine.
    func callRunning(_ function: String, _ json: String, deadline: Double? = nil) async -> Task<String, any Error> {
        let (started, startedContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let call = Task {
            defer { startedContinuation.finish() }
            let result = try await client.call(
                app: "testapp", function: function, body: ByteBuffer(string: json), deadline: deadline,
                output: { _, _ in startedContinuation.yield() }
            )
            return String(buffer: result)
        }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        return call
    }

    var daemonLog: String { (try? String(contentsOfFile: home.daemonLog, encoding: .utf8)) ?? "" }
    var appLog: String { (try? String(contentsOfFile: home.appLog("testapp"), encoding: .utf8)) ?? "" }

    /// The environment for a `hoist` CLI run against this daemon.
    var cliEnvironment: [String: String] { environment }

    func hoist(_ arguments: [String], stdin: Data? = nil) throws -> Command.Output {
        try Command.run(Binaries.hoist, arguments, environment: cliEnvironment, stdin: stdin)
    }

    /// A free port on `address` below the kernel's ephemeral range (32768 and up), so that a port
    /// chosen here cannot be handed to another socket (a client, an SSH forward) before the
    /// daemon binds it.
    static func freePort(on address: String = "127.0.0.1") throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<30_000)
            if LocalPorts.canBind(port, host: address) { return port }
        }
        throw HoistError(.internalError, "no free port between 20000 and 30000 on \(address)")
    }
}

/// Runs `body` with a started daemon and always shuts it down.
func withDaemon<T>(extraEnvironment: [String: String] = [:], _ body: (TestDaemon) async throws -> T) async throws -> T {
    let daemon = try await TestDaemon.started(extraEnvironment: extraEnvironment)
    defer { daemon.shutdown() }
    return try await body(daemon)
}
