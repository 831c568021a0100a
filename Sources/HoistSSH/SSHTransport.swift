import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Commands, uploads and port forwards to one host, over one multiplexed master connection
/// (ControlMaster/ControlPersist) so that each command costs a round trip, not a login.
///
/// ```swift
/// let ssh = SSHTransport(host: SSHHost("gpu-box"))
/// let arch = try await ssh.run("uname -m").stdout      // "x86_64\n"
/// try await ssh.upload("/path/app", to: ".hoist/blobs/ab12…")
/// ```
public struct SSHTransport: Sendable {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public let host: SSHHost
    /// Where the master connection's socket lives (short: socket paths are limited to ~100 bytes).
    public let controlDirectory: String

    public init(host: SSHHost, controlDirectory: String = NSTemporaryDirectory() + "hoist-ssh-\(getuid())") {
        self.host = host
        self.controlDirectory = controlDirectory
    }

    /// Options every ssh invocation shares: the master connection and non-interactive use.
    /// Host keys are accepted on first use and checked after, never ignored.
    var options: [String] {
        var options = [
            "-o", "ControlMaster=auto",
            "-o", "ControlPath=\(controlDirectory)/%C",
            "-o", "ControlPersist=300",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=15",
            // The master makes the listeners of forwards: a local socket is the user's alone.
            "-o", "StreamLocalBindMask=0177",
            "-o", "StreamLocalBindUnlink=yes",
        ]
        if let configFile = host.configFile { options = ["-F", configFile] + options }
        if let user = host.user { options += ["-l", user] }
        if let port = host.port { options += ["-p", String(port)] }
        if let key = host.identityFile {
            options += ["-i", NSString(string: key).expandingTildeInPath, "-o", "IdentitiesOnly=yes"]
        }
        return options
    }

