import Foundation
import HoistCore
import NIOHTTP1
import Testing
@testable import HoistAWS

/// moto in server mode on 127.0.0.1 with request authentication on: the real test of signing,
/// since a wrong signature is refused there.
final class MotoServer: Sendable {
    let url: String
    private let process: Process

    /// The Python of scripts/test's virtualenv (`HOIST_TEST_PYTHON`), else the package's
    /// `.build-testbed/venv`, else `python3` on the PATH.
    static var python: String {
        if let python = ProcessInfo.processInfo.environment["HOIST_TEST_PYTHON"] { return python }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let venv = root + "/.build-testbed/venv/bin/python3"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env"
    }

    static func run(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    init() async throws {
        let port = try LocalPorts.free()
        url = "http://127.0.0.1:\(port)"
        process = try Self.run(["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)])
        for _ in 0..<100 where !LocalPorts.isListening(port) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(LocalPorts.isListening(port), "moto_server did not start with \(Self.python)")
    }

    /// Runs Python (with boto3) against this server; returns its stdout.
    func python(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = (Self.python == "/usr/bin/env" ? ["python3"] : []) + ["-c", script, url]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    /// Stops the server this test started, by its pid. SIGKILL, because a child of the test
    /// runner inherits its blocked signal mask and so never sees SIGTERM or SIGINT.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite("AWSClient against moto with authentication on")
struct MotoTests {
    /// Before auth is on: a user with an allow-all policy and an access key, made with boto3.
    static let setup = """
    import boto3, json, sys, urllib.request
    url = sys.argv[1]
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    iam.create_user(UserName="hoist-moto")
    iam.put_user_policy(UserName="hoist-moto", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="hoist-moto")["AccessKey"]
    iam.create_role(RoleName="hoist-deploy", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="hoist-deploy", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    request = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}, method="POST")
    urllib.request.urlopen(request).read()
    print(key["AccessKeyId"], key["SecretAccessKey"])
    """

    @Test("IAM, STS and Lambda calls signed by Hoist pass moto's checks; a wrong secret is SignatureDoesNotMatch")
    func signedCalls() async throws {
        let moto = try await MotoServer()
        defer { moto.stop() }
        let keys = try moto.python(Self.setup).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(keys.count == 2)
        let endpoints: [AWSService: String] = [.iam: moto.url, .sts: moto.url, .lambda: moto.url, .cloudWatchLogs: moto.url]
        let client = AWSClient(config: AWSConfig(credentials: AWSCredentials(accessKeyID: keys[0], secretAccessKey: keys[1]), region: "us-east-1", endpoints: endpoints))

        let users = try await client.send(.query(service: .iam, action: "ListUsers"))
        #expect(users.text.contains("<UserName>hoist-moto</UserName>"))
        let identity = try await client.send(.query(service: .sts, action: "GetCallerIdentity"))
        #expect(identity.xmlValue("Arn")?.hasSuffix(":user/hoist-moto") == true)
        let functions = try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/", query: [("MaxItems", "10")]))
        #expect(functions.text.contains("\"Functions\""))
        let missing = await #expect(throws: AWSError.self) {
            try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/hoist-missing"))
        }
        #expect(missing?.code == "ResourceNotFoundException" && missing?.statusCode == 404, "\(String(describing: missing))")

        let wrong = AWSClient(config: AWSConfig(credentials: AWSCredentials(accessKeyID: keys[0], secretAccessKey: "not-the-secret"), region: "us-east-1", endpoints: endpoints))
        let refused = await #expect(throws: AWSError.self) { try await wrong.send(.query(service: .sts, action: "GetCallerIdentity")) }
        #expect(refused?.code == "SignatureDoesNotMatch" && refused?.statusCode == 403)
        let refusedLambda = await #expect(throws: AWSError.self) { try await wrong.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/")) }
        #expect(refusedLambda?.code == "SignatureDoesNotMatch")
    }

    @Test("role_arn + source_profile through moto's STS: the assumed role's temporary keys sign a Lambda call")
    func assumeRoleThroughMoto() async throws {
        let moto = try await MotoServer()
        defer { moto.stop() }
        let keys = try moto.python(Self.setup).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(keys.count == 2)
        let home = try TemporaryAWSHome(
            config: "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/hoist-deploy\nsource_profile = base\n",
            credentials: "[base]\naws_access_key_id = \(keys[0])\naws_secret_access_key = \(keys[1])\n")
        let config = try AWSConfig.load(profile: "deploy", environment: home.environment(["AWS_ENDPOINT_URL": moto.url]))
        let credentials = try await config.credentials.credentials()
        #expect(credentials.accessKeyID != keys[0] && credentials.sessionToken != nil && credentials.expiration != nil)
        let functions = try await AWSClient(config: config).send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/"))
        #expect(functions.statusCode == 200)
    }
}
