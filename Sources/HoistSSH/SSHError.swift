import Foundation

/// A failure to reach or use a host over SSH, naming the host and what to do about it.
public struct SSHError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The host refused the key (or offered no usable way in).
        public static let authenticationFailed = Code("authenticationFailed")
        /// Nothing answered: wrong address, host down, or a firewall.
        public static let unreachable = Code("unreachable")
        /// The host key differs from the one known for this host.
        public static let hostKeyChanged = Code("hostKeyChanged")
        /// The far side has no `rsync`.
        public static let rsyncMissing = Code("rsyncMissing")
        /// A remote command failed.
        public static let commandFailed = Code("commandFailed")
        public var description: String { name }
    }

    public let code: Code
    public let host: String
    public let message: String

    public init(_ code: Code, host: String, _ message: String) {
        self.code = code
        self.host = host
        self.message = message
    }

    public var description: String { "\(host): \(message) [\(code)]" }

    /// Reads what ssh printed when it exited with status 255 (its own failures).
    static func classify(host: SSHHost, stderr: String) -> SSHError {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let last = text.split(separator: "\n").last.map(String.init) ?? text
        if text.contains("Permission denied") {
            return SSHError(.authenticationFailed, host: host.description, "the host refused the login (\(last)); check the user and key (`ssh \(host.host)` should log in without a password)")
        }
        if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || text.contains("Host key verification failed") {
            return SSHError(.hostKeyChanged, host: host.description, "the host's key does not match the one in known_hosts; if the host was reinstalled, remove its old key with `ssh-keygen -R \(host.host)`")
        }
        if text.contains("Connection refused") || text.contains("timed out") || text.contains("No route to host")
            || text.contains("Could not resolve") || text.contains("Network is unreachable") || text.contains("Connection closed") {
            return SSHError(.unreachable, host: host.description, "cannot connect (\(last)); check the address, that sshd runs there, and the network")
        }
        return SSHError(.commandFailed, host: host.description, "ssh failed: \(last)")
    }
}
