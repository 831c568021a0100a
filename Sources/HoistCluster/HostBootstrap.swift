import Foundation
import HoistClient
import HoistCore
import HoistSSH
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Brings one host to the point where it serves: checks it can run this binary, sends the
/// binary and the Swift runtime libraries it loads, starts the daemon if none runs, opens the
/// way to it (a forwarded port), and checks the daemon speaks this program's protocol.
public struct HostBootstrap: Sendable {
    public let host: SSHHost
    public let cluster: Cluster
    /// The Hoist-linked executable sent to the host: the app's own binary, or the `hoist` CLI
    /// for `hoist cluster up`. Any Hoist binary can be the daemon (`HOIST_ROLE=daemon`).
    public let executable: String
    /// How the code gets there: the cluster's setting unless overridden (`hoist cluster up`
    /// always sends its own binary).
    public let delivery: Cluster.CodeDelivery

    public init(host: SSHHost, cluster: Cluster, executable: String = ProcessSupport.executablePath, delivery: Cluster.CodeDelivery? = nil) {
        self.host = host
        self.cluster = cluster
        self.executable = executable
        self.delivery = delivery ?? cluster.code
    }

    var ssh: SSHTransport { SSHTransport(host: host) }

    /// What the far side says about itself and its daemon.
    public struct Facts: Sendable {
        public var home: String
        public var architecture: String
        public var glibc: String
        /// The daemon's pid when one runs (a live process, not a zombie).
        public var daemonPid: Int32?
        public var daemonPort: Int?
        /// Where `swift` is, when the host has a toolchain.
        public var swift: String?
        /// How the running daemon was started (`daemon.mode`: connection and address).
        public var daemonMode: String?
        /// `uname -s`: Hoist's daemon runs on Linux.
        public var os: String
        /// Whether the daemon's private socket (`daemon.sock`) exists.
        public var daemonSocket: Bool = false
        public var hoistHome: String { home + "/.hoist" }
        /// Where the daemon's private socket is.
        public var daemonSocketPath: String { hoistHome + "/" + HoistHome.socketFileName }
    }

    /// A host ready to serve.
    public struct Connected: Sendable {
        public var client: DaemonClient
        public var facts: Facts
        public var health: DaemonAPI.Health
        /// Whether this connect started the daemon.
        public var started: Bool
        /// The blob the executable was stored as on the host.
        public var sha256: String
        /// Whether anything (the binary, libraries) had to be sent: false when the host had it all.
        public var uploaded: Bool
        /// The SHA-256 of the daemon's certificate (``Cluster/Connection/tls``), to pin.
        public var certificateFingerprint: String?
        /// The forwards that carry ``client`` (``Cluster/Connection/tunnel``): the daemon's socket
        /// and, when it has one, its call socket; closed before a reconnect opens others.
        public var tunnels: [SSHTransport.Forward]
    }

    /// How the host's daemon is reached.
    enum Listener: Equatable {
        /// Its private socket only (``Cluster/Connection/tunnel``): nothing of the user's listens on
        /// the host's TCP.
        case socket
        /// TCP (with the token on every route) on `address`: `.none`, `.tls`, and a tunnel to a
        /// host whose sshd refuses Unix-socket forwarding.
        case tcp
    }

