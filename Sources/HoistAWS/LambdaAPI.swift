import Foundation
import NIOHTTP1

/// Lambda's management API (REST-JSON, `/2015-03-31/functions…`), typed: what a deployer calls.
/// Invocation is in `LambdaAPI+Invoke.swift`, response streaming in
/// `LambdaAPI+ResponseStream.swift`, waiting in `LambdaAPI+Waiter.swift`.
///
/// ```swift
/// let lambda = LambdaAPI(client: AWSClient(config: try AWSConfig.load(profile: "dev")))
/// let zip = try Data(contentsOf: URL(fileURLWithPath: "summer.zip"))
/// _ = try await lambda.createFunction(name: "summer", zip: zip, settings: .init(role: roleArn, runtime: "provided.al2023", handler: "summer"))
/// let ready = try await lambda.waitUntilReady("summer")
/// print(ready.codeSha256 ?? "")
/// ```
public struct LambdaAPI: Sendable {
    public let client: AWSClient
    /// How long a synchronous invocation may wait beyond the function's own timeout: a cold
    /// start and the trip.
    public var invokeMargin: Duration

    public init(client: AWSClient, invokeMargin: Duration = .seconds(30)) {
        self.client = client
        self.invokeMargin = invokeMargin
    }

    static let functions = "/2015-03-31/functions"

    /// `CreateFunction` from a zip sent inline (at most 50 MB zipped). Answers `State: Pending`
    /// on AWS: wait with ``waitUntilReady(_:maxWait:pollInterval:progress:)``.
    public func createFunction(name: String, zip: Data, settings: LambdaFunctionSettings, tags: [String: String] = [:]) async throws -> LambdaFunctionConfiguration {
        try await createFunction(name: name, code: .zip(zip), settings: settings, tags: tags)
    }

    /// `CreateFunction` from a zip inline or in S3 (for zips over 50 MB).
    public func createFunction(name: String, code: LambdaCode, settings: LambdaFunctionSettings, tags: [String: String] = [:]) async throws -> LambdaFunctionConfiguration {
        var fields = settings.fields(includingArchitectures: true)
        fields["FunctionName"] = name
        fields["Code"] = code.fields
        if !tags.isEmpty { fields["Tags"] = tags }
        return try await call(.POST, Self.functions, json: fields)
    }

    /// `GetFunction`'s configuration.
    public func getFunction(_ name: String) async throws -> LambdaFunctionConfiguration {
        struct Answer: Decodable {
            var configuration: LambdaFunctionConfiguration
            enum CodingKeys: String, CodingKey { case configuration = "Configuration" }
        }
        let answer: Answer = try await call(.GET, "\(Self.functions)/\(name)")
        return answer.configuration
    }

    /// `UpdateFunctionCode` with a new zip; `revisionId` makes it fail if the function changed since.
    public func updateFunctionCode(_ name: String, zip: Data, architectures: [String]? = nil, revisionId: String? = nil) async throws -> LambdaFunctionConfiguration {
        try await updateFunctionCode(name, code: .zip(zip), architectures: architectures, revisionId: revisionId)
    }

    /// `UpdateFunctionCode` from a zip inline or in S3.
    public func updateFunctionCode(_ name: String, code: LambdaCode, architectures: [String]? = nil, revisionId: String? = nil) async throws -> LambdaFunctionConfiguration {
        var fields = code.fields
        if let architectures { fields["Architectures"] = architectures }
        if let revisionId { fields["RevisionId"] = revisionId }
        return try await call(.PUT, "\(Self.functions)/\(name)/code", json: fields)
    }

    /// `UpdateFunctionConfiguration` of the settings that are set (variables replace all).
    /// Architectures are code, not configuration: change them with ``updateFunctionCode(_:zip:architectures:revisionId:)``.
    public func updateFunctionConfiguration(_ name: String, settings: LambdaFunctionSettings, revisionId: String? = nil) async throws -> LambdaFunctionConfiguration {
        var fields = settings.fields(includingArchitectures: false)
        if let revisionId { fields["RevisionId"] = revisionId }
        return try await call(.PUT, "\(Self.functions)/\(name)/configuration", json: fields)
    }

