import HoistClient
import HoistCluster
import HoistCore

/// Where a function runs.
///
/// ```swift
/// let remote = try await summer.to(.local)              // the daemon on this machine
/// let other = try await summer.to(.local(port: 32400))  // another local daemon
/// ```
public struct System: Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        case local(port: Int, home: HoistHome)
        case cluster(Cluster)
        case awsLambda(LambdaTarget)
    }

    let kind: Kind

    /// The daemon on this machine, at `HOIST_PORT` (default 32300) with home `HOIST_HOME`
    /// (default `~/.hoist`). It is started on first use.
    ///
    /// Inside a worker — a function calling another function of its app — it is the daemon that
    /// runs that worker: the local daemon's for a function deployed here, the host's own daemon
    /// for a function running on a cluster host. The app version already there is used without
    /// a redeploy.
    ///
    /// ```swift
    /// let sumOfSquares = Function("sumOfSquares") { (numbers: [Int]) async throws -> Int in
    ///     try await square.to(.local).map(numbers).reduce(0, +)
    /// }
    /// ```
    public static var local: System {
        System(kind: .local(port: HoistEnvironment.localPort, home: .current))
    }

    /// A daemon on this machine with its own port and, optionally, its own home directory.
    public static func local(port: Int, home: String? = nil) -> System {
        System(kind: .local(port: port, home: home.map(HoistHome.init) ?? .current))
    }

    public var description: String {
        switch kind {
        case let .local(port, _): return "local daemon (127.0.0.1:\(port))"
        case let .cluster(cluster): return "cluster '\(cluster.name)' (\(cluster.hosts.map(\.description).joined(separator: ", ")))"
        case let .awsLambda(target): return "AWS Lambda (profile \(target.profile ?? "default"), region \(target.region ?? "from the profile"))"
        }
    }

    var isCluster: Bool {
        if case .cluster = kind { return true }
        return false
    }

    /// The system behind its seam: the daemon on this machine (started if need be) or the
    /// cluster's daemons (connected and started if need be).
    func backend() async throws -> any SystemBackend {
        switch kind {
        case let .local(port, home):
            return DaemonSystem(group: DaemonGroup([.init(label: description, client: try await LocalDaemon.ensureRunning(home: home, port: port))]), label: description, session: nil)
        case let .cluster(cluster):
            let session = try await ClusterSessions.shared.session(for: cluster)
            return DaemonSystem(group: session.group, label: description, session: session)
        case let .awsLambda(target):
            return try LambdaSystem(target: target)
        }
    }
}
