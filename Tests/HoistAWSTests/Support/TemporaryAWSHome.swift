import Foundation
@testable import HoistAWS

/// A home directory of the test's own with `.aws/config` and `.aws/credentials`, so that no
/// test reads the real `~/.aws`. Removed when the value is released.
final class TemporaryAWSHome: Sendable {
    let path: String

    init(config: String? = nil, credentials: String? = nil) throws {
        path = NSTemporaryDirectory() + "hoist-aws-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path + "/.aws", withIntermediateDirectories: true)
        if let config { try config.write(toFile: path + "/.aws/config", atomically: true, encoding: .utf8) }
        if let credentials { try credentials.write(toFile: path + "/.aws/credentials", atomically: true, encoding: .utf8) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// An environment of exactly `variables`, this home, and instance metadata switched off so
    /// that no test ever waits on 169.254.169.254.
    func environment(_ variables: [String: String] = [:]) -> AWSEnvironment {
        var variables = variables
        if variables["AWS_EC2_METADATA_SERVICE_ENDPOINT"] == nil, variables["AWS_EC2_METADATA_DISABLED"] == nil {
            variables["AWS_EC2_METADATA_DISABLED"] = "true"
        }
        return AWSEnvironment(variables: variables, homeDirectory: path)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
