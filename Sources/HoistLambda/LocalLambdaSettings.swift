import Foundation

/// Where and how a local Lambda runs.
///
/// ```swift
/// let settings = LocalLambdaSettings(root: HoistHome.current.root + "/lambda", port: 9001)
/// try await LocalLambda(settings: settings).run()
/// ```
public struct LocalLambdaSettings: Sendable {
    /// Its home: functions, environments' `/tmp`, logs (`logs/aws/lambda/<name>/<stream>`),
    /// IAM roles (`iam-roles.json`) and log groups' settings (`log-groups.json`).
    public var root: String
    public var host: String
    /// 0 lets the kernel pick; the port is written to `lambda.port` in ``root`` once listening.
    public var port: Int
    /// The region in ARNs and `AWS_REGION`.
    public var region: String
    /// The account id in ARNs.
    public var account: String
    /// Environments running at once over all functions; more invocations get 429.
    public var concurrency: Int
    /// The Python that runs `python3.x` functions, with `awslambdaric` installed.
    public var python: String?
    /// How long an idle environment stays warm before it is stopped (Lambda reclaims idle
    /// environments after minutes too).
    public var keepWarm: Duration

    public init(root: String, host: String = "127.0.0.1", port: Int = 9001, region: String? = nil, account: String = "123456789012", concurrency: Int = 100, python: String? = nil, keepWarm: Duration = .seconds(600)) {
        self.root = root
        self.host = host
        self.port = port
        let environment = ProcessInfo.processInfo.environment
        self.region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        self.account = account
        self.concurrency = concurrency
        self.keepWarm = keepWarm
        self.python = python ?? Self.findPython()
    }

    var functionsDirectory: String { root + "/functions" }
    var rolesFile: String { root + "/iam-roles.json" }
    /// Where the port is written once the server listens.
    public var portFile: String { root + "/lambda.port" }
    var pidFile: String { root + "/lambda.pid" }

    /// A log stream's file: `logs/aws/lambda/<name>/2026/12/03/[$LATEST]<id>`.
    func logPath(group: String, stream: String) -> String {
        root + "/logs" + group + "/" + stream
    }

    /// The first `python3` on the `PATH` that can import awslambdaric.
    public static func findPython() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first(where: hasRuntimeClient)
    }

    /// Whether `python` runs and can import awslambdaric, AWS's runtime client for Python.
    public static func hasRuntimeClient(_ python: String) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import awslambdaric"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
