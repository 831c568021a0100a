import ArgumentParser
import Foundation
import HoistCluster
import HoistCore
import HoistSSH

#if canImport(Glibc)
import Glibc
#endif

/// `hoist cluster …`: SSH clusters saved under `~/.hoist/clusters`.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Bring up, inspect, reach and stop SSH clusters.",
        discussion: "A cluster is saved under $HOIST_HOME/clusters/<name>.json when it comes up (from here or from a program that deployed to it).",
        subcommands: [Up.self, Status.self, List.self, SSH.self, Down.self, Remove.self]
    )

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a daemon on every host of a cluster and save its config.",
            discussion: "With --host the cluster is (re)defined; without, the saved one is used. The daemon is this `hoist` binary, sent to hosts that lack it."
        )
        @Argument(help: "The cluster's name.") var name: String
        @Option(name: .customLong("host"), help: "A host name, address or ~/.ssh/config alias (repeat for several).") var hosts: [String] = []
        @Option(help: "The SSH login user.") var user: String?
        @Option(help: "The SSH private key.") var key: String?
        @Option(name: .customLong("ssh-port"), help: "The SSH port.") var sshPort: Int?
        @Option(name: .customLong("ssh-config"), help: "An ssh configuration file to use instead of ~/.ssh/config.") var sshConfig: String?
        @Option(help: "How to reach the daemons: tunnel (default), tls, or none.") var connection: String?
        @Option(name: .customLong("daemon-port"), help: "The daemons' port (default: picked by each host for tunnel, 32300 otherwise).") var daemonPort: Int?

        func run() async throws {
            try await withExitCodes {
                var cluster: Cluster
                if hosts.isEmpty {
                    cluster = try Cluster.named(name)
                } else {
                    cluster = Cluster(name, hosts: hosts, ssh: .init(user: user, key: key, port: sshPort, configFile: sshConfig), daemonPort: daemonPort)
                    // Certificates pinned before stay pinned.
                    if let saved = try? Cluster.named(name) { cluster.pinnedCertificates = saved.pinnedCertificates }
                }
                if let connection {
                    guard let mode = Cluster.Connection(rawValue: connection) else {
                        throw HoistError(.invalidConfiguration, "--connection must be one of \(Cluster.Connection.allCases.map(\.rawValue).joined(separator: ", ")), got '\(connection)'")
                    }
                    cluster.connection = mode
                }
                try cluster.validate()
                let statuses = try await ClusterControl(cluster: cluster).up()
                print("cluster '\(name)' is up (saved in \(ClusterStore().path(of: name)))")
                printStatuses(statuses)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each host of a saved cluster: reachable, daemon, apps. Starts nothing.")
        @Argument(help: "The cluster's name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withExitCodes {
                let statuses = await ClusterControl(cluster: try Cluster.named(name)).status()
                if json {
                    print(try prettyJSON(statuses))
                } else {
                    printStatuses(statuses)
                }
                if statuses.contains(where: { !$0.reachable }) { throw ExitCode(3) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List saved clusters.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await withExitCodes {
                let clusters = try Cluster.saved()
                if json { return print(try prettyJSON(clusters)) }
                if clusters.isEmpty { print("no saved clusters") }
                for cluster in clusters {
                    print("\(cluster.name)  \(cluster.connection.rawValue)  \(cluster.hosts.map(\.description).joined(separator: " "))")
                }
            }
        }
    }

    struct SSH: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a shell on a host of a saved cluster, or run a command there.",
            discussion: "Example: hoist cluster ssh gpu-box --host 1 -- nvidia-smi"
        )
        @Argument(help: "The cluster's name.") var name: String
        @Option(help: "Which host: its position (0, 1, …) or name (default: the first).") var host: String?
        @Argument(parsing: .postTerminator, help: "The command to run (after --); none opens a shell.") var command: [String] = []

        func run() async throws {
            try await withExitCodes {
                let cluster = try Cluster.named(name)
                let target: SSHHost
                if let host {
                    if let index = Int(host), cluster.hosts.indices.contains(index) {
                        target = cluster.hosts[index]
                    } else if let match = cluster.hosts.first(where: { $0.host == host || $0.description == host }) {
                        target = match
                    } else {
                        throw HoistError(.invalidConfiguration, "cluster '\(name)' has no host '\(host)'; its hosts: \(cluster.hosts.map(\.description).joined(separator: ", "))")
                    }
                } else {
                    target = cluster.hosts[0]
                }
                let transport = SSHTransport(host: target)
                var arguments = transport.commandLine(interactive: command.isEmpty)
                if !command.isEmpty { arguments += ["--"] + command }
                // Replaces this process: the terminal, signals and exit status are ssh's.
                let argv = arguments.map { strdup($0) } + [nil]
                execv(arguments[0], argv)
                throw HoistError(.internalError, "could not run \(arguments[0]): \(String(cString: strerror(errno)))")
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the daemons of a saved cluster.")
        @Argument(help: "The cluster's name.") var name: String
        @Flag(name: .customLong("delete-apps"), help: "Also delete the apps, binaries and runs installed on the hosts.") var deleteApps = false
        @Flag(help: "Also forget the saved config.") var forget = false

        func run() async throws {
            try await withExitCodes {
                let cluster = try Cluster.named(name)
                try await ClusterControl(cluster: cluster).down(deleteApps: deleteApps)
                if forget { try ClusterStore().remove(name) }
                print("cluster '\(name)' is down\(deleteApps ? ", its apps deleted" : "")\(forget ? ", its config forgotten" : "")")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a saved cluster's config (its daemons are left as they are).")
        @Argument(help: "The cluster's name.") var name: String

        func run() async throws {
            try await withExitCodes {
                guard try ClusterStore().remove(name) else {
                    throw HoistError(.invalidConfiguration, "no saved cluster named '\(name)'")
                }
                print("forgot cluster '\(name)'")
            }
        }
    }
}

private func printStatuses(_ statuses: [ClusterControl.HostStatus]) {
    for status in statuses {
        guard status.reachable else {
            print("\(status.host)  unreachable: \(status.problem ?? "?")")
            continue
        }
        let listening = status.daemonPort.map { "port \($0)" } ?? (status.daemonSocket.map { "socket \($0)" } ?? "?")
        let daemon = status.daemonPid.map { "daemon pid \($0) \(listening)" } ?? "no daemon"
        let apps = status.apps.isEmpty ? "" : "  apps: \(status.apps.joined(separator: ", "))"
        print("\(status.host)  \(status.architecture ?? "?")  \(daemon)\(status.hoistVersion.map { "  Hoist \($0)" } ?? "")\(apps)")
    }
}