    public func connect() async throws -> Connected {
        var facts = try await probe()
        let sha: String
        let libraries: String
        let uploaded: Bool
        let problem = compatibilityProblem(facts)
        switch (delivery, problem) {
        case let (.upload, problem?):
            throw HoistError(.deployFailed, "\(problem); build there instead with Cluster(code: .build) or .automatic")
        case (.build, _), (.automatic, .some):
            guard let swift = facts.swift else {
                throw HoistError(.deployFailed, "\(problem ?? "building on the host was asked for"), and \(host) has no Swift toolchain (no `swift` on its PATH, in ~/.local/share/swiftly/bin, /opt/swift/usr/bin or /usr/share/swift/usr/bin); install one there (swiftly), or deploy to a compatible host")
            }
            if let problem { FileHandle.standardError.write(Data("hoist: \(problem): building there\n".utf8)) }
            sha = try await RemoteBuild(host: host, options: cluster.build, swift: swift, home: facts.hoistHome).run()
            // Built there, the binary finds its Swift runtime in the host's own toolchain.
            (libraries, uploaded) = ("", true)
        default:
            sha = try ExecutableHash.sha256(of: executable)
            (libraries, uploaded) = try await install(sha: sha, home: facts.hoistHome)
        }

        let address = try await daemonAddress()
        let start = Start(blob: facts.hoistHome + "/blobs/" + sha, home: facts.hoistHome, libraries: libraries, address: address)
        var started = false
        if let pid = facts.daemonPid, !acceptable(mode: facts.daemonMode, address: address) {
            // A daemon started for another connection (say, loopback only when this cluster
            // wants TLS on the host's address) is replaced, unless it has runs in flight.
            try await replace(pid: pid, home: facts.hoistHome, reason: "was started for '\(facts.daemonMode ?? "?")', this cluster wants '\(mode(.preferred(for: cluster.connection), address: address))'")
            facts.daemonPid = nil
        }
        if facts.daemonPid == nil || !(facts.daemonSocket || facts.daemonPort != nil) {
            try await startDaemon(start, listener: .preferred(for: cluster.connection), facts: &facts)
            started = true
        }
        var (client, health, tunnels) = try await reach(&facts, start: start, started: &started)
        if health.protocolVersion != DaemonAPI.protocolVersion {
            try await replace(pid: health.pid, home: facts.hoistHome, reason: "(Hoist \(health.version)) speaks protocol \(health.protocolVersion), this program \(DaemonAPI.protocolVersion)")
            for tunnel in tunnels { await ssh.cancelForward(tunnel) }
            try await startDaemon(start, listener: .preferred(for: cluster.connection), facts: &facts)
            started = true
            (client, health, tunnels) = try await reach(&facts, start: start, started: &started)
        }
        facts.daemonPid = health.pid
        return Connected(client: client, facts: facts, health: health, started: started, sha256: sha, uploaded: uploaded, certificateFingerprint: client.pinnedFingerprint, tunnels: tunnels)
    }

    /// What a daemon start needs besides its listener.
    struct Start {
        var blob: String
        var home: String
        var libraries: String
        var address: String
    }

    /// `daemon.mode` for a daemon this cluster starts: the connection and where it listens.
    func mode(_ listener: Listener, address: String) -> String {
        switch listener {
        case .socket: "\(cluster.connection.rawValue) socket"
        case .tcp: "\(cluster.connection.rawValue) \(address) \(cluster.daemonPort.map(String.init) ?? "auto")"
        }
    }

    /// Whether a running daemon started as `mode` serves this cluster: for a tunnel, on its
    /// socket or (a host that refuses socket forwarding) on loopback TCP.
    func acceptable(mode running: String?, address: String) -> Bool {
        guard let running else { return false }
        return running == mode(.tcp, address: address) || (cluster.connection == .tunnel && running == mode(.socket, address: address))
    }