    /// `DeleteFunction`.
    public func deleteFunction(_ name: String) async throws {
        _ = try await send(.DELETE, "\(Self.functions)/\(name)")
    }

    /// `ListFunctions`, every page (`Marker`/`NextMarker`).
    public func listFunctions(pageSize: Int = 50) async throws -> [LambdaFunctionConfiguration] {
        struct Page: Decodable {
            var functions: [LambdaFunctionConfiguration]
            var nextMarker: String?
            enum CodingKeys: String, CodingKey { case functions = "Functions", nextMarker = "NextMarker" }
        }
        var all: [LambdaFunctionConfiguration] = []
        var marker: String?
        repeat {
            var query = [("MaxItems", String(pageSize))]
            if let marker { query.append(("Marker", marker)) }
            let page: Page = try await call(.GET, Self.functions + "/", query: query)
            all += page.functions
            // An empty marker ends the list too (some servers send "").
            marker = page.nextMarker.flatMap { $0.isEmpty ? nil : $0 }
        } while marker != nil
        return all
    }

    /// `CreateFunctionUrlConfig`: `AWS_IAM` unless `NONE` is asked for.
    public func createFunctionURLConfig(_ name: String, authType: String = "AWS_IAM", invokeMode: String = "BUFFERED") async throws -> LambdaFunctionURLConfig {
        try await call(.POST, "/2021-10-31/functions/\(name)/url", json: ["AuthType": authType, "InvokeMode": invokeMode])
    }

    /// `GetFunctionUrlConfig`.
    public func getFunctionURLConfig(_ name: String) async throws -> LambdaFunctionURLConfig {
        try await call(.GET, "/2021-10-31/functions/\(name)/url")
    }

    /// `DeleteFunctionUrlConfig`.
    public func deleteFunctionURLConfig(_ name: String) async throws {
        _ = try await send(.DELETE, "/2021-10-31/functions/\(name)/url")
    }

    /// `PutFunctionConcurrency`: reserves `reserved` concurrent executions (0 stops all invocations).
    public func putFunctionConcurrency(_ name: String, reserved: Int) async throws {
        _ = try await send(.PUT, "/2017-10-31/functions/\(name)/concurrency", json: ["ReservedConcurrentExecutions": reserved])
    }

    /// `GetFunctionConcurrency`: the reserved concurrent executions, `nil` when none are reserved.
    public func getFunctionConcurrency(_ name: String) async throws -> Int? {
        struct Answer: Decodable {
            var reserved: Int?
            enum CodingKeys: String, CodingKey { case reserved = "ReservedConcurrentExecutions" }
        }
        let answer: Answer = try await call(.GET, "/2019-09-30/functions/\(name)/concurrency")
        return answer.reserved
    }

    /// `TagResource` on a function's ARN: adds or replaces these tags.
    public func tagResource(_ arn: String, tags: [String: String]) async throws {
        _ = try await send(.POST, "/2017-03-31/tags/\(arn)", json: ["Tags": tags])
    }

    /// `DeleteFunctionConcurrency`: back to the account's unreserved pool.
    public func deleteFunctionConcurrency(_ name: String) async throws {
        _ = try await send(.DELETE, "/2017-10-31/functions/\(name)/concurrency")
    }

    // MARK: - Requests

    /// A Lambda request, JSON when it has a body. (The signer adds `X-Amz-Content-Sha256`,
    /// which moto needs on GET and DELETE.)
    func request(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8] = [], headers: HTTPHeaders = [:], timeout: Duration? = nil) -> AWSRequest {
        var headers = headers
        if !body.isEmpty, !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "application/json") }
        return AWSRequest(service: .lambda, method: method, path: path, query: query, headers: headers, body: body, timeout: timeout)
    }

    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: [String: Any]? = nil) async throws -> AWSResponse {
        let body = try json.map { Array(try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])) } ?? []
        return try await client.send(request(method, path, query: query, body: body))
    }

    func call<Answer: Decodable>(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: [String: Any]? = nil) async throws -> Answer {
        let response = try await send(method, path, query: query, json: json)
        return try JSONDecoder().decode(Answer.self, from: Data(response.body))
    }
}
