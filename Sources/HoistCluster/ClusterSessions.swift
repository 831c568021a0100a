import Foundation
import HoistClient
import HoistCore
import HoistSSH
import NIOConcurrencyHelpers

/// A cluster this process is connected to: one daemon per host that answered, as a
/// ``DaemonGroup`` that spreads calls over them and reconnects a host that drops out.
public struct ClusterSession: Sendable {
    public let cluster: Cluster
    public let group: DaemonGroup
    /// The hosts that serve, in the cluster's order.
    public let hosts: [SSHHost]
    /// The SHA-256 of the app binary each host has, by member label: the sent binary's, or the
    /// one the host built.
    public let binaries: [String: String]

    /// Installs the Debian packages a host lacks with `apt-get`, when its login user can sudo
    /// without a password; otherwise throws an error that lists them and says how to fix it.
    /// apt's output is printed here, prefixed with the host.
    public func ensureSystemPackages(_ packages: [String]) async throws {
        guard !packages.isEmpty else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for host in hosts {
                group.addTask { try await Self.ensure(packages, on: host) }
            }
            try await group.waitForAll()
        }
    }

    private static func ensure(_ packages: [String], on host: SSHHost) async throws {
        let ssh = SSHTransport(host: host)
        let list = packages.map(quoted).joined(separator: " ")
        let missing = try await ssh.check("for p in \(list); do dpkg-query -W -f='${Status}\\n' \"$p\" 2>/dev/null | grep -q 'install ok installed' || echo \"$p\"; done")
            .split(separator: "\n").map(String.init)
        guard !missing.isEmpty else { return }
        let names = missing.map(quoted).joined(separator: " ")
        // Asks for exactly what is needed: a host may allow apt-get and nothing else.
        guard try await ssh.run("sudo -n apt-get --version > /dev/null 2>&1").status == 0 else {
            throw HoistError(.deployFailed, "\(host) lacks the system packages \(names), and its login user cannot sudo without a password to install them; install them there (`sudo apt-get install -y \(names)`) or allow passwordless sudo for apt-get")
        }
        // Plain `sudo apt-get` (no `env …` in front): a host may allow apt-get and nothing else.
        // Without a terminal, debconf falls back to its non-interactive frontend by itself.
        let install = "sudo -n apt-get install -y -q \(names) < /dev/null || { sudo -n apt-get update -q && sudo -n apt-get install -y -q \(names) < /dev/null; }"
        let output = try await ssh.run(install)
        for line in (output.stdout + output.stderr).split(separator: "\n") {
            FileHandle.standardError.write(Data("[\(host) apt] \(line)\n".utf8))
        }
        guard output.status == 0 else {
            throw HoistError(.deployFailed, "apt-get could not install \(names) on \(host) (status \(output.status)); see the apt output above")
        }
    }
}

/// The clusters this process is connected to, one session per cluster for its whole life.
public final class ClusterSessions: Sendable {
    /// The sessions of this process.
    public static let shared = ClusterSessions()
    private let sessions = NIOLockedValueBox<[Cluster: Task<ClusterSession, any Error>]>([:])

    public init() {}

    /// Connects to every host of the cluster (in parallel), starting daemons where needed, and
    /// saves the cluster's config. A host that cannot be reached is left out with a warning;
    /// when none can, the first host's error is thrown.
    public func session(for cluster: Cluster, executable: String = ProcessSupport.executablePath, delivery: Cluster.CodeDelivery? = nil) async throws -> ClusterSession {
        try cluster.validate()
        let task = sessions.withLockedValue { sessions in
            if let task = sessions[cluster] { return task }
            let task = Task { try await Self.connect(cluster, executable: executable, delivery: delivery) }
            sessions[cluster] = task
            return task
        }
        do {
            return try await task.value
        } catch {
            // A failed connect is not remembered: the next use tries again.
            sessions.withLockedValue { if $0[cluster] == task { $0[cluster] = nil } }
            throw error
        }
    }

    /// Drops the session, so that the next use connects again.
    public func forget(_ cluster: Cluster) {
        sessions.withLockedValue { _ = $0.removeValue(forKey: cluster) }
    }

    private static func connect(_ cluster: Cluster, executable: String, delivery: Cluster.CodeDelivery?) async throws -> ClusterSession {
        let outcomes = await withTaskGroup(of: (Int, Swift.Result<HostBootstrap.Connected, any Error>).self) { group in
            for (index, host) in cluster.hosts.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await HostBootstrap(host: host, cluster: cluster, executable: executable, delivery: delivery).connect()))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var outcomes = [Swift.Result<HostBootstrap.Connected, any Error>?](repeating: nil, count: cluster.hosts.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.map { $0! }
        }
        var members: [DaemonGroup.Member] = []
        var hosts: [SSHHost] = []
        var binaries: [String: String] = [:]
        var pins = cluster.pinnedCertificates
        var firstError: (any Error)?
        for (host, outcome) in zip(cluster.hosts, outcomes) {
            switch outcome {
            case let .success(connected):
                let bootstrap = HostBootstrap(host: host, cluster: cluster, executable: executable, delivery: delivery)
                let last = NIOLockedValueBox(connected)
                members.append(.init(label: host.description, client: connected.client) {
                    // The tunnel to a daemon that went away is closed before a new one opens.
                    for tunnel in last.withLockedValue({ $0.tunnels }) {
                        await bootstrap.ssh.cancelForward(tunnel)
                    }
                    let next = try await bootstrap.connect()
                    last.withLockedValue { $0 = next }
                    return next.client
                })
                hosts.append(host)
                binaries[host.description] = connected.sha256
                if let fingerprint = connected.certificateFingerprint { pins[host.description] = fingerprint }
            case let .failure(error):
                firstError = firstError ?? error
                if cluster.hosts.count > 1 {
                    DaemonGroup.standardErrorWarning("\(host) of cluster '\(cluster.name)' is left out: \(error)")
                }
            }
        }
        guard !members.isEmpty else { throw firstError! }
        // Saved with the certificates seen, pinned from now on.
        var saved = cluster
        saved.pinnedCertificates = pins
        try? saved.save()
        return ClusterSession(cluster: cluster, group: DaemonGroup(members), hosts: hosts, binaries: binaries)
    }
}
