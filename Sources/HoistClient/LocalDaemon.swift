import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Finds or starts the daemon on this machine.
public enum LocalDaemon {
    /// Returns a client for the local daemon, starting it first when none answers.
    ///
    /// The daemon is started detached (its own session, output to `~/.hoist/logs/daemon.log`)
    /// from `executable` with `HOIST_ROLE=daemon`: any Hoist-linked binary can be the daemon.
    public static func ensureRunning(
        home: HoistHome = .current,
        port: Int = HoistEnvironment.localPort,
        executable: String = ProcessSupport.executablePath,
        arguments: [String] = []
    ) async throws -> DaemonClient {
        // A daemon this process found answering is still the one when its pid file names the
        // same live process: no directories to prepare and no health request (which took most
        // of an unchanged redeploy's time).
        let key = "\(home.root)|\(port)"
        if let known = answered.withLockedValue({ $0[key] }), daemonPid(home) == known.pid, ProcessSupport.isAlive(known.pid), known.client.mayBeListening {
            return known.client
        }
        try home.prepare()
        if let client = try await answering(home: home, port: port) { return client }
        // Two drivers starting at once must not start two daemons.
        return try await ProcessSupport.withLock(home.root + "/start.lock") {
            if let client = try await answering(home: home, port: port) { return client }
            var environment = ProcessInfo.processInfo.environment
            environment[HoistEnvironment.role] = "daemon"
            environment[HoistEnvironment.home] = home.root
            environment[HoistEnvironment.port] = String(port)
            HoistEnvironment.addMallocTunables(to: &environment)
            let pid = try ProcessSupport.spawnDetached(path: executable, arguments: arguments, environment: environment, logPath: home.daemonLog)
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if let client = try await answering(home: home, port: port) { return client }
                if !ProcessSupport.isAlive(pid) || isZombie(pid) {
                    throw HoistError(.daemonUnavailable, "the daemon (pid \(pid)) exited during start-up; see \(home.daemonLog)\(tail(home.daemonLog))")
                }
                try await Task.sleep(for: .milliseconds(25))
            }
            throw HoistError(.daemonUnavailable, "the daemon (pid \(pid)) did not answer on port \(port) within 20 s; see \(home.daemonLog)")
        }
    }

    /// A client for the daemon of `home` on `port` when one answers (of this protocol), else
    /// `nil`. Asked anew each time: the daemon may listen elsewhere or with TLS, which its
    /// `daemon.url` says once it listens.
    private static func answering(home: HoistHome, port: Int) async throws -> DaemonClient? {
        let client = DaemonClient.local(port: port, home: home)
        guard client.mayBeListening, let health = try? await client.health(timeout: .seconds(5)) else {
            return nil
        }
        try check(health, client: client)
        answered.withLockedValue { $0["\(home.root)|\(port)"] = (health.pid, client) }
        return client
    }

    /// Daemons found answering (of this protocol) by this process, by home and port.
    private static let answered = NIOLockedValueBox<[String: (pid: Int32, client: DaemonClient)]>([:])

    /// The pid the running daemon of `home` wrote, if any.
    private static func daemonPid(_ home: HoistHome) -> Int32? {
        (try? String(contentsOfFile: home.daemonPidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    private static func check(_ health: DaemonAPI.Health, client: DaemonClient) throws {
        guard health.protocolVersion == DaemonAPI.protocolVersion else {
            throw HoistError(
                .protocolMismatch,
                "the daemon at \(client.baseURL) (pid \(health.pid), Hoist \(health.version)) speaks protocol \(health.protocolVersion), this program \(DaemonAPI.protocolVersion); restart it with `hoist daemon stop` and run again"
            )
        }
    }

    /// A child that has exited but not been reaped still answers `kill(pid, 0)`.
    private static func isZombie(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }

    private static func tail(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        let lines = text.split(separator: "\n").suffix(5).joined(separator: "\n")
        return lines.isEmpty ? "" : ":\n" + lines
    }
}
