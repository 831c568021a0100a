// The settings a ``Cluster`` is made of.
extension Cluster {
    /// How this machine reaches the hosts' daemons.
    public enum Connection: String, Codable, Sendable, CaseIterable {
        /// The daemon listens only on its private Unix socket in the login user's Hoist home; calls
        /// go through a local socket (0600) forwarded to it over SSH. A host whose sshd refuses
        /// socket forwarding gets a daemon on its loopback TCP, with the token on every route.
        case tunnel
        /// The daemon listens on the host's address with HTTPS, its certificate pinned by
        /// fingerprint in the saved cluster config, and every request needs a bearer token.
        case tls
        /// Plain HTTP on the host's address with a bearer token: for trusted networks only.
        case none
    }

    /// SSH settings shared by all hosts given as plain names.
    public struct SSHOptions: Codable, Sendable, Hashable {
        public var user: String?
        public var key: String?
        public var port: Int?
        /// An ssh configuration file to use instead of `~/.ssh/config`.
        public var configFile: String?

        public init(user: String? = nil, key: String? = nil, port: Int? = nil, configFile: String? = nil) {
            self.user = user
            self.key = key
            self.port = port
            self.configFile = configFile
        }
    }

    /// How the app's code gets to a host.
    public enum CodeDelivery: String, Codable, Sendable, CaseIterable {
        /// Send the running binary when the host can run it (same architecture, glibc not
        /// older); otherwise sync the package and build it there.
        case automatic
        /// Always send the running binary; an incompatible host is an error.
        case upload
        /// Always sync the package and build it on the host with `swift build`.
        case build
    }

    /// How a host builds the package when it builds (``CodeDelivery/build``).
    public struct BuildOptions: Codable, Sendable, Hashable {
        /// The package to sync; `nil` finds the nearest `Package.swift` at or above the current
        /// directory.
        public var packageDirectory: String?
        /// The executable product to build; `nil` uses the running executable's name.
        public var product: String?
        /// `release` (the default) or `debug`.
        public var configuration: String
        /// The most the synced package may weigh, in bytes (default 100 MB): a larger one is an
        /// error that names its largest files. Raise it, or leave big files out with `.gitignore`.
        public var syncLimitBytes: Int

        public init(packageDirectory: String? = nil, product: String? = nil, configuration: String = "release", syncLimitBytes: Int = 100_000_000) {
            self.packageDirectory = packageDirectory
            self.product = product
            self.configuration = configuration
            self.syncLimitBytes = syncLimitBytes
        }
    }
}
