import Foundation

/// How to reach one host with the system's OpenSSH client. Anything left `nil` comes from the
/// user's own `~/.ssh/config` (or `configFile`), so agents, `ProxyJump` and known hosts work as
/// the user has them.
///
/// ```swift
/// let host = SSHHost("10.1.2.3", user: "ubuntu", identityFile: "~/.ssh/id_ed25519")
/// let alias = SSHHost("gpu-box")            // a Host entry of ~/.ssh/config
/// ```
public struct SSHHost: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A host name, address, or `Host` alias from the ssh configuration.
    public var host: String
    public var user: String?
    public var port: Int?
    public var identityFile: String?
    /// An ssh configuration file to use instead of `~/.ssh/config`.
    public var configFile: String?

    public init(_ host: String, user: String? = nil, port: Int? = nil, identityFile: String? = nil, configFile: String? = nil) {
        self.host = host
        self.user = user
        self.port = port
        self.identityFile = identityFile
        self.configFile = configFile
    }

    public var description: String {
        (user.map { "\($0)@" } ?? "") + host + (port.map { ":\($0)" } ?? "")
    }
}
