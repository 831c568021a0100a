import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The directory where a daemon keeps its state (`~/.hoist`, or `HOIST_HOME`), and its layout.
public struct HoistHome: Sendable, Hashable {
    public let root: String

    public init(_ root: String) {
        self.root = root
    }

    /// `HOIST_HOME`, else `~/.hoist`.
    public static var current: HoistHome {
        if let path = ProcessInfo.processInfo.environment["HOIST_HOME"], !path.isEmpty {
            return HoistHome(path)
        }
        return HoistHome(FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".hoist").path)
    }

    public var daemonPidFile: String { root + "/daemon.pid" }
    /// The token the daemon's control routes (`/_hoist/apps/…`) require; mode 0600, so only
    /// the daemon's own user can deploy, remove or read logs.
    public var controlTokenFile: String { root + "/" + Self.controlTokenFileName }
    public static let controlTokenFileName = "daemon.token"

    /// The control token, created on first use.
    public func controlToken() throws -> String {
        if let text = try? String(contentsOfFile: controlTokenFile, encoding: .utf8) {
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return token }
        }
        try prepare()
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let temporary = controlTokenFile + ".\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw HoistError(.internalError, "cannot write \(controlTokenFile)")
        }
        // Two processes may race to create it: the first link wins and both read the winner.
        if link(temporary, controlTokenFile) != 0 {
            unlink(temporary)
            return try String(contentsOfFile: controlTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        unlink(temporary)
        return token
    }
    /// The daemon's private socket (mode 0600 in this 0700 directory), where Hoist's own clients
    /// reach it; the daemon also checks each peer's uid.
    public var daemonSocket: String { root + "/" + Self.socketFileName }
    public static let socketFileName = "daemon.sock"
    /// The daemon's call socket (mode 0600 in this 0700 directory, peers checked by uid), where
    /// Hoist's own callers on this machine send calls as frames rather than HTTP requests
    /// (``SocketCallHeader``).
    public var callSocket: String { root + "/" + Self.callSocketFileName }
    public static let callSocketFileName = "calls.sock"
    public var daemonLockFile: String { root + "/daemon.lock" }
    /// Where a daemon started with `HOIST_TLS=1` keeps its certificate and key.
    public var tlsDirectory: String { root + "/tls" }
    /// The daemon's self-signed certificate (mode 0644): what clients pin.
    public var tlsCertificateFile: String { tlsDirectory + "/cert.pem" }
    /// The certificate's private key (mode 0600); it never leaves this file.
    public var tlsKeyFile: String { tlsDirectory + "/key.pem" }
    /// The port the running daemon listens on, written once it listens: with `HOIST_PORT=0` the
    /// kernel picks it, so that daemons of several users on one host never collide.
    public var daemonPortFile: String { root + "/daemon.port" }
    /// The URL a client on this machine reaches the running daemon at (`https://…` with TLS),
    /// written with ``daemonPortFile``; for a daemon without a TCP listener (`HOIST_TCP=0`),
    /// its socket's ``daemonSocketURL``.
    public var daemonURLFile: String { root + "/daemon.url" }
    /// The daemon's socket as a URL (`http+unix://` and the percent-encoded path), the form
    /// HTTP clients such as AsyncHTTPClient take.
    public var daemonSocketURL: String { Self.socketURL(daemonSocket) }

    /// `path` as an `http+unix://` URL.
    public static func socketURL(_ path: String) -> String {
        "http+unix://" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? path)
    }
    public var daemonLog: String { root + "/logs/daemon.log" }
    public var logsDirectory: String { root + "/logs" }
    public var blobsDirectory: String { root + "/blobs" }
    public var appsDirectory: String { root + "/apps" }
    public var runDirectory: String { root + "/run" }
    public var workerSocket: String { root + "/run/workers.sock" }
    public var hashCacheFile: String { root + "/cache/executable-hashes.json" }

    public func appDirectory(_ app: String) -> String { appsDirectory + "/" + app }
    public func appLog(_ app: String) -> String { logsDirectory + "/" + app + ".log" }
    public func blob(_ sha256: String) -> String { blobsDirectory + "/" + sha256 }

    /// Creates the directories, private to the user.
    public func prepare() throws {
        for dir in [root, logsDirectory, blobsDirectory, appsDirectory, runDirectory, root + "/cache"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // Also when it existed before: the token, socket, runs and logs in it are the user's alone.
        chmod(root, 0o700)
    }
}

