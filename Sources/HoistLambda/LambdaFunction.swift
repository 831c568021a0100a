import Foundation

/// A function of the local Lambda as it is stored (`functions/<name>/function.json`), and its
/// `FunctionConfiguration` as the Lambda API renders it.
struct LambdaFunction: Codable, Sendable {
    var name: String
    var runtime: String
    var role: String
    var handler: String
    var description: String = ""
    var timeout: Int = 3
    var memorySize: Int = 128
    var ephemeralStorage: Int = 512
    var architectures: [String] = ["x86_64"]
    var variables: [String: String] = [:]
    var codeSha256: String
    var codeSize: Int
    /// The unzipped code of this revision, under the function's folder.
    var codeDirectory: String
    var lastModified: String
    var revisionID: String
    var reservedConcurrency: Int?
    var url: URLConfig?

    struct URLConfig: Codable, Sendable {
        var authType: String
        var invokeMode: String
        var port: Int
        var creationTime: String
        var lastModifiedTime: String
    }

    static let runtimes = ["provided", "provided.al2", "provided.al2023", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13"]

    var isPython: Bool { runtime.hasPrefix("python") }

    func arn(region: String, account: String, qualifier: String? = nil) -> String {
        "arn:aws:lambda:\(region):\(account):function:\(name)" + (qualifier.map { ":\($0)" } ?? "")
    }

    var logGroup: String { "/aws/lambda/\(name)" }

    /// `FunctionConfiguration`, with the fields clients read.
    func configuration(region: String, account: String) -> Configuration {
        Configuration(
            FunctionName: name, FunctionArn: arn(region: region, account: account), Runtime: runtime, Role: role, Handler: handler,
            CodeSize: codeSize, Description: description, Timeout: timeout, MemorySize: memorySize, LastModified: lastModified,
            CodeSha256: codeSha256, Version: "$LATEST", Environment: variables.isEmpty ? nil : .init(Variables: variables),
            TracingConfig: .init(Mode: "PassThrough"), RevisionId: revisionID, State: "Active", LastUpdateStatus: "Successful",
            PackageType: "Zip", Architectures: architectures, EphemeralStorage: .init(Size: ephemeralStorage),
            LoggingConfig: .init(LogFormat: "Text", LogGroup: logGroup), SnapStart: .init(ApplyOn: "None", OptimizationStatus: "Off")
        )
    }

    // AWS's own field names, so that the JSON is the API's.
    struct Configuration: Codable, Sendable {
        var FunctionName: String
        var FunctionArn: String
        var Runtime: String
        var Role: String
        var Handler: String
        var CodeSize: Int
        var Description: String
        var Timeout: Int
        var MemorySize: Int
        var LastModified: String
        var CodeSha256: String
        var Version: String
        var Environment: EnvironmentResponse?
        var TracingConfig: Tracing
        var RevisionId: String
        var State: String
        var LastUpdateStatus: String
        var PackageType: String
        var Architectures: [String]
        var EphemeralStorage: Storage
        var LoggingConfig: Logging
        var SnapStart: Snap

        struct EnvironmentResponse: Codable, Sendable { var Variables: [String: String] }
        struct Tracing: Codable, Sendable { var Mode: String }
        struct Storage: Codable, Sendable { var Size: Int }
        struct Logging: Codable, Sendable { var LogFormat: String; var LogGroup: String }
        struct Snap: Codable, Sendable { var ApplyOn: String; var OptimizationStatus: String }
    }

    /// `2026-12-03T10:15:00.123+0000`, Lambda's `LastModified`.
    static func timestamp(_ date: Date = Date()) -> String {
        LambdaEnvironment.utc("yyyy-MM-dd'T'HH:mm:ss.SSS'+0000'", date)
    }
}

/// The parts of `CreateFunction`, `UpdateFunctionConfiguration` and `UpdateFunctionCode`
/// requests that are read.
struct FunctionRequest: Decodable {
    var FunctionName: String?
    var Runtime: String?
    var Role: String?
    var Handler: String?
    var Description: String?
    var Timeout: Int?
    var MemorySize: Int?
    var Code: CodeRequest?
    var ZipFile: String?
    var Environment: EnvironmentRequest?
    var EphemeralStorage: StorageRequest?
    var Architectures: [String]?
    var PackageType: String?
    var RevisionId: String?
    var DryRun: Bool?

    struct CodeRequest: Decodable {
        var ZipFile: String?
        var S3Bucket: String?
        var ImageUri: String?
    }
    struct EnvironmentRequest: Decodable { var Variables: [String: String]? }
    struct StorageRequest: Decodable { var Size: Int? }
}
