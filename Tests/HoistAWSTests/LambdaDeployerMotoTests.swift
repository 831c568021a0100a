import Foundation
import HoistCore
import HoistLambdaDeploy
import HoistLambdaPackage
import NIOConcurrencyHelpers
import NIOHTTP1
import Synchronization
import Testing
@testable import HoistAWS

/// Deploys against moto with authentication on: the role and its policy, create, a redeploy that
/// sends nothing, code and configuration updates, S3 for large zips, retention, teardown.
@Suite("LambdaDeployer against moto with authentication on")
struct LambdaDeployerMotoTests {
    /// Each request's operation as the deployer sends it: `GET /2015-03-31/functions/NAME`,
    /// `iam:CreateRole`, `logs:PutRetentionPolicy`.
    final class Recorder: Sendable {
        private let sent = NIOLockedValueBox<[String]>([])
        var requests: [String] { sent.withLockedValue { $0 } }
        func reset() { sent.withLockedValue { $0 = [] } }

        func record(_ request: AWSRequest) {
            var name = "\(request.method.rawValue) \(request.path)"
            if let action = String(decoding: request.body, as: UTF8.self).split(separator: "&").first(where: { $0.hasPrefix("Action=") }) {
                name = "\(request.service.signingName):\(action.dropFirst("Action=".count))"
            } else if let target = request.headers.first(name: "X-Amz-Target") {
                name = "logs:\(target.split(separator: ".").last ?? "")"
            }
            sent.withLockedValue { $0.append(name) }
        }
    }

    struct Setup {
        let moto: MotoServer
        let config: AWSConfig
        let client: AWSClient
        let recorder: Recorder
        let home: String
        let store: LambdaStore

        func deployer() -> LambdaDeployer {
            var deployer = LambdaDeployer(config: config, client: client, store: store)
            deployer.rolePropagationWait = .seconds(10)
            return deployer
        }

        func stop() {
            moto.stop()
            try? FileManager.default.removeItem(atPath: home)
        }
    }

