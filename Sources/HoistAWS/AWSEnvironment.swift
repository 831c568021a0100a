import Foundation

/// What AWS configuration is read from: environment variables and the home directory holding
/// `.aws/`. The process's own by default; tests and embedders pass their own.
///
/// ```swift
/// let environment = AWSEnvironment(variables: ["AWS_PROFILE": "dev", "AWS_CONFIG_FILE": "/tmp/config"])
/// let config = try AWSConfig.load(environment: environment)
/// ```
public struct AWSEnvironment: Sendable {
    public var variables: [String: String]
    public var homeDirectory: String
    /// Where `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is resolved: ECS's link-local agent.
    /// Tests point it at a loopback listener.
    var containerCredentialsBase = "http://169.254.170.2"
    /// EC2's instance metadata service, unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the
    /// profile's `ec2_metadata_service_endpoint` says otherwise.
    var instanceMetadataBase = "http://169.254.169.254"
    /// The clock for credential expiry.
    var now: @Sendable () -> Date = { Date() }

    public init(variables: [String: String], homeDirectory: String? = nil) {
        self.variables = variables
        self.homeDirectory = homeDirectory ?? variables["HOME"] ?? NSHomeDirectory()
    }

    /// The process's environment and home directory.
    public static var process: AWSEnvironment {
        AWSEnvironment(variables: ProcessInfo.processInfo.environment)
    }

    /// A variable's value; an empty one counts as unset, as in the AWS CLI.
    subscript(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    var configFilePath: String { expand(self["AWS_CONFIG_FILE"] ?? "~/.aws/config") }
    var credentialsFilePath: String { expand(self["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials") }

    func expand(_ path: String) -> String {
        if path == "~" { return homeDirectory }
        if path.hasPrefix("~/") { return homeDirectory + path.dropFirst() }
        return path
    }
}
