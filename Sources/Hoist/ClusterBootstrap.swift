import Foundation
import HoistClient
import HoistCore
import HoistSSH
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Brings a host to the point where it serves this app: checks it can run this binary, sends
/// the binary and the Swift runtime libraries, starts the daemon, forwards a port to it.
struct ClusterBootstrap {
    let host: SSHHost
    let daemonPort: Int

    /// What the far side says about itself.
    struct Facts {
        var home: String
        var architecture: String
        var glibc: String
    }

    func connect() async throws -> DaemonClient {
        let ssh = SSHTransport(host: host)
        let facts = try await self.facts(ssh)
        try checkCompatible(facts)

        let executable = ProcessSupport.executablePath
        let sha = try ExecutableHash.sha256(of: executable)
        let remoteHome = facts.home + "/.hoist"
        let blob = "\(remoteHome)/blobs/\(sha)"
        let libraries = try swiftLibraries(of: executable)
        let libraryDirectory = "\(remoteHome)/lib/\(sha.prefix(16))"
        try await ssh.check("mkdir -p \(remoteHome)/blobs \(remoteHome)/logs \(libraryDirectory) && chmod 700 \(remoteHome)")
        // Content-addressed: a binary the host already has is not sent again.
        if try await ssh.run("test -x \(blob)").status != 0 {
            try await ssh.upload(executable, to: blob + ".partial")
            try await ssh.check("chmod 755 \(blob).partial && mv \(blob).partial \(blob)")
        }
        if !libraries.isEmpty, try await ssh.run("test -f \(libraryDirectory)/.complete").status != 0 {
            for library in libraries {
                try await ssh.upload(library, to: libraryDirectory + "/")
            }
            try await ssh.check("touch \(libraryDirectory)/.complete")
        }

        let localPort = try Self.freeLocalPort()
        let started = try await startDaemonIfNeeded(ssh, blob: blob, home: remoteHome, libraries: libraryDirectory)
        try await ssh.forward(localPort: localPort, remotePort: daemonPort)
        let token = try await ssh.check("cat \(remoteHome)/daemon.token").trimmingCharacters(in: .whitespacesAndNewlines)
        let client = DaemonClient(baseURL: "http://127.0.0.1:\(localPort)", token: token)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let health = try? await client.health(timeout: .seconds(2)) {
                guard health.protocolVersion == DaemonAPI.protocolVersion else {
                    throw HoistError(.protocolMismatch, "the daemon on \(host) (pid \(health.pid)) speaks protocol \(health.protocolVersion), this program \(DaemonAPI.protocolVersion); stop it with Cluster.down() and connect again")
                }
                return client
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? await ssh.check("tail -5 \(remoteHome)/logs/daemon.log")) ?? ""
        throw HoistError(.daemonUnavailable, "the daemon on \(host)\(started ? " (just started)" : "") did not answer through the tunnel; its log ends:\n\(log)")
    }

    private func facts(_ ssh: SSHTransport) async throws -> Facts {
        let text = try await ssh.check(#"echo "$HOME"; uname -m; ldd --version 2>&1 | head -1"#)
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 3 else {
            throw SSHError(.commandFailed, host: host.description, "could not read the host's home, architecture and glibc (got: \(text))")
        }
        return Facts(home: lines[0], architecture: lines[1], glibc: lines[2].split(separator: " ").last.map(String.init) ?? "")
    }

    private func checkCompatible(_ facts: Facts) throws {
        var local = utsname()
        uname(&local)
        let architecture = withUnsafeBytes(of: &local.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let localGlibc = Self.localGlibcVersion
        guard facts.architecture == architecture else {
            throw HoistError(.deployFailed, "\(host) is \(facts.architecture), this machine \(architecture): the binary cannot run there (building on the host is not supported yet)")
        }
        guard Self.version(facts.glibc, atLeast: localGlibc) else {
            throw HoistError(.deployFailed, "\(host) has glibc \(facts.glibc), older than this machine's \(localGlibc): the binary cannot run there (building on the host is not supported yet)")
        }
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

    /// The Swift runtime libraries the executable loads (those under a Swift toolchain).
    private func swiftLibraries(of executable: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        process.arguments = [executable]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").compactMap { line -> String? in
            guard let arrow = line.range(of: "=> ") else { return nil }
            let path = line[arrow.upperBound...].split(separator: " ").first.map(String.init) ?? ""
            return path.contains("/swift/") ? path : nil
        }
    }

    /// Starts the daemon detached under the login user unless one answers already.
    /// Returns whether it started one.
    private func startDaemonIfNeeded(_ ssh: SSHTransport, blob: String, home: String, libraries: String) async throws -> Bool {
        let running = try await ssh.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:\(daemonPort)/_hoist/health")
        if running.stdout == "200" { return false }
        // setsid and all three redirects, or the ssh session would wait for the daemon.
        let command = "cd \(home) || exit 1; HOIST_ROLE=daemon HOIST_HOME=\(home) HOIST_PORT=\(daemonPort) LD_LIBRARY_PATH=\(libraries) setsid nohup \(blob) >> \(home)/logs/daemon.log 2>&1 < /dev/null & echo $!"
        try await ssh.check(command)
        for _ in 0..<100 {
            if try await ssh.run("test -f \(home)/daemon.token && curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:\(daemonPort)/_hoist/health").stdout == "200" {
                return true
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? await ssh.check("tail -5 \(home)/logs/daemon.log")) ?? ""
        throw HoistError(.daemonUnavailable, "the daemon on \(host) did not start; its log ends:\n\(log)")
    }

    static func freeLocalPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HoistError(.internalError, "no free local port for the tunnel") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