/// The environment variables Hoist reads, in one place.
public enum HoistEnvironment {
    /// `worker` or `daemon`; unset means the driver (the user's own program).
    public static let role = "HOIST_ROLE"
    public static let home = "HOIST_HOME"
    /// The local daemon's port (default 32300).
    public static let port = "HOIST_PORT"
    /// Set for workers by the daemon.
    public static let workerSocket = "HOIST_WORKER_SOCKET"
    public static let workerToken = "HOIST_WORKER_TOKEN"
    public static let appName = "HOIST_APP"
    public static let appVersion = "HOIST_APP_VERSION"
    public static let workerIndex = "HOIST_WORKER_INDEX"
    /// Where a worker's crash report goes (set by the daemon): the Swift backtracer's JSON
    /// report and ``crashStderrFile``.
    public static let crashDirectory = "HOIST_CRASH_DIR"
    /// The last of what a crashed worker wrote to standard error, in ``crashDirectory``.
    public static let crashStderrFile = "stderr.txt"
    /// How often an idle worker flushes what detached tasks printed to the app log, in
    /// milliseconds (default 250); set it in the app's ``Env/environment``.
    public static let idleFlushMilliseconds = "HOIST_IDLE_FLUSH_MS"
    /// The daemon's request body limit in bytes.
    public static let maxBodySize = "HOIST_MAX_BODY_BYTES"
    /// The address the daemon listens on (default 127.0.0.1).
    public static let host = "HOIST_HOST"
    /// When on, every route of the daemon needs its token, not only the control routes.
    public static let requireToken = "HOIST_REQUIRE_TOKEN"
    /// When on, the daemon serves HTTPS with a self-signed certificate (and needs its token).
    public static let tls = "HOIST_TLS"

    /// `1` lets every user of this machine call functions and read runs over TCP loopback
    /// without the token (deploys, removals and logs still need it). For single-user machines.
    public static let openLoopback = "HOIST_OPEN_LOOPBACK"
    /// Origins (`https://app.example`, comma-separated) whose web pages may call the daemon over TCP.
    public static let allowedOrigins = "HOIST_ALLOWED_ORIGINS"
    /// More `Host` names the TCP listener answers to (comma-separated), for a proxy in front.
    public static let allowedHosts = "HOIST_ALLOWED_HOSTS"
    /// `0` turns the TCP listener off: only the Unix socket serves.
    public static let tcp = "HOIST_TCP"
    /// `0` makes Hoist's callers send calls to the local daemon as HTTP requests on its socket
    /// instead of frames on its call socket (``HoistHome/callSocket``), as before that existed.
    public static let callSocket = "HOIST_CALL_SOCKET"

    /// glibc's tunables, which Hoist sets for the daemons and workers it starts (unless set
    /// already) to ``mallocTunables``.
    public static let glibcTunables = "GLIBC_TUNABLES"
    /// Transparent huge pages for glibc's malloc. A large payload is copied into fresh buffers,
    /// and with 4 KB pages every first touch of one is a page fault: about 35 ms of faults for a
    /// 64 MB buffer here, against a few with 2 MB pages. Kernels that offer transparent huge
    /// pages only on request (`madvise`, the common default) give them to processes that ask.
    public static let mallocTunables = "glibc.malloc.hugetlb=1"

    /// Sets ``glibcTunables`` to ``mallocTunables`` unless the environment chose its own.
    public static func addMallocTunables(to environment: inout [String: String]) {
        if environment[glibcTunables] == nil { environment[glibcTunables] = mallocTunables }
    }

    /// A comma-separated list setting, trimmed, without empty entries.
    public static func list(_ name: String) -> [String] {
        (ProcessInfo.processInfo.environment[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Whether a switch that is on by default (like `HOIST_TCP`) is on: only an explicit
    /// `0`, `false`, `no` or `off` turns it off.
    public static func isEnabled(_ name: String, default: Bool) -> Bool {
        guard let value = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces).lowercased(), !value.isEmpty else { return `default` }
        return !["0", "false", "no", "off"].contains(value)
    }

    public static let defaultHost = "127.0.0.1"

    /// The address a daemon binds: `HOIST_HOST`, else 127.0.0.1.
    public static var listenHost: String {
        let value = ProcessInfo.processInfo.environment[host]?.trimmingCharacters(in: .whitespaces) ?? ""
        return value.isEmpty ? defaultHost : value
    }

    /// Whether a switch like `HOIST_TLS` is on. Unset, empty, `0`, `false`, `no` and `off` are
    /// off; anything else is on, so that a misspelt value errs on the safe side.
    public static func isEnabled(_ name: String) -> Bool {
        isEnabled(name, default: false)
    }

    public static let defaultPort = 32300

    public static var localPort: Int {
        if let text = ProcessInfo.processInfo.environment[port], let value = Int(text), (1...65535).contains(value) {
            return value
        }
        return defaultPort
    }

    /// The port a daemon binds: `HOIST_PORT`, where 0 lets the kernel choose.
    public static var listenPort: Int {
        if let text = ProcessInfo.processInfo.environment[port], let value = Int(text), (0...65535).contains(value) {
            return value
        }
        return defaultPort
    }
}
