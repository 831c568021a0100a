import Foundation
import HoistClient
import HoistCore
import HoistSSH
import NIOCore

/// Operations on a whole cluster that do not deploy anything: bring daemons up, report on the
/// hosts, stop the daemons. `hoist cluster up|status|down` are thin wrappers around these.
public struct ClusterControl: Sendable {
    public let cluster: Cluster

    /// Operations on `cluster`.
    ///
    /// ```swift
    /// let statuses = await ClusterControl(cluster: try Cluster.named("gpu-box")).status()
    /// ```
    public init(cluster: Cluster) {
        self.cluster = cluster
    }

    /// What one host says about itself.
    public struct HostStatus: Sendable, Codable {
        public var host: String
        public var reachable: Bool
        public var architecture: String?
        public var daemonPid: Int32?
        /// The TCP port the daemon listens on, when it does.
        public var daemonPort: Int?
        /// The daemon's private socket on the host.
        public var daemonSocket: String?
        public var hoistVersion: String?
        public var apps: [String]
        /// Why the host could not be asked, when it could not.
        public var problem: String?
    }

    /// Starts a daemon on every host that has none (from `executable`: any Hoist binary) and
    /// saves the cluster's config. Returns each host's status.
    @discardableResult
    public func up(executable: String = ProcessSupport.executablePath) async throws -> [HostStatus] {
        ClusterSessions.shared.forget(cluster)
        _ = try await ClusterSessions.shared.session(for: cluster, executable: executable, delivery: .upload)
        return await status()
    }

    /// Each host's state, asking the daemon (through a tunnel) for its apps when one runs.
    /// Starts nothing.
    public func status() async -> [HostStatus] {
        await withTaskGroup(of: (Int, HostStatus).self) { group in
            for (index, host) in cluster.hosts.enumerated() {
                group.addTask { (index, await Self.status(of: host, in: cluster)) }
            }
            var statuses = [HostStatus?](repeating: nil, count: cluster.hosts.count)
            for await (index, status) in group { statuses[index] = status }
            return statuses.map { $0! }
        }
    }

    private static func status(of host: SSHHost, in cluster: Cluster) async -> HostStatus {
        var status = HostStatus(host: host.description, reachable: false, apps: [])
        let bootstrap = HostBootstrap(host: host, cluster: cluster)
        do {
            let facts = try await bootstrap.probe()
            status.reachable = true
            status.architecture = facts.architecture
            status.daemonPid = facts.daemonPid
            status.daemonPort = facts.daemonPort
            status.daemonSocket = facts.daemonSocket ? facts.daemonSocketPath : nil
            if facts.daemonPid != nil, facts.daemonSocket || facts.daemonPort != nil {
                // A tunnel reaches the daemon's socket when sshd forwards it, else its TCP port.
                let listener: HostBootstrap.Listener = cluster.connection == .tunnel && facts.daemonSocket && facts.daemonMode == bootstrap.mode(.socket, address: "") ? .socket : .tcp
                let (client, tunnel) = try await bootstrap.client(listener: listener, port: facts.daemonPort, address: try await bootstrap.daemonAddress(), home: facts.hoistHome)
                defer { if let tunnel { Task { await bootstrap.ssh.cancelForward(tunnel) } } }
                let health = try await client.health(timeout: .seconds(5))
                status.hoistVersion = health.version
                status.apps = try await client.apps().map(\.name).sorted()
            }
        } catch {
            status.problem = "\(error)"
        }
        return status
    }

    /// Stops the daemons (by their pid files), optionally deletes the installed apps, binaries
    /// and libraries, and closes the SSH connections. Hosts that cannot be reached are reported
    /// in the error after the others were stopped.
    public func down(deleteApps: Bool = false) async throws {
        ClusterSessions.shared.forget(cluster)
        var problems: [String] = []
        for host in cluster.hosts {
            let bootstrap = HostBootstrap(host: host, cluster: cluster)
            do {
                let facts = try await bootstrap.probe()
                if let pid = facts.daemonPid {
                    try await bootstrap.stopDaemon(pid: pid, home: facts.hoistHome)
                }
                if deleteApps {
                    let home = quoted(facts.hoistHome)
                    try await bootstrap.ssh.check("rm -rf \(home)/apps \(home)/blobs \(home)/lib \(home)/runs")
                }
            } catch {
                problems.append("\(error)")
            }
            await bootstrap.ssh.disconnect()
        }
        if !problems.isEmpty {
            throw HoistError(.daemonUnavailable, "cluster '\(cluster.name)': could not stop every host: \(problems.joined(separator: "; "))")
        }
    }
}

extension Cluster {
    /// Stops the daemons on the cluster's hosts (by their pid files), optionally deleting the
    /// apps installed there, and closes the SSH connections.
    ///
    /// ```swift
    /// try await cluster.down(deleteApps: true)
    /// ```
    public func down(deleteApps: Bool = false) async throws {
        try await ClusterControl(cluster: self).down(deleteApps: deleteApps)
    }
}
