import Foundation
import HoistClient
import HoistCore
import HoistSSH
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Hosts you own, reached over SSH, where Hoist runs a daemon of its own under the login user.
///
/// ```swift
/// let cluster = Cluster("gpu-box", hosts: [SSHHost("10.1.2.3", user: "ubuntu", identityFile: "~/.ssh/id_ed25519")])
/// let remote = try await summer.to(.cluster(cluster))
/// try await remote(1, 2)
/// ```
///
/// The app's own executable is sent (with the Swift runtime libraries it loads) when the host is
/// compatible — same architecture, glibc not older — so nothing is rebuilt; the daemon listens on
/// the host's loopback and is reached through a port forwarded over the SSH master connection.
public struct Cluster: Sendable {
    public var name: String
    public var hosts: [SSHHost]
    /// The daemon's port on each host's loopback.
    public var daemonPort: Int

    public init(_ name: String, hosts: [SSHHost], daemonPort: Int = HoistEnvironment.defaultPort) {
        self.name = name
        self.hosts = hosts
        self.daemonPort = daemonPort
    }

    /// Stops the daemons this cluster started on its hosts (by their pid files) and closes the
    /// SSH connections.
    public func down() async throws {
        for host in hosts {
            let ssh = SSHTransport(host: host)
            _ = try await ssh.run(#"test -f "$HOME/.hoist/daemon.pid" && kill "$(cat "$HOME/.hoist/daemon.pid")"; true"#)
            await ssh.disconnect()
        }
        ClusterConnections.shared.forget(self)
    }
}

extension System {
    /// A ``Cluster`` of SSH hosts. Only the first host serves for now.
    public static func cluster(_ cluster: Cluster) -> System {
        System(kind: .cluster(cluster))
    }
}

/// Open tunnels to cluster daemons, one per host and port, for the life of the process.
final class ClusterConnections: Sendable {
    static let shared = ClusterConnections()
    private let clients = NIOLockedValueBox<[String: DaemonClient]>([:])

    func client(for cluster: Cluster) async throws -> DaemonClient {
        guard let host = cluster.hosts.first else {
            throw HoistError(.invalidConfiguration, "cluster '\(cluster.name)' has no hosts")
        }
        let key = "\(host)|\(cluster.daemonPort)"
        if let client = clients.withLockedValue({ $0[key] }) { return client }
        let client = try await ClusterBootstrap(host: host, daemonPort: cluster.daemonPort).connect()
        clients.withLockedValue { $0[key] = client }
        return client
    }

    func forget(_ cluster: Cluster) {
        clients.withLockedValue { clients in
            for host in cluster.hosts { clients.removeValue(forKey: "\(host)|\(cluster.daemonPort)") }
        }
    }
}