    /// Opens the way to the running daemon and checks its health. For a tunnel, the daemon's
    /// socket is forwarded to a local socket; when the host's sshd refuses that, the daemon is
    /// reached over loopback TCP with its token instead (restarted with a TCP listener if it had
    /// none), with a warning.
    private func reach(_ facts: inout Facts, start: Start, started: inout Bool) async throws -> (DaemonClient, DaemonAPI.Health, [SSHTransport.Forward]) {
        guard cluster.connection == .tunnel else {
            guard let port = facts.daemonPort else { throw HoistError(.daemonUnavailable, "the daemon on \(host) has no TCP port (no daemon.port in \(facts.hoistHome))") }
            let (client, tunnel) = try await client(listener: .tcp, port: port, address: start.address, home: facts.hoistHome)
            return (client, try await health(of: client, home: facts.hoistHome, started: started), tunnel.map { [$0] } ?? [])
        }
        if facts.daemonSocket {
            let (client, tunnel) = try await client(listener: .socket, port: nil, address: start.address, home: facts.hoistHome)
            // A just-started daemon answers at once; refused forwards fail every attempt.
            for attempt in 0..<(started ? 20 : 3) {
                if attempt > 0 { try await Task.sleep(for: .milliseconds(50)) }
                if let health = try? await client.health(timeout: .seconds(2)) {
                    let (framed, tunnels) = await addingCallSocket(to: client, home: facts.hoistHome, tunnel: tunnel!)
                    return (framed, health, tunnels)
                }
            }
            await ssh.cancelForward(tunnel!)
            FileHandle.standardError.write(Data("hoist: warning: \(host)'s sshd refuses to forward its daemon's Unix socket (AllowStreamLocalForwarding); reaching the daemon over the host's TCP loopback instead, with its token on every route\n".utf8))
        }
        if facts.daemonPort == nil {
            // A socket-only daemon cannot be reached: it is restarted with a TCP listener.
            if let pid = facts.daemonPid {
                try await replace(pid: pid, home: facts.hoistHome, reason: "listens only on its socket, which \(host)'s sshd will not forward")
            }
            try await startDaemon(start, listener: .tcp, facts: &facts)
            started = true
        }
        let (client, tunnel) = try await client(listener: .tcp, port: facts.daemonPort!, address: start.address, home: facts.hoistHome)
        return (client, try await health(of: client, home: facts.hoistHome, started: started), tunnel.map { [$0] } ?? [])
    }

    /// `client` with the daemon's call socket forwarded as well, when the daemon has one (one of
    /// an older Hoist does not): its calls then cross the tunnel as frames rather than HTTP.
    /// Without it, or when the forward fails, calls go as HTTP through the socket's tunnel.
    private func addingCallSocket(to client: DaemonClient, home: String, tunnel: SSHTransport.Forward) async -> (DaemonClient, [SSHTransport.Forward]) {
        let remote = home + "/" + HoistHome.callSocketFileName
        guard let socketPath = client.socketPath,
              let probe = try? await ssh.run("test -S \(quoted(remote))"), probe.status == 0,
              let local = try? ssh.localSocketPath() else { return (client, [tunnel]) }
        let forward = SSHTransport.Forward.socket(local: local, remote: remote)
        guard (try? await ssh.forward(forward)) != nil else { return (client, [tunnel]) }
        return (DaemonClient(socketPath: socketPath, token: client.token, callSocketPath: local), [tunnel, forward])
    }

    /// Where the daemon listens on the host: its loopback for a tunnel, otherwise the address
    /// ssh connects to.
    func daemonAddress() async throws -> String {
        cluster.connection == .tunnel ? "127.0.0.1" : try await ssh.resolvedAddress()
    }

