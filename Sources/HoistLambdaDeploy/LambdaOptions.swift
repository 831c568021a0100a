import Foundation
import HoistCore
import HoistLambdaPackage

/// How a Lambda function is set up: its knobs, checked against Lambda's ranges before anything
/// is sent. Nothing is silently changed: a value out of range is an error that says the range.
///
/// ```swift
/// var options = LambdaOptions(timeout: .seconds(30), memorySize: 512)
/// options.environment = ["MODE": "fast"]
/// options.retentionDays = 14
/// let remote = try await summer.to(.awsLambda(profile: "lambda", options: options))
/// ```
public struct LambdaOptions: Sendable, Equatable {
    /// How long one invocation may run: 1 s to 900 s (Lambda's default is 3 s; Hoist's 60 s).
    public var timeout: Duration
    /// Memory in MB, 128–10,240 (CPU grows with it).
    public var memorySize: Int
    /// The size of `/tmp` in MB, 512–10,240.
    public var tmpSize: Int
    /// Environment variables of the function (with an `Env`'s variables and secrets added).
    public var environment: [String: String]
    /// Days CloudWatch Logs keeps the function's log (one of the values Logs accepts), `nil` to keep forever.
    public var retentionDays: Int?
    public var description: String?
    public var tags: [String: String]
    /// Concurrent executions reserved for the function; `nil` leaves it on the account's pool.
    public var reservedConcurrency: Int?
    /// The instruction set; a Hoist app's bootstrap is built for this machine's.
    public var architecture: LambdaArchitecture
    /// An execution role to use instead of the `hoist-<name>-role` Hoist makes.
    public var role: String?

    public init(
        timeout: Duration = .seconds(60), memorySize: Int = 512, tmpSize: Int = 512, environment: [String: String] = [:],
        retentionDays: Int? = 30, description: String? = nil, tags: [String: String] = [:], reservedConcurrency: Int? = nil,
        architecture: LambdaArchitecture = .host, role: String? = nil
    ) {
        self.timeout = timeout
        self.memorySize = memorySize
        self.tmpSize = tmpSize
        self.environment = environment
        self.retentionDays = retentionDays
        self.description = description
        self.tags = tags
        self.reservedConcurrency = reservedConcurrency
        self.architecture = architecture
        self.role = role
    }

    /// The retention periods CloudWatch Logs accepts, in days.
    public static let retentionValues = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

    /// The timeout in whole seconds, as Lambda takes it.
    public var timeoutSeconds: Int {
        let (seconds, attoseconds) = timeout.components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }

    /// Throws for the first knob out of Lambda's range, naming the range.
    public func validate() throws {
        let (seconds, attoseconds) = timeout.components
        if seconds < 1 || seconds > 900 || (seconds == 900 && attoseconds > 0) {
            throw HoistError(.invalidConfiguration, "Lambda timeout \(timeout) is out of range: it must be 1 to 900 seconds")
        }
        if attoseconds != 0 {
            throw HoistError(.invalidConfiguration, "Lambda timeout \(timeout) is not whole seconds: Lambda takes 1 to 900 whole seconds")
        }
        guard (128...10_240).contains(memorySize) else {
            throw HoistError(.invalidConfiguration, "Lambda memorySize \(memorySize) MB is out of range: it must be 128 to 10240 MB")
        }
        guard (512...10_240).contains(tmpSize) else {
            throw HoistError(.invalidConfiguration, "Lambda tmpSize (/tmp) \(tmpSize) MB is out of range: it must be 512 to 10240 MB")
        }
        if let retentionDays, !Self.retentionValues.contains(retentionDays) {
            throw HoistError(.invalidConfiguration, "log retention of \(retentionDays) days is not one CloudWatch Logs accepts; use one of \(Self.retentionValues.map(String.init).joined(separator: ", ")), or nil to keep logs forever")
        }
        if let reservedConcurrency, reservedConcurrency < 0 {
            throw HoistError(.invalidConfiguration, "reservedConcurrency \(reservedConcurrency) is negative: reserve 0 (stops all invocations) or more, or nil for none")
        }
        if let description, description.count > 256 {
            throw HoistError(.invalidConfiguration, "a Lambda description is at most 256 characters; this one has \(description.count)")
        }
        for name in environment.keys where name.range(of: #"^[A-Za-z][A-Za-z0-9_]*$"#, options: .regularExpression) == nil {
            throw HoistError(.invalidConfiguration, "'\(name)' cannot name a Lambda environment variable: start with a letter, then letters, digits and underscores")
        }
        for name in environment.keys where Self.reservedVariables.contains(name) {
            throw HoistError(.invalidConfiguration, "\(name) is set by Lambda itself and cannot be set on a function; rename the variable")
        }
    }

    /// Variables Lambda reserves (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
    static let reservedVariables: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ]
}
