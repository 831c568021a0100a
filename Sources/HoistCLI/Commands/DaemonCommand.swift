import ArgumentParser
import Foundation
import HoistClient
import HoistCore
import HoistDaemon
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Start, stop and inspect the local daemon.",
        subcommands: [Start.self, Stop.self, Status.self, Run.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the daemon in the background (no-op when it is running).")
        @OptionGroup var options: DaemonOptions

        func run() async throws {
            try await withExitCodes {
                let home = HoistHome.current
                let client = try await LocalDaemon.ensureRunning(home: home, port: options.resolvedPort, arguments: ["daemon", "run", "--port", String(options.resolvedPort)])
                let health = try await client.health()
                print("hoist daemon running at \(client.address) and \(client.endpointBase) (pid \(health.pid), home \(health.home))")
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the daemon in the foreground until SIGTERM or SIGINT.")
        @OptionGroup var options: DaemonOptions
        @Option(help: "The address to listen on (default: $HOIST_HOST or 127.0.0.1).") var host: String?

        func run() async throws {
            try await withExitCodes {
                try await Daemon(configuration: DaemonConfiguration(host: host ?? HoistEnvironment.listenHost, port: options.port ?? HoistEnvironment.listenPort)).run()
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the daemon started with this home, and its workers.")
        @Option(help: "Seconds to wait for a graceful stop before SIGKILL.") var timeout = 15.0

        func run() async throws {
            let home = HoistHome.current
            guard let text = try? String(contentsOfFile: home.daemonPidFile, encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  ProcessSupport.isAlive(pid)
            else {
                print("no hoist daemon is running with home \(home.root)")
                return
            }
            // The pid file is only trusted while the daemon holds its lock: a stale file must not
            // make us signal some unrelated process that reused the PID.
            if let fd = ProcessSupport.tryLock(home.daemonLockFile) {
                close(fd)
                print("no hoist daemon is running with home \(home.root) (stale pid file)")
                return
            }
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(timeout)
            while ProcessSupport.isAlive(pid) && Date() < deadline {
                if ProcessSupport.tryLock(home.daemonLockFile).map({ close($0) }) != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            if ProcessSupport.tryLock(home.daemonLockFile).map({ close($0) }) == nil {
                kill(pid, SIGKILL)
                print("hoist daemon (pid \(pid)) did not stop within \(timeout) s and was killed")
            } else {
                print("hoist daemon (pid \(pid)) stopped")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the daemon is running (exit 3 when not).")
        @OptionGroup var options: DaemonOptions

        func run() async throws {
            try await withExitCodes {
                guard options.client.mayBeListening, let health = try? await options.client.health(timeout: .seconds(3)) else {
                    throw HoistError(.daemonUnavailable, "no hoist daemon is answering at \(options.client.address)")
                }
                let apps = try await options.client.apps()
                let uptime = Int(Date().timeIntervalSince1970 - health.startedAt)
                print("running at \(options.client.address) and \(options.client.endpointBase): pid \(health.pid), Hoist \(health.version), protocol \(health.protocolVersion), home \(health.home), up \(uptime) s, \(apps.count) app(s)")
            }
        }
    }
}