    /// One round trip: home, architecture, glibc, and whether a daemon runs (pid file naming a
    /// live process) on which port.
    public func probe() async throws -> Facts {
        let script = #"""
            echo "$HOME"; uname -m; ldd --version 2>&1 | head -1
            pid=$(cat "$HOME/.hoist/daemon.pid" 2>/dev/null)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! grep -qs '^State:.*Z' "/proc/$pid/status"; then
              echo "$pid"; cat "$HOME/.hoist/daemon.port" 2>/dev/null || echo
            else
              echo; echo
            fi
            sw=$(command -v swift 2>/dev/null)
            if [ -z "$sw" ]; then
              for p in "$HOME/.local/share/swiftly/bin/swift" /opt/swift/usr/bin/swift /usr/share/swift/usr/bin/swift; do
                if [ -x "$p" ]; then sw="$p"; break; fi
              done
            fi
            echo "$sw"
            cat "$HOME/.hoist/daemon.mode" 2>/dev/null || echo
            uname -s
            if [ -S "$HOME/.hoist/daemon.sock" ]; then echo socket; else echo; fi
            """#
        let text = try await ssh.check(script)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 9 else {
            throw SSHError(.commandFailed, host: host.description, "could not read the host's home, architecture and glibc (got: \(text))")
        }
        return Facts(
            home: lines[0],
            architecture: lines[1],
            glibc: lines[2].split(separator: " ").last.map(String.init) ?? "",
            daemonPid: Int32(lines[3]),
            daemonPort: Int(lines[4]),
            swift: lines[5].isEmpty ? nil : lines[5],
            daemonMode: lines[6].isEmpty ? nil : lines[6],
            os: lines[7],
            daemonSocket: lines[8] == "socket"
        )
    }

    /// Why this binary cannot run on the host, or `nil` when it can.
    private func compatibilityProblem(_ facts: Facts) -> String? {
        var local = utsname()
        uname(&local)
        let architecture = withUnsafeBytes(of: &local.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let localGlibc = Self.localGlibcVersion
        if facts.os != "Linux" {
            return "\(host) runs \(facts.os), not Linux: this binary cannot run there"
        }
        if facts.architecture != architecture {
            return "\(host) is \(facts.architecture), this machine \(architecture): this binary cannot run there"
        }
        if !Self.version(facts.glibc, atLeast: localGlibc) {
            return "\(host) has glibc \(facts.glibc), older than this machine's \(localGlibc): this binary cannot run there"
        }
        return nil
    }

    /// Sends the executable and its Swift libraries unless the host has them (content-addressed:
    /// an unchanged redeploy sends nothing). Returns the library directory and whether
    /// anything was sent.
    private func install(sha: String, home: String) async throws -> (String, Bool) {
        let blob = "\(home)/blobs/\(sha)"
        let libraries = try await Self.swiftLibraries(of: executable)
        let libraryDirectory = "\(home)/lib/\(sha.prefix(16))"
        let quotedHome = quoted(home)
        let present = try await ssh.check("mkdir -p \(quotedHome)/blobs \(quotedHome)/logs \(quoted(libraryDirectory)) && chmod 700 \(quotedHome); test -x \(quoted(blob)) && echo blob; test -f \(quoted(libraryDirectory))/.complete && echo lib; true")
        var uploaded = false
        if !present.contains("blob") {
            uploaded = true
            try await ssh.upload(executable, to: blob + ".partial")
            try await ssh.check("chmod 755 \(quoted(blob)).partial && mv \(quoted(blob)).partial \(quoted(blob))")
        }
        if !libraries.isEmpty, !present.contains("lib") {
            uploaded = true
            // The Swift backtracer too (static: it needs none of the libraries), so that a
            // crash there is reported with its frames as it is here.
            for library in libraries + Self.backtracer(besides: libraries) {
                try await ssh.upload(library, to: libraryDirectory + "/")
            }
            try await ssh.check("touch \(quoted(libraryDirectory))/.complete")
        }
        return (libraryDirectory, uploaded)
    }

    /// Starts the daemon detached under the login user, listening on its socket only or also on
    /// TCP, and records where in `facts`.
    private func startDaemon(_ start: Start, listener: Listener, facts: inout Facts) async throws {
        let port = cluster.daemonPort ?? (cluster.connection == .tunnel ? 0 : HoistEnvironment.defaultPort)
        let security = switch (cluster.connection, listener) {
        case (.tunnel, .socket): "\(HoistEnvironment.tcp)=0"
        case (.tunnel, .tcp), (.none, _): "\(HoistEnvironment.requireToken)=1"
        case (.tls, _): "\(HoistEnvironment.tls)=1"
        }
        let home = quoted(start.home)
        let ready = listener == .socket ? "[ -S \(home)/daemon.sock ]" : "[ -s \(home)/daemon.port ]"
        // setsid and all three redirects, or the ssh session would wait for the daemon.
        let command = """
            mkdir -p \(home)/logs && chmod 700 \(home) && cd \(home) || exit 1
            rm -f \(home)/daemon.port \(home)/daemon.sock
            echo \(quoted(mode(listener, address: start.address))) > \(home)/daemon.mode
            \(HoistEnvironment.glibcTunables)=${\(HoistEnvironment.glibcTunables):-\(HoistEnvironment.mallocTunables)} HOIST_ROLE=daemon HOIST_HOME=\(home) HOIST_HOST=\(quoted(start.address)) HOIST_PORT=\(port) \(security) LD_LIBRARY_PATH=\(quoted(start.libraries)) setsid nohup \(quoted(start.blob)) >> \(home)/logs/daemon.log 2>&1 < /dev/null &
            pid=$!
            i=0
            while [ $i -lt 200 ]; do
              if \(ready) && [ -s \(home)/daemon.token ]; then echo $pid; cat \(home)/daemon.port 2>/dev/null || echo socket; exit 0; fi
              kill -0 $pid 2>/dev/null || break
              sleep 0.05; i=$((i+1))
            done
            echo "the daemon did not start; its log ends:" >&2; tail -5 \(home)/logs/daemon.log >&2; exit 1
            """
        let output = try await ssh.run(command)
        let answer = output.stdout.split(separator: "\n").map(String.init)
        guard output.status == 0, answer.count == 2, let pid = Int32(answer[0]), listener == .socket || Int(answer[1]) != nil else {
            throw HoistError(.daemonUnavailable, "could not start the daemon on \(host): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        facts.daemonPid = pid
        facts.daemonSocket = true
        facts.daemonPort = Int(answer[1])
    }

    /// Asks the daemon for its health until it answers (20 s at most).
    private func health(of client: DaemonClient, home: String, started: Bool) async throws -> DaemonAPI.Health {
        let deadline = ContinuousClock.now + .seconds(20)
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                return try await client.health(timeout: .seconds(2))
            } catch let error as HoistError where error.code == .certificateMismatch || error.code == .unauthorized {
                throw error
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? await ssh.check("tail -5 \(quoted(home))/logs/daemon.log")) ?? ""
        throw HoistError(.daemonUnavailable, "the daemon on \(host)\(started ? " (just started)" : "") did not answer at \(client.address) (\(lastError.map { "\($0)" } ?? "no answer")); its log ends:\n\(log)")
    }

    /// A client for the host's daemon, with its token: through a newly forwarded local socket
    /// or port (``Cluster/Connection/tunnel``), or straight to `address:port` over HTTPS with the
    /// certificate pinned (``Cluster/Connection/tls``) or plain HTTP (``Cluster/Connection/none``).
    func client(listener: Listener, port: Int?, address: String, home: String) async throws -> (DaemonClient, SSHTransport.Forward?) {
        let token = try await ssh.check("cat \(quoted(home))/daemon.token").trimmingCharacters(in: .whitespacesAndNewlines)
        switch (cluster.connection, listener, port) {
        case (.tunnel, .socket, _):
            let forward = SSHTransport.Forward.socket(local: try ssh.localSocketPath(), remote: home + "/" + HoistHome.socketFileName)
            try await ssh.forward(forward)
            guard case let .socket(local, _) = forward else { preconditionFailure() }
            return (DaemonClient(socketPath: local, token: token), forward)
        case let (.tunnel, .tcp, port?):
            let forward = SSHTransport.Forward.port(local: try LocalPorts.free(), remoteHost: "127.0.0.1", remotePort: port)
            try await ssh.forward(forward)
            guard case let .port(local, _, _) = forward else { preconditionFailure() }
            return (DaemonClient(baseURL: "http://127.0.0.1:\(local)", token: token), forward)
        case let (.none, _, port?):
            return (DaemonClient(baseURL: "http://\(address):\(port)", token: token), nil)
        case let (.tls, _, port?):
            let pem = try await ssh.check("cat \(quoted(home))/tls/cert.pem")
            let fingerprint = try CertificateFingerprint.sha256(pem: pem)
            if let pinned = cluster.pinnedCertificates[host.description], pinned != fingerprint {
                throw HoistError(.certificateMismatch, "the daemon certificate on \(host) (SHA-256 \(fingerprint)) is not the one pinned for it in cluster '\(cluster.name)' (\(pinned)); if the host's Hoist home was reset on purpose, delete that pin from \(ClusterStore().path(of: cluster.name)) and connect again")
            }
            return (try DaemonClient(baseURL: "https://\(address):\(port)", token: token, pinnedCertificatePEM: pem), nil)
        default:
            throw HoistError(.daemonUnavailable, "the daemon on \(host) has no TCP port (no daemon.port in \(home))")
        }
    }

    /// Stops a daemon that must be replaced (another protocol, another connection) when it has
    /// no runs in flight; otherwise says why it was not and what to do.
    private func replace(pid: Int32, home: String, reason: String) async throws {
        // Read from the run store itself: a daemon of another protocol or connection may not
        // be one this program can ask.
        let inFlight = try await ssh.check(#"grep -lE '"status" ?: ?"(queued|running)"' "# + quoted(home) + "/runs/*.json 2>/dev/null | wc -l").trimmingCharacters(in: .whitespacesAndNewlines)
        guard inFlight == "0" else {
            throw HoistError(.protocolMismatch, "the daemon on \(host) (pid \(pid)) \(reason), and has \(inFlight) run(s) in flight; wait for them or stop it with `hoist cluster down \(cluster.name)`, then run again")
        }
        FileHandle.standardError.write(Data("hoist: restarting the daemon on \(host): it \(reason)\n".utf8))
        try await stopDaemon(pid: pid, home: home)
    }

    /// Stops the host's daemon by its pid (TERM, then KILL after 10 s).
    func stopDaemon(pid: Int32, home: String) async throws {
        try await ssh.check("""
            kill \(pid) 2>/dev/null || exit 0
            i=0
            while kill -0 \(pid) 2>/dev/null && ! grep -qs '^State:.*Z' /proc/\(pid)/status && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
            if kill -0 \(pid) 2>/dev/null && ! grep -qs '^State:.*Z' /proc/\(pid)/status; then kill -9 \(pid); fi
            rm -f \(quoted(home))/daemon.port \(quoted(home))/daemon.mode \(quoted(home))/daemon.sock
            """)
    }

    /// glibc's `gnu_get_libc_version()`, looked up because its header is not in Swift's Glibc module.
    static var localGlibcVersion: String {
        typealias Version = @convention(c) () -> UnsafePointer<CChar>
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gnu_get_libc_version") else { return "0" }
        return String(cString: unsafeBitCast(symbol, to: Version.self)())
    }

    static func version(_ remote: String, atLeast local: String) -> Bool {
        let r = remote.split(separator: ".").compactMap { Int($0) }
        let l = local.split(separator: ".").compactMap { Int($0) }
        return r.lexicographicallyPrecedes(l) == false
    }

    /// The toolchain's static `swift-backtrace`, found beside the Swift runtime the libraries
    /// come from (`usr/lib/swift/linux` → `usr/libexec/swift/linux`), when there is one.
    static func backtracer(besides libraries: [String]) -> [String] {
        guard let core = libraries.first(where: { $0.hasSuffix("/libswiftCore.so") }) else { return [] }
        let path = URL(fileURLWithPath: core).deletingLastPathComponent().appendingPathComponent("../../../libexec/swift/linux/swift-backtrace-static").standardized.path
        return FileManager.default.isExecutableFile(atPath: path) ? [path] : []
    }

    /// The Swift runtime libraries the executable loads (those under a Swift toolchain).
    static func swiftLibraries(of executable: String) async throws -> [String] {
        let text = try await SSHTransport.execute("/usr/bin/ldd", [executable]).stdout
        return text.split(separator: "\n").compactMap { line -> String? in
            guard let arrow = line.range(of: "=> ") else { return nil }
            let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
            return path.contains("/swift/") ? path : nil
        }
    }
}

extension HostBootstrap.Listener {
    /// Where a daemon for `connection` listens when nothing forces otherwise.
    static func preferred(for connection: Cluster.Connection) -> Self {
        connection == .tunnel ? .socket : .tcp
    }
}