    /// The `ssh` command line that reaches the host with this transport's options, for handing
    /// the terminal to the user (`hoist cluster ssh`); append `--` and a command to run one.
    public func commandLine(interactive: Bool) -> [String] {
        try? FileManager.default.createDirectory(atPath: controlDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var options = self.options
        // A terminal session must not answer "BatchMode" prompts with a failure it cannot see.
        if interactive { options += ["-t"] }
        return ["/usr/bin/ssh"] + options + [host.host]
    }

    /// The address ssh connects to for this host, after `~/.ssh/config` (`ssh -G`): an alias's
    /// `HostName`, or the host as given.
    public func resolvedAddress() async throws -> String {
        let output = try await Self.execute("/usr/bin/ssh", ["-G"] + options + [host.host])
        for line in output.stdout.split(separator: "\n") where line.hasPrefix("hostname ") {
            return String(line.dropFirst("hostname ".count))
        }
        return host.host
    }

    /// Runs a shell command on the host. Throws ``SSHError`` when ssh itself fails (status 255);
    /// the command's own status is in the output.
    @discardableResult
    public func run(_ command: String, stdin: Data? = nil) async throws -> Output {
        try FileManager.default.createDirectory(atPath: controlDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let output = try await Self.execute("/usr/bin/ssh", options + [host.host, "--", command], stdin: stdin)
        if output.status == 255 {
            throw SSHError.classify(host: host, stderr: output.stderr)
        }
        return output
    }

    /// Runs a shell command on the host and hands each line it prints (standard output and
    /// error together) to `line` as it arrives; returns the command's exit status.
    public func stream(_ command: String, line: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        try FileManager.default.createDirectory(atPath: controlDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let result = try await Subprocess.run(
            .path(FilePath("/usr/bin/ssh")),
            arguments: Arguments(options + [host.host, "--", "exec 2>&1; " + command]),
            input: .none,
            output: .sequence,
            error: .string(limit: 1 << 20)
        ) { execution in
            for try await text in execution.standardOutput.strings() {
                line(text.hasSuffix("\n") ? String(text.dropLast()) : text)
            }
        }
        let status = Self.status(result.terminationStatus)
        if status == 255 { throw SSHError.classify(host: host, stderr: result.standardError) }
        return status
    }

    /// Runs a command and throws unless it exits 0.
    @discardableResult
    public func check(_ command: String, stdin: Data? = nil) async throws -> String {
        let output = try await run(command, stdin: stdin)
        guard output.status == 0 else {
            throw SSHError(.commandFailed, host: host.description, "`\(command)` exited with status \(output.status): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output.stdout
    }

    /// Copies a local file or directory to a path on the host with rsync over the master
    /// connection; only what changed is sent.
    public func upload(_ local: String, to remote: String, extraArguments: [String] = []) async throws {
        _ = try await run("true")  // make sure the master is up, with ssh's own error reporting
        let shell = (["/usr/bin/ssh"] + options).map(Self.shellQuote).joined(separator: " ")
        let output = try await Self.execute(
            "/usr/bin/rsync",
            ["-a", "--partial", "-e", shell] + extraArguments + [local, "\(host.host):\(remote)"],
            stdin: nil
        )
        guard output.status == 0 else {
            if output.stderr.contains("command not found") || output.stderr.contains("rsync: not found") || output.status == 127 {
                throw SSHError(.rsyncMissing, host: host.description, "the host has no rsync; install it there (`sudo apt-get install rsync`)")
            }
            if output.status == 255 { throw SSHError.classify(host: host, stderr: output.stderr) }
            throw SSHError(.commandFailed, host: host.description, "rsync of \(local) failed (status \(output.status)): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// A forward over the master connection: what listens here and where it leads on the host.
    public enum Forward: Sendable, Hashable, CustomStringConvertible {
        /// A TCP port on this machine's loopback to `remoteHost:remotePort` as seen from the host.
        case port(local: Int, remoteHost: String, remotePort: Int)
        /// A Unix socket here (mode 0600) to a Unix socket on the host: no TCP port on either side.
        case socket(local: String, remote: String)

        /// The `-L` argument for ssh.
        var specification: String {
            switch self {
            case let .port(local, remoteHost, remotePort): "127.0.0.1:\(local):\(remoteHost):\(remotePort)"
            case let .socket(local, remote): "\(local):\(remote)"
            }
        }

        public var description: String {
            switch self {
            case let .port(local, remoteHost, remotePort): "local port \(local) to \(remoteHost):\(remotePort)"
            case let .socket(local, remote): "local socket \(local) to \(remote)"
            }
        }
    }

    /// Opens `forward` on the master connection. A local socket is the user's alone (mode 0600,
    /// `StreamLocalBindMask`, in the 0700 control directory). An sshd that forbids the forward
    /// (`AllowTcpForwarding`, `AllowStreamLocalForwarding`) accepts it here and refuses each
    /// connection through it.
    public func forward(_ forward: Forward) async throws {
        _ = try await run("true")
        if case let .socket(local, _) = forward, local.utf8.count > 107 {
            throw SSHError(.commandFailed, host: host.description, "the local socket path \(local) is longer than a Unix socket path may be (107 bytes); set TMPDIR to a shorter directory")
        }
        let output = try await Self.execute("/usr/bin/ssh", options + ["-o", "ExitOnForwardFailure=yes", "-O", "forward", "-L", forward.specification, host.host], stdin: nil)
        guard output.status == 0 else {
            throw SSHError(.commandFailed, host: host.description, "could not forward \(forward): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Stops a forward made by ``forward(_:)``, freeing its local port or removing its local
    /// socket; nothing happens on the host when the master connection (and with it the forward)
    /// is gone.
    public func cancelForward(_ forward: Forward) async {
        _ = try? await Self.execute("/usr/bin/ssh", options + ["-O", "cancel", "-L", forward.specification, host.host], stdin: nil)
        if case let .socket(local, _) = forward { unlink(local) }
    }

    /// A fresh path for a local forwarded socket, in the (0700) control directory.
    public func localSocketPath() throws -> String {
        try FileManager.default.createDirectory(atPath: controlDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return controlDirectory + "/d-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) + ".sock"
    }

    /// Closes the master connection (and its forwards).
    public func disconnect() async {
        _ = try? await Self.execute("/usr/bin/ssh", options + ["-O", "exit", host.host], stdin: nil)
    }

    /// Whether a master connection is up.
    public func isConnected() async -> Bool {
        (try? await Self.execute("/usr/bin/ssh", options + ["-O", "check", host.host], stdin: nil).status) == 0
    }

    static func shellQuote(_ word: String) -> String { quoted(word) }

    /// A process's end as a shell reports it: the exit code, or 128 + the signal.
    static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case let .exited(code): code
        case let .signaled(signal): 128 + signal
        }
    }

    /// Runs a program with an argument array (no local shell) and collects its output.
    public static func execute(_ path: String, _ arguments: [String], stdin: Data? = nil) async throws -> Output {
        let limit = 64 << 20
        let result = if let stdin {
            try await Subprocess.run(.path(FilePath(path)), arguments: Arguments(arguments), input: .data(stdin), output: .string(limit: limit), error: .string(limit: limit))
        } else {
            try await Subprocess.run(.path(FilePath(path)), arguments: Arguments(arguments), input: .none, output: .string(limit: limit), error: .string(limit: limit))
        }
        let status = Self.status(result.terminationStatus)
        return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
    }
}

/// `word` as one word of a POSIX shell command line: as it is when it holds only characters no
/// shell treats specially, otherwise in single quotes (a `'` inside becomes `'\\''`). Every path and
/// value put into a command run on a host goes through this, so that a home or directory with
/// spaces, quotes, `$` or `;` in it works and cannot inject a command.
package func quoted(_ word: String) -> String {
    if !word.isEmpty && word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:%@,+".contains($0)) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
