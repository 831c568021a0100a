import Foundation

/// A function as Lambda describes it (`GetFunction`'s `Configuration`, and the answer of create
/// and update): the fields a deployer compares and waits on.
public struct LambdaFunctionConfiguration: Codable, Sendable, Equatable {
    public var functionName: String
    public var functionArn: String?
    public var runtime: String?
    public var role: String?
    public var handler: String?
    public var codeSize: Int?
    /// Base64 of the zip's SHA-256: a redeploy compares it with the new zip's.
    public var codeSha256: String?
    public var description: String?
    public var timeout: Int?
    public var memorySize: Int?
    public var lastModified: String?
    public var version: String?
    public var environment: LambdaEnvironmentVariables?
    public var ephemeralStorage: LambdaEphemeralStorage?
    public var architectures: [String]?
    public var revisionId: String?
    /// `Pending`, `Active`, `Inactive`, `Failed`.
    public var state: String?
    public var stateReason: String?
    public var stateReasonCode: String?
    /// `InProgress`, `Successful`, `Failed`.
    public var lastUpdateStatus: String?
    public var lastUpdateStatusReason: String?
    public var packageType: String?

    public init(functionName: String) { self.functionName = functionName }

    enum CodingKeys: String, CodingKey {
        case functionName = "FunctionName", functionArn = "FunctionArn", runtime = "Runtime", role = "Role", handler = "Handler"
        case codeSize = "CodeSize", codeSha256 = "CodeSha256", description = "Description", timeout = "Timeout", memorySize = "MemorySize"
        case lastModified = "LastModified", version = "Version", environment = "Environment", ephemeralStorage = "EphemeralStorage"
        case architectures = "Architectures", revisionId = "RevisionId", state = "State", stateReason = "StateReason"
        case stateReasonCode = "StateReasonCode", lastUpdateStatus = "LastUpdateStatus", lastUpdateStatusReason = "LastUpdateStatusReason"
        case packageType = "PackageType"
    }
}

/// `Environment: {Variables: {…}}`. Lambda replaces the variables as a whole on update.
public struct LambdaEnvironmentVariables: Codable, Sendable, Equatable {
    public var variables: [String: String]?
    public init(variables: [String: String]) { self.variables = variables }
    enum CodingKeys: String, CodingKey { case variables = "Variables" }
}

/// `EphemeralStorage: {Size: MB}`: the size of `/tmp`, 512–10,240 MB.
public struct LambdaEphemeralStorage: Codable, Sendable, Equatable {
    public var size: Int
    public init(size: Int) { self.size = size }
    enum CodingKeys: String, CodingKey { case size = "Size" }
}

/// What `CreateFunction` takes besides the name and the zip. `nil` leaves Lambda's default.
///
/// ```swift
/// var settings = LambdaFunctionSettings(role: roleArn, runtime: "provided.al2023", handler: "summer")
/// settings.timeout = 30
/// settings.variables = ["MODE": "fast"]
/// ```
public struct LambdaFunctionSettings: Sendable, Equatable {
    public var role: String?
    public var runtime: String?
    public var handler: String?
    /// Seconds, 1–900.
    public var timeout: Int?
    /// MB, 128–10,240.
    public var memorySize: Int?
    /// `/tmp` in MB, 512–10,240.
    public var ephemeralStorageSize: Int?
    /// Replaces all the function's variables when set.
    public var variables: [String: String]?
    /// `x86_64` or `arm64`.
    public var architectures: [String]?
    public var description: String?

    public init(role: String? = nil, runtime: String? = nil, handler: String? = nil, timeout: Int? = nil, memorySize: Int? = nil,
                ephemeralStorageSize: Int? = nil, variables: [String: String]? = nil, architectures: [String]? = nil, description: String? = nil) {
        self.role = role
        self.runtime = runtime
        self.handler = handler
        self.timeout = timeout
        self.memorySize = memorySize
        self.ephemeralStorageSize = ephemeralStorageSize
        self.variables = variables
        self.architectures = architectures
        self.description = description
    }

    /// The JSON fields these settings set (architectures only where the operation takes them).
    func fields(includingArchitectures: Bool) -> [String: Any] {
        var fields: [String: Any] = [:]
        if let role { fields["Role"] = role }
        if let runtime { fields["Runtime"] = runtime }
        if let handler { fields["Handler"] = handler }
        if let timeout { fields["Timeout"] = timeout }
        if let memorySize { fields["MemorySize"] = memorySize }
        if let ephemeralStorageSize { fields["EphemeralStorage"] = ["Size": ephemeralStorageSize] }
        if let variables { fields["Environment"] = ["Variables": variables] }
        if let description { fields["Description"] = description }
        if includingArchitectures, let architectures { fields["Architectures"] = architectures }
        return fields
    }
}

/// A function's URL (`CreateFunctionUrlConfig`, `GetFunctionUrlConfig`).
public struct LambdaFunctionURLConfig: Codable, Sendable, Equatable {
    public var functionUrl: String
    public var functionArn: String?
    /// `AWS_IAM` or `NONE`.
    public var authType: String
    /// `BUFFERED` or `RESPONSE_STREAM`.
    public var invokeMode: String?
    public var creationTime: String?
    public var lastModifiedTime: String?

    enum CodingKeys: String, CodingKey {
        case functionUrl = "FunctionUrl", functionArn = "FunctionArn", authType = "AuthType", invokeMode = "InvokeMode"
        case creationTime = "CreationTime", lastModifiedTime = "LastModifiedTime"
    }
}

/// A function's code: a zip sent inline (at most 50 MB zipped), or one put in S3 first.
public enum LambdaCode: Sendable, Equatable {
    case zip(Data)
    case s3(bucket: String, key: String)

    var fields: [String: Any] {
        switch self {
        case let .zip(data): return ["ZipFile": data.base64EncodedString()]
        case let .s3(bucket, key): return ["S3Bucket": bucket, "S3Key": key]
        }
    }
}
