/// Requests and answers of the daemon's own routes (`/_hoist/…`).
public enum DaemonAPI {
    /// Bumped when driver and daemon would misunderstand each other.
    public static let protocolVersion = 4

    /// `GET /_hoist/health`
    public struct Health: Codable, Sendable {
        public var status: String
        public var protocolVersion: Int
        public var pid: Int32
        public var version: String
        public var home: String
        public var startedAt: Double

        public init(status: String, protocolVersion: Int, pid: Int32, version: String, home: String, startedAt: Double) {
            self.status = status
            self.protocolVersion = protocolVersion
            self.pid = pid
            self.version = version
            self.home = home
            self.startedAt = startedAt
        }
    }

    /// `POST /_hoist/apps/{name}/deploy`
    public struct DeployRequest: Codable, Sendable {
        /// SHA-256 of the executable, lower-case hex.
        public var sha256: String
        /// Where the daemon can read the executable when it does not have it yet (same machine).
        public var executablePath: String?
        public var env: Env
        /// Values of the env's secrets, taken from the caller's environment.
        public var secretValues: [String: String]

        public init(sha256: String, executablePath: String?, env: Env, secretValues: [String: String]) {
            self.sha256 = sha256
            self.executablePath = executablePath
            self.env = env
            self.secretValues = secretValues
        }
    }

    public struct DeployResponse: Codable, Sendable {
        /// False when the same binary and env were already serving.
        public var changed: Bool
        public var app: AppInfo
        /// What the env's setup commands printed, when this deploy ran them (once per env version).
        public var setupOutput: String?
        public init(changed: Bool, app: AppInfo, setupOutput: String? = nil) {
            self.changed = changed
            self.app = app
            self.setupOutput = setupOutput
        }
    }

    /// An app as `GET /` and `GET /_hoist/apps` list it.
    public struct AppInfo: Codable, Sendable {
        public var name: String
        public var sha256: String
        public var env: String
        public var replicas: Int
        public var readyWorkers: Int
        public var functions: [FunctionDescriptor]
        public var deployedAt: Double

        public init(name: String, sha256: String, env: String, replicas: Int, readyWorkers: Int, functions: [FunctionDescriptor], deployedAt: Double) {
            self.name = name
            self.sha256 = sha256
            self.env = env
            self.replicas = replicas
            self.readyWorkers = readyWorkers
            self.functions = functions
            self.deployedAt = deployedAt
        }
    }

    /// `GET /`
    public struct Listing: Codable, Sendable {
        public var apps: [AppInfo]
        public init(apps: [AppInfo]) { self.apps = apps }
    }
}
