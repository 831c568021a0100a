import Foundation
import Testing
@testable import HoistAWS

/// The typed IAM, Lambda and CloudWatch Logs clients against moto with authentication on.
@Suite("IAMAPI, LambdaAPI and CloudWatchLogsAPI against moto with authentication on")
struct APIMotoTests {
    /// moto's Lambda without Docker, set before any function exists (functions made under the
    /// other setting become invisible), then the user and key of ``MotoTests/setup``.
    static func start() async throws -> (MotoServer, AWSClient) {
        let moto = try await MotoServer()
        _ = try moto.python("""
        import sys, urllib.request
        request = urllib.request.Request(sys.argv[1] + "/moto-api/config", data=b'{"lambda": {"use_docker": false}}',
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request).read()
        """)
        let keys = try moto.python(MotoTests.setup).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(keys.count == 2)
        let endpoints: [AWSService: String] = [.iam: moto.url, .lambda: moto.url, .cloudWatchLogs: moto.url]
        let client = AWSClient(config: AWSConfig(credentials: AWSCredentials(accessKeyID: keys[0], secretAccessKey: keys[1]), region: "us-east-1", endpoints: endpoints))
        return (moto, client)
    }

    @Test("IAM: a Lambda execution role is created, found, given its logs policy, and deleted with it")
    func role() async throws {
        let (moto, client) = try await Self.start()
        defer { moto.stop() }
        let iam = IAMAPI(client: client)
        #expect(try await iam.getRole("hoist-summer-role") == nil)
        let created = try await iam.createRole(name: "hoist-summer-role")
        #expect(created.name == "hoist-summer-role" && created.arn.hasSuffix(":role/hoist-summer-role"))
        let found = try #require(try await iam.getRole("hoist-summer-role"))
        #expect(found.arn == created.arn)

        let policy = IAMAPI.logsPolicy(region: "us-east-1", account: "123456789012", function: "summer")
        try await iam.putRolePolicy(role: created.name, policyName: "hoist-logs", document: policy)
        let stored = try #require(try await iam.getRolePolicy(role: created.name, policyName: "hoist-logs"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: Any])
        let statements = try #require(document["Statement"] as? [[String: Any]])
        #expect(statements.count == 2)
        #expect(stored.contains("log-group:/aws/lambda/summer") && stored.contains("logs:PutLogEvents") && !stored.contains("\"*\""))

        try await iam.deleteRolePolicy(role: created.name, policyName: "hoist-logs")
        #expect(try await iam.getRolePolicy(role: created.name, policyName: "hoist-logs") == nil)
        try await iam.deleteRole(created.name)
        #expect(try await iam.getRole("hoist-summer-role") == nil)
    }

    @Test("Lambda: create, get, update code (CodeSha256 changes), update configuration, list every page, delete")
    func functionLifecycle() async throws {
        let (moto, client) = try await Self.start()
        defer { moto.stop() }
        let role = try await IAMAPI(client: client).createRole(name: "hoist-moto-fn-role")
        let lambda = LambdaAPI(client: client)
        let zip = try TestZip.bootstrap("#!/bin/sh\necho one\n")
        let settings = LambdaFunctionSettings(role: role.arn, runtime: "provided.al2023", handler: "summer", timeout: 30, memorySize: 256,
                                              ephemeralStorageSize: 1024, variables: ["MODE": "first"], architectures: ["x86_64"], description: "a test")
        let created = try await lambda.createFunction(name: "summer", zip: zip, settings: settings, tags: ["owner": "hoist"])
        #expect(created.functionName == "summer" && created.timeout == 30 && created.memorySize == 256)
        let ready = try await lambda.waitUntilReady("summer", maxWait: .seconds(20), pollInterval: .milliseconds(200))
        #expect(ready.state == "Active")
        #expect(ready.environment?.variables == ["MODE": "first"] && ready.ephemeralStorage?.size == 1024 && ready.description == "a test")
        let firstSha = try #require(ready.codeSha256)

        let updated = try await lambda.updateFunctionCode("summer", zip: try TestZip.bootstrap("#!/bin/sh\necho two\n"))
        #expect(updated.codeSha256 != nil && updated.codeSha256 != firstSha)
        #expect(try await lambda.getFunction("summer").codeSha256 == updated.codeSha256)

        let changes = LambdaFunctionSettings(timeout: 60, memorySize: 512, variables: ["MODE": "second"])
        _ = try await lambda.retryingConflicts(maxWait: .seconds(20)) { try await lambda.updateFunctionConfiguration("summer", settings: changes) }
        let reconfigured = try await lambda.waitUntilReady("summer", maxWait: .seconds(20), pollInterval: .milliseconds(200))
        #expect(reconfigured.timeout == 60 && reconfigured.memorySize == 512 && reconfigured.environment?.variables == ["MODE": "second"])

        for name in ["second", "third", "fourth"] {
            _ = try await lambda.createFunction(name: name, zip: zip, settings: .init(role: role.arn, runtime: "provided.al2023", handler: name))
        }
        let listed = try await lambda.listFunctions(pageSize: 2)
        #expect(listed.map(\.functionName).sorted() == ["fourth", "second", "summer", "third"])

        try await lambda.deleteFunction("summer")
        let missing = await #expect(throws: AWSError.self) { try await lambda.getFunction("summer") }
        #expect(missing?.code == "ResourceNotFoundException")
        #expect(try await lambda.listFunctions(pageSize: 2).count == 3)
    }

    @Test("CloudWatch Logs: retention set and read back through a prefixed DescribeLogGroups, one group a page; delete")
    func logGroups() async throws {
        let (moto, client) = try await Self.start()
        defer { moto.stop() }
        let logs = CloudWatchLogsAPI(client: client)
        for name in ["/aws/lambda/summer", "/aws/lambda/other", "/custom/group"] { try await logs.createLogGroup(name) }
        try await logs.putRetentionPolicy(logGroup: "/aws/lambda/summer", days: 14)
        let groups = try await logs.describeLogGroups(prefix: "/aws/lambda/", pageSize: 1)
        #expect(groups.map(\.logGroupName).sorted() == ["/aws/lambda/other", "/aws/lambda/summer"])
        #expect(groups.first { $0.logGroupName == "/aws/lambda/summer" }?.retentionInDays == 14)
        #expect(try await logs.filterLogEvents(logGroup: "/aws/lambda/summer").isEmpty)
        try await logs.deleteLogGroup("/aws/lambda/summer")
        try await logs.deleteLogGroup("/aws/lambda/summer")  // gone already: not an error
        #expect(try await logs.describeLogGroups(prefix: "/aws/lambda/").map(\.logGroupName) == ["/aws/lambda/other"])
    }
}
