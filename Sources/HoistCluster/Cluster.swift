import Foundation
import HoistCore
import HoistSSH

/// Hosts you own, reached over SSH, where Hoist runs a daemon of its own under the login user.
///
/// ```swift
/// let cluster = Cluster("gpu-box", hosts: ["10.1.2.3", "10.1.2.4"], ssh: .init(user: "ubuntu", key: "~/.ssh/id_ed25519"))
/// let remote = try await summer.to(.cluster(cluster))
/// try await remote(1, 2)
/// try await remote.map(Array(0..<10_000))      // spread over both hosts
/// ```
///
/// The app's own executable is sent (with the Swift runtime libraries it loads) when the host
/// is compatible — same architecture, glibc not older — so nothing is rebuilt. Each host's
/// daemon listens only on its private Unix socket, reached through a local socket forwarded
/// over the SSH master connection (``Connection/tunnel``). A cluster that
/// connected is saved under `~/.hoist/clusters/<name>.json` and can be loaded with
/// ``named(_:)`` or managed with `hoist cluster status|ssh|down <name>`.
public struct Cluster: Codable, Sendable, Hashable {
    /// The cluster's name: its saved config is `~/.hoist/clusters/<name>.json`.
    public var name: String
    /// The hosts, as `ssh` reaches them.
    public var hosts: [SSHHost]
    /// How calls reach the hosts' daemons (default ``Connection/tunnel``).
    public var connection: Connection
    /// How the app's code gets to a host (default ``CodeDelivery/automatic``).
    public var code: CodeDelivery
    /// How a host builds the package when it builds.
    public var build: BuildOptions
    /// The daemons' port. `nil`: 32300 for ``Connection/tls`` and ``Connection/none``; for a
    /// ``Connection/tunnel`` to a host that refuses socket forwarding, the kernel picks one (so
    /// that several users of one host never collide).
    public var daemonPort: Int?
    /// SHA-256 fingerprints of each host's daemon certificate (``Connection/tls``), keyed by
    /// ``SSHHost/description``: recorded on first connect, checked after.
    public var pinnedCertificates: [String: String]

    /// A cluster of `hosts`, each with its own SSH settings.
    ///
    /// ```swift
    /// let cluster = Cluster("lab", hosts: [SSHHost("gpu-1"), SSHHost("10.0.0.7", user: "ubuntu", identityFile: "~/.ssh/lab")])
    /// ```
    public init(_ name: String, hosts: [SSHHost], connection: Connection = .tunnel, daemonPort: Int? = nil, code: CodeDelivery = .automatic, build: BuildOptions = .init()) {
        self.name = name
        self.hosts = hosts
        self.connection = connection
        self.code = code
        self.build = build
        self.daemonPort = daemonPort
        self.pinnedCertificates = [:]
    }

    /// Hosts given by name or address (or `Host` aliases of the ssh configuration), sharing `ssh`.
    public init(_ name: String, hosts: [String], ssh: SSHOptions = .init(), connection: Connection = .tunnel, daemonPort: Int? = nil, code: CodeDelivery = .automatic, build: BuildOptions = .init()) {
        self.init(
            name,
            hosts: hosts.map { SSHHost($0, user: ssh.user, port: ssh.port, identityFile: ssh.key, configFile: ssh.configFile) },
            connection: connection,
            daemonPort: daemonPort,
            code: code,
            build: build
        )
    }

    private enum CodingKeys: String, CodingKey {
        case name, hosts, connection, code, build, daemonPort, pinnedCertificates
    }

    /// Reads a saved config; settings it lacks (saved by an older Hoist) take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        hosts = try container.decode([SSHHost].self, forKey: .hosts)
        connection = try container.decodeIfPresent(Connection.self, forKey: .connection) ?? .tunnel
        code = try container.decodeIfPresent(CodeDelivery.self, forKey: .code) ?? .automatic
        build = try container.decodeIfPresent(BuildOptions.self, forKey: .build) ?? .init()
        daemonPort = try container.decodeIfPresent(Int.self, forKey: .daemonPort)
        pinnedCertificates = try container.decodeIfPresent([String: String].self, forKey: .pinnedCertificates) ?? [:]
    }

    /// The problems with this cluster, for a clear error before anything is contacted.
    public func validate() throws {
        guard ClusterStore.isValidName(name) else {
            throw HoistError(.invalidConfiguration, "cluster name '\(name)' is not valid: use letters, digits, '-', '_' and '.', up to 64 characters")
        }
        guard !hosts.isEmpty else {
            throw HoistError(.invalidConfiguration, "cluster '\(name)' has no hosts; give at least one")
        }
        if let daemonPort, !(1...65535).contains(daemonPort) {
            throw HoistError(.invalidConfiguration, "cluster '\(name)': daemonPort must be 1…65535, got \(daemonPort)")
        }
        guard ["release", "debug"].contains(build.configuration) else {
            throw HoistError(.invalidConfiguration, "cluster '\(name)': build configuration must be release or debug, got '\(build.configuration)'")
        }
        if Set(hosts).count != hosts.count {
            throw HoistError(.invalidConfiguration, "cluster '\(name)' names a host twice")
        }
    }

    /// The saved cluster called `name` (see ``save()``).
    ///
    /// ```swift
    /// let remote = try await summer.to(.cluster(try Cluster.named("gpu-box")))
    /// ```
    public static func named(_ name: String, home: HoistHome = .current) throws -> Cluster {
        try ClusterStore(home: home).load(name)
    }

    /// Saves the cluster under `~/.hoist/clusters/<name>.json` (mode 0600).
    public func save(home: HoistHome = .current) throws {
        try validate()
        try ClusterStore(home: home).save(self)
    }

    /// The saved clusters, by name.
    public static func saved(home: HoistHome = .current) throws -> [Cluster] {
        try ClusterStore(home: home).all()
    }
}