    static func start() async throws -> Setup {
        let (moto, plain) = try await APIMotoTests.start()
        let recorder = Recorder()
        let endpoints: [AWSService: String] = [.iam: moto.url, .lambda: moto.url, .cloudWatchLogs: moto.url, .s3: moto.url, .sts: moto.url]
        let config = AWSConfig(credentials: try #require(plain.credentials), region: "us-east-1", endpoints: endpoints)
        var client = AWSClient(config: config)
        client.observer = { recorder.record($0) }
        let home = NSTemporaryDirectory() + "hoist-deploy-" + UUID().uuidString.prefix(8)
        return Setup(moto: moto, config: config, client: client, recorder: recorder, home: home, store: LambdaStore(home: HoistHome(home)))
    }

    /// A zip on disk and its `CodeSha256`.
    static func zip(_ script: String, in directory: String) throws -> (path: String, sha: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + UUID().uuidString.prefix(8) + ".zip"
        try TestZip.bootstrap(script).write(to: URL(fileURLWithPath: path))
        return (path, try AppPackages.codeSha256(of: path))
    }

    @Test("a deploy makes the role, its policy, the function and its retention; a redeploy of the same sends one GetFunction")
    func createAndNoOp() async throws {
        let setup = try await Self.start()
        defer { setup.stop() }
        let zip = try Self.zip("#!/bin/sh\necho one\n", in: setup.home)
        let options = LambdaOptions(timeout: .seconds(30), memorySize: 256, tmpSize: 1024, environment: ["MODE": "fast"], retentionDays: 14,
                                    description: "adds", tags: ["team": "hoist"], reservedConcurrency: 5)
        let request = LambdaDeployRequest(name: "summer", zipPath: zip.path, zipSha256: zip.sha, runtime: "provided.al2023", handler: "summer", streams: false, options: options)
        let saved = try await setup.deployer().deploy(request)

        let iam = IAMAPI(client: setup.client)
        let role = try #require(try await iam.getRole("hoist-summer-role"))
        #expect(saved.roleArn == role.arn && saved.managedRole == "hoist-summer-role")
        let policy = try #require(try await iam.getRolePolicy(role: "hoist-summer-role", policyName: "hoist-logs"))
        #expect(policy.contains("log-group:/aws/lambda/summer") && policy.contains("logs:PutLogEvents"))

        let lambda = LambdaAPI(client: setup.client)
        let function = try await lambda.getFunction("summer")
        #expect(function.codeSha256 == zip.sha && function.timeout == 30 && function.memorySize == 256)
        #expect(function.ephemeralStorage?.size == 1024 && function.environment?.variables == ["MODE": "fast"] && function.role == role.arn)
        #expect(try await lambda.getFunctionConcurrency("summer") == 5)
        let groups = try await CloudWatchLogsAPI(client: setup.client).describeLogGroups(prefix: "/aws/lambda/summer")
        #expect(groups.first?.retentionInDays == 14)

        let file = setup.store.path("summer")
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        #expect(try setup.store.load("summer")?.arn == function.functionArn)

        setup.recorder.reset()
        let again = try await setup.deployer().deploy(request)
        #expect(setup.recorder.requests == ["GET /2015-03-31/functions/summer"], "an unchanged redeploy sent \(setup.recorder.requests)")
        #expect(again.codeSha256 == saved.codeSha256)
    }

    @Test("new code updates only the code; a new knob only the configuration; concurrency and retention follow")
    func updates() async throws {
        let setup = try await Self.start()
        defer { setup.stop() }
        let first = try Self.zip("#!/bin/sh\necho one\n", in: setup.home)
        var options = LambdaOptions(timeout: .seconds(10), memorySize: 128, retentionDays: 7)
        var request = LambdaDeployRequest(name: "changing", zipPath: first.path, zipSha256: first.sha, runtime: "provided.al2023", handler: "changing", streams: false, options: options)
        try await setup.deployer().deploy(request)

        let second = try Self.zip("#!/bin/sh\necho two\n", in: setup.home)
        request.zipPath = second.path
        request.zipSha256 = second.sha
        setup.recorder.reset()
        try await setup.deployer().deploy(request)
        let codeOnly = setup.recorder.requests
        #expect(codeOnly.contains("PUT /2015-03-31/functions/changing/code"), "\(codeOnly)")
        #expect(!codeOnly.contains("PUT /2015-03-31/functions/changing/configuration"), "\(codeOnly)")
        #expect(!codeOnly.contains { $0.hasPrefix("iam:") }, "the role exists: \(codeOnly)")
        let lambda = LambdaAPI(client: setup.client)
        #expect(try await lambda.getFunction("changing").codeSha256 == second.sha)

        options.memorySize = 1024
        options.environment = ["LEVEL": "2"]
        options.retentionDays = 30
        options.reservedConcurrency = 3
        request.options = options
        setup.recorder.reset()
        try await setup.deployer().deploy(request)
        let configOnly = setup.recorder.requests
        #expect(configOnly.contains("PUT /2015-03-31/functions/changing/configuration") && !configOnly.contains("PUT /2015-03-31/functions/changing/code"), "\(configOnly)")
        let updated = try await lambda.getFunction("changing")
        #expect(updated.memorySize == 1024 && updated.environment?.variables == ["LEVEL": "2"] && updated.codeSha256 == second.sha)
        #expect(try await lambda.getFunctionConcurrency("changing") == 3)
        #expect(try await CloudWatchLogsAPI(client: setup.client).describeLogGroups(prefix: "/aws/lambda/changing").first?.retentionInDays == 30)
    }

    @Test("a zip over the inline limit goes through the account's S3 bucket; teardown removes everything Hoist made")
    func s3AndTeardown() async throws {
        let setup = try await Self.start()
        defer { setup.stop() }
        let zip = try Self.zip("#!/bin/sh\necho large\n", in: setup.home)
        var deployer = setup.deployer()
        deployer.inlineLimit = 10  // every zip is "large" here
        let saved = try await deployer.deploy(LambdaDeployRequest(
            name: "large", zipPath: zip.path, zipSha256: zip.sha, runtime: "provided.al2023", handler: "large", streams: false, options: LambdaOptions()))
        #expect(setup.recorder.requests.contains { $0.hasPrefix("PUT /hoist-") && $0.contains("/lambda/large/") }, "\(setup.recorder.requests)")
        let bucket = try #require(saved.s3Bucket)
        let key = try #require(saved.s3Key)
        #expect(bucket == "hoist-\(saved.account)-us-east-1")
        let s3 = S3API(client: setup.client)
        #expect(try await s3.objectExists(bucket: bucket, key: key))
        let lambda = LambdaAPI(client: setup.client)
        #expect(try await lambda.getFunction("large").codeSha256 == zip.sha)
        _ = try await lambda.createFunctionURLConfig("large")

        try await deployer.teardown("large")
        await #expect(throws: AWSError.self) { _ = try await lambda.getFunction("large") }
        #expect(try await IAMAPI(client: setup.client).getRole("hoist-large-role") == nil)
        #expect(try await CloudWatchLogsAPI(client: setup.client).describeLogGroups(prefix: "/aws/lambda/large").isEmpty)
        #expect(try await !s3.objectExists(bucket: bucket, key: key))
        #expect(try setup.store.load("large") == nil)
    }

    @Test("wrong credentials fail the deploy with AWS's readable error, and nothing is saved")
    func wrongCredentials() async throws {
        let setup = try await Self.start()
        defer { setup.stop() }
        let zip = try Self.zip("#!/bin/sh\n", in: setup.home)
        let endpoints: [AWSService: String] = [.iam: setup.moto.url, .lambda: setup.moto.url, .cloudWatchLogs: setup.moto.url]
        let bad = AWSConfig(credentials: AWSCredentials(accessKeyID: "AKIAWRONGWRONGWRONG1", secretAccessKey: "Wr0ngS3cretValue"), region: "us-east-1", endpoints: endpoints)
        let deployer = LambdaDeployer(config: bad, store: setup.store)
        do {
            try await deployer.deploy(LambdaDeployRequest(name: "nope", zipPath: zip.path, zipSha256: zip.sha, runtime: "provided.al2023", handler: "nope", streams: false, options: LambdaOptions()))
            Issue.record("a deploy with unknown keys succeeded")
        } catch let error as AWSError {
            #expect(error.statusCode == 403 || error.code.contains("InvalidClientTokenId") || error.code.contains("UnrecognizedClient"), "\(error)")
            #expect(!error.description.contains("Wr0ngS3cretValue"), "the secret is not in the error: \(error)")
        }
        #expect(try setup.store.load("nope") == nil)
    }

    @Test("out-of-range knobs are refused before anything is sent, naming the range")
    func knobs() throws {
        let cases: [(LambdaOptions, String)] = [
            (LambdaOptions(timeout: .seconds(0)), "1 to 900 seconds"),
            (LambdaOptions(timeout: .seconds(901)), "1 to 900 seconds"),
            (LambdaOptions(timeout: .milliseconds(1500)), "whole seconds"),
            (LambdaOptions(memorySize: 127), "128 to 10240 MB"),
            (LambdaOptions(memorySize: 10_241), "128 to 10240 MB"),
            (LambdaOptions(tmpSize: 511), "512 to 10240 MB"),
            (LambdaOptions(tmpSize: 20_000), "512 to 10240 MB"),
            (LambdaOptions(retentionDays: 13), "use one of 1, 3, 5, 7, 14"),
            (LambdaOptions(environment: ["AWS_REGION": "x"]), "set by Lambda itself"),
            (LambdaOptions(environment: ["1BAD": "x"]), "cannot name a Lambda environment variable"),
        ]
        for (options, expected) in cases {
            do {
                try options.validate()
                Issue.record("\(options) was accepted")
            } catch let error as HoistError {
                #expect(error.code == .invalidConfiguration && error.message.contains(expected), "\(error.message)")
            }
        }
        try LambdaOptions(timeout: .seconds(900), memorySize: 10_240, tmpSize: 10_240, retentionDays: nil).validate()
        try LambdaOptions(timeout: .seconds(1), memorySize: 128, tmpSize: 512).validate()
    }
}

extension LambdaDeployerMotoTests {
    /// moto does not check a request's time or a session token's expiry, so AWS's answer to
    /// expired credentials comes from a stand-in, as AWS words it.
    @Test("expired credentials fail the deploy with AWS's error and what to do about it, sent once")
    func expiredCredentials() async throws {
        let server = try await LocalHTTPServer.start { _ in
            StubResponse(status: 403, headers: [("X-Amzn-ErrorType", "ExpiredTokenException")],
                         body: #"{"message":"The security token included in the request is expired"}"#)
        }
        let home = NSTemporaryDirectory() + "hoist-deploy-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let zip = try Self.zip("#!/bin/sh\n", in: home)
        let config = AWSConfig(credentials: AWSCredentials(accessKeyID: "ASIAEXPIRED", secretAccessKey: "0ldS3cretValue", sessionToken: "St4leT0kenValue"),
                               region: "us-east-1", endpoints: [.lambda: server.url, .iam: server.url, .cloudWatchLogs: server.url])
        let store = LambdaStore(home: HoistHome(home))
        do {
            try await LambdaDeployer(config: config, store: store).deploy(LambdaDeployRequest(
                name: "late", zipPath: zip.path, zipSha256: zip.sha, runtime: "provided.al2023", handler: "late", streams: false, options: LambdaOptions()))
            Issue.record("a deploy with expired credentials succeeded")
        } catch let error as AWSError {
            #expect(error.code == "ExpiredTokenException" && error.statusCode == 403)
            #expect(error.description.contains("The security token included in the request is expired"), "\(error)")
            #expect(error.description.contains("refresh them"), "\(error)")
            #expect(!error.description.contains("St4leT0kenValue") && !error.description.contains("0ldS3cretValue"), "no secret in the error: \(error)")
        }
        await server.stop()
        #expect(server.requests.count == 1, "an expired token is not retried: \(server.requests.count) requests")
        #expect(try store.load("late") == nil)
    }

    /// moto makes roles usable at once; AWS takes seconds to propagate a new one, and says so.
    @Test("a create Lambda refuses while IAM propagates the new role is tried again until it passes")
    func rolePropagation() async throws {
        let creates = Counter()
        let server = try await LocalHTTPServer.start { request in
            let text = request.text
            if text.contains("Action=GetRole") {
                return StubResponse(status: 404, body: "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>none</Message></Error></ErrorResponse>")
            }
            if text.contains("Action=CreateRole") {
                return StubResponse(body: "<CreateRoleResponse><CreateRoleResult><Role><RoleName>hoist-fresh-role</RoleName><Arn>arn:aws:iam::123456789012:role/hoist-fresh-role</Arn></Role></CreateRoleResult></CreateRoleResponse>")
            }
            if text.contains("Action=PutRolePolicy") { return StubResponse(body: "<PutRolePolicyResponse/>") }
            if request.method == "POST", request.uri.hasSuffix("/functions") {
                let attempt = creates.count.withLock { value in value += 1; return value }
                if attempt < 3 {
                    return StubResponse(status: 400, headers: [("X-Amzn-ErrorType", "InvalidParameterValueException")],
                                        body: #"{"message":"The role defined for the function cannot be assumed by Lambda."}"#)
                }
                return StubResponse(status: 201, body: #"{"FunctionName":"fresh","FunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:fresh","State":"Active"}"#)
            }
            if request.method == "GET", request.uri.hasSuffix("/functions/fresh") {
                if creates.count.withLock({ $0 }) < 3 {
                    return StubResponse(status: 404, headers: [("X-Amzn-ErrorType", "ResourceNotFoundException")], body: #"{"message":"Function not found"}"#)
                }
                return StubResponse(body: #"{"Configuration":{"FunctionName":"fresh","FunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:fresh","State":"Active","LastUpdateStatus":"Successful","CodeSha256":"abc"}}"#)
            }
            if request.header("X-Amz-Target") != nil { return StubResponse(body: "{}") }
            return StubResponse(status: 500, body: "unexpected \(request.method) \(request.uri)")
        }
        let home = NSTemporaryDirectory() + "hoist-deploy-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let zip = try Self.zip("#!/bin/sh\n", in: home)
        let config = AWSConfig(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "us-east-1",
                               endpoints: [.lambda: server.url, .iam: server.url, .cloudWatchLogs: server.url])
        let lines = LockedLines()
        var deployer = LambdaDeployer(config: config, store: LambdaStore(home: HoistHome(home)), progress: { lines.append($0) })
        deployer.rolePropagationPause = .milliseconds(10)
        let saved = try await deployer.deploy(LambdaDeployRequest(
            name: "fresh", zipPath: zip.path, zipSha256: zip.sha, runtime: "provided.al2023", handler: "fresh", streams: false, options: LambdaOptions()))
        await server.stop()
        #expect(creates.count.withLock { $0 } == 3)
        #expect(saved.arn.hasSuffix(":function:fresh") && saved.managedRole == "hoist-fresh-role")
        #expect(lines.all.filter { $0.contains("waiting for IAM to propagate the role of fresh") }.count == 2, "\(lines.all)")
    }
}

final class LockedLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
    var all: [String] { lines.withLockedValue { $0 } }
}
