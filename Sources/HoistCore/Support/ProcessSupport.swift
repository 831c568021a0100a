import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small process utilities shared by the daemon and the client.
public enum ProcessSupport {
    /// The running executable's path.
    public static var executablePath: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return path
        }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Starts `path` in a new session, detached from this process, with stdin from /dev/null and
    /// stdout and stderr appended to `logPath`. Returns the child's PID.
    public static func spawnDetached(path: String, arguments: [String], environment: [String: String], logPath: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        #if os(Linux)
        posix_spawnattr_setflags(&attributes, Int16(0x80 /* POSIX_SPAWN_SETSID, not exported to Swift */ | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        #endif
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The detached process must hold none of our descriptors: a pipe or socket it kept
        // open would make whoever waits on us (a shell, a test) wait for it too.
        closeInheritedDescriptors(&actions)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw HoistError(.daemonUnavailable, "could not start \(path): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Adds actions that close every descriptor above 2 in the child. glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34+) is not visible to Swift, so it is
    /// looked up; without it, the descriptors open now are closed one by one.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for fd in open where fd > 2 && fcntl(fd, F_GETFD) >= 0 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// Whether something accepts TCP connections on `host:port` (IPv4). On loopback a refused
    /// connection answers at once, unlike an HTTP client that retries until its deadline.
    public static func isListening(host: String = "127.0.0.1", port: Int) -> Bool {
        LocalPorts.isListening(port, host: host)
    }

    /// Whether a process with this PID exists (and may be signalled by us).
    /// A zombie (exited, not yet reaped by its parent) counts as gone.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        #if os(Linux)
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            if state == "Z" || state == "X" { return false }
        }
        #endif
        return true
    }

    /// A signal's name, for messages (`SIGKILL`).
    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGILL: return "SIGILL"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGINT: return "SIGINT"
        case SIGTRAP: return "SIGTRAP"
        case SIGPIPE: return "SIGPIPE"
        default: return "signal \(signal)"
        }
    }

    /// Holds an exclusive `flock` on a file for as long as the returned descriptor is open.
    /// Returns `nil` when another process holds it.
    public static func tryLock(_ path: String) -> Int32? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        return fd
    }

    /// Blocks until the exclusive lock is ours; for short critical sections across processes.
    public static func withLock<T>(_ path: String, _ body: () async throws -> T) async throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HoistError(.internalError, "could not open lock file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }
}
