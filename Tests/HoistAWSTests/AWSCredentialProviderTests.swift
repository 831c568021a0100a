import Foundation
import HoistCore
import Synchronization
import Testing
@testable import HoistAWS

@Suite("AWS credential providers against local stand-ins")
struct AWSCredentialProviderTests {
    static func stsAnswer(_ action: String, key: String, expiration: String = "2099-01-01T00:00:00Z") -> StubResponse {
        StubResponse(body: """
        <\(action)Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><\(action)Result><Credentials>
          <AccessKeyId>\(key)</AccessKeyId><SecretAccessKey>\(key)-secret</SecretAccessKey><SessionToken>\(key)-token</SessionToken><Expiration>\(expiration)</Expiration>
        </Credentials></\(action)Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></\(action)Response>
        """)
    }

    /// An STS stand-in that hands out `ASIA<n>` for the n-th AssumeRole.
    static func sts() async throws -> LocalHTTPServer {
        let count = Mutex(0)
        return try await LocalHTTPServer.start { request in
            let action = request.form["Action"] ?? ""
            return stsAnswer(action, key: "ASIA\(count.withLock { $0 += 1; return $0 })")
        }
    }

    @Test("role_arn + source_profile, chained through two roles: each AssumeRole is signed with the credentials before it; the result is cached")
    func chainedAssumeRole() async throws {
        let sts = try await Self.sts()
        defer { Task { await sts.stop() } }
        let home = try TemporaryAWSHome(config: """
        [profile inner]
        role_arn = arn:aws:iam::123456789012:role/inner
        source_profile = base
        external_id = ext-1
        [profile outer]
        role_arn = arn:aws:iam::123456789012:role/outer
        source_profile = inner
        role_session_name = my-session
        duration_seconds = 1800
        region = eu-west-1
        """, credentials: "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n")
        let config = try AWSConfig.load(profile: "outer", environment: home.environment(["AWS_ENDPOINT_URL_STS": sts.url]))
        let credentials = try await config.credentials.credentials()
        #expect(credentials.accessKeyID == "ASIA2" && credentials.secretAccessKey == "ASIA2-secret" && credentials.sessionToken == "ASIA2-token")
        #expect(credentials.expiration == Date(timeIntervalSince1970: 4_070_908_800))

        let requests = sts.requests
        #expect(requests.count == 2)
        let inner = requests[0], outer = requests[1]
        #expect(inner.form["Action"] == "AssumeRole" && inner.form["Version"] == "2011-06-15")
        #expect(inner.form["RoleArn"] == "arn:aws:iam::123456789012:role/inner" && inner.form["ExternalId"] == "ext-1")
        #expect(inner.form["RoleSessionName"]?.hasPrefix("hoist-") == true)
        #expect(inner.header("Authorization")?.contains("Credential=AKIDBASE/") == true)
        #expect(inner.header("Authorization")?.contains("/eu-west-1/sts/aws4_request") == true)
        #expect(inner.header("X-Amz-Security-Token") == nil)
        #expect(outer.form["RoleArn"] == "arn:aws:iam::123456789012:role/outer")
        #expect(outer.form["RoleSessionName"] == "my-session" && outer.form["DurationSeconds"] == "1800")
        #expect(outer.header("Authorization")?.contains("Credential=ASIA1/") == true)
        #expect(outer.header("X-Amz-Security-Token") == "ASIA1-token")

        _ = try await config.credentials.credentials()
        #expect(sts.requests.count == 2, "cached credentials make no new STS call")
    }

    @Test("credential_source Environment assumes the role with the environment's keys")
    func credentialSourceEnvironment() async throws {
        let sts = try await Self.sts()
        defer { Task { await sts.stop() } }
        let home = try TemporaryAWSHome(config: "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\ncredential_source = Environment\n")
        let env = home.environment(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_ENDPOINT_URL": sts.url])
        let credentials = try await AWSConfig.load(profile: "ci", environment: env).credentials.credentials()
        #expect(credentials.accessKeyID == "ASIA1")
        #expect(sts.requests.first?.header("Authorization")?.contains("Credential=AKIDENV/") == true)
    }

    @Test("AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: an unsigned AssumeRoleWithWebIdentity with the token read from the file")
    func webIdentity() async throws {
        let sts = try await Self.sts()
        defer { Task { await sts.stop() } }
        let home = try TemporaryAWSHome()
        let token = try home.write("token", "eyJ.token.sig\n")
        let env = home.environment(["AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
                                    "AWS_ROLE_SESSION_NAME": "pod", "AWS_ENDPOINT_URL_STS": sts.url])
        let credentials = try await AWSConfig.load(environment: env).credentials.credentials()
        #expect(credentials.accessKeyID == "ASIA1")
        let request = try #require(sts.requests.first)
        #expect(request.form["Action"] == "AssumeRoleWithWebIdentity" && request.form["WebIdentityToken"] == "eyJ.token.sig")
        #expect(request.form["RoleArn"] == "arn:aws:iam::123456789012:role/web" && request.form["RoleSessionName"] == "pod")
        #expect(request.header("Authorization") == nil)

        let profileHome = try TemporaryAWSHome(config: "[default]\nrole_arn = arn:aws:iam::123456789012:role/p\nweb_identity_token_file = \(token)\n")
        _ = try await AWSConfig.load(environment: profileHome.environment(["AWS_ENDPOINT_URL_STS": sts.url])).credentials.credentials()
        #expect(sts.requests.last?.form["RoleArn"] == "arn:aws:iam::123456789012:role/p")
    }

    @Test("credential_process: Version 1 JSON on stdout; a failure shows stderr, never stdout")
    func credentialProcess() async throws {
        let home = try TemporaryAWSHome()
        let good = try home.write("good.sh", #"printf '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "proc-secret", "SessionToken": "proc-token", "Expiration": "2099-01-01T00:00:00Z"}'"#)
        let bad = try home.write("bad.sh", "echo '{\"SecretAccessKey\": \"leaked\"}'; echo 'token expired, run login' >&2; exit 3")
        let v2 = try home.write("v2.sh", #"echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "S"}'"#)
        try """
        [profile good]
        credential_process = /bin/sh "\(good)"
        [profile bad]
        credential_process = /bin/sh \(bad)
        [profile v2]
        credential_process = /bin/sh \(v2)
        """.write(toFile: home.path + "/.aws/config", atomically: true, encoding: .utf8)

        let credentials = try await AWSConfig.load(profile: "good", environment: home.environment()).credentials.credentials()
        #expect(credentials == AWSCredentials(accessKeyID: "AKIDPROC", secretAccessKey: "proc-secret", sessionToken: "proc-token",
                                              expiration: Date(timeIntervalSince1970: 4_070_908_800)))
        let failed = await #expect(throws: HoistError.self) { try await AWSConfig.load(profile: "bad", environment: home.environment()).credentials.credentials() }
        #expect(failed?.message.contains("profile 'bad'") == true && failed?.message.contains("status 3: token expired, run login") == true)
        #expect(failed?.message.contains("leaked") == false)
        let version = await #expect(throws: HoistError.self) { try await AWSConfig.load(profile: "v2", environment: home.environment()).credentials.credentials() }
        #expect(version?.message.contains("Version 2") == true)
    }

    @Test("container credentials: FULL_URI with the token file's Authorization, RELATIVE_URI on the agent's address; plain HTTP elsewhere refused")
    func container() async throws {
        let agent = try await LocalHTTPServer.start { request in
            StubResponse(body: #"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"c-secret","Token":"c-token","Expiration":"2099-01-01T00:00:00Z","RoleArn":"arn:aws:iam::1:role/task"}"#)
        }
        defer { Task { await agent.stop() } }
        let home = try TemporaryAWSHome()
        let tokenFile = try home.write("container-token", "Bearer from-file\n")
        let full = try AWSConfig.load(environment: home.environment([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url + "/v2/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-variable",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
        ]))
        let credentials = try await full.credentials.credentials()
        #expect(credentials.accessKeyID == "ASIACONTAINER" && credentials.sessionToken == "c-token")
        #expect(agent.requests[0].uri == "/v2/credentials" && agent.requests[0].header("Authorization") == "Bearer from-file")

        var relative = home.environment(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"])
        relative.containerCredentialsBase = agent.url
        _ = try await AWSConfig.load(environment: relative).credentials.credentials()
        #expect(agent.requests[1].uri == "/v2/credentials/abc" && agent.requests[1].header("Authorization") == nil)

        #expect(throws: HoistError.self) {
            try AWSConfig.load(environment: home.environment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"]))
        }
    }

    @Test("EC2 IMDSv2: a session token, the role, its credentials — and a clear error when nothing anywhere has credentials")
    func instanceMetadata() async throws {
        let imds = try await LocalHTTPServer.start { request in
            switch (request.method, request.uri) {
            case ("PUT", "/latest/api/token"):
                return request.header("X-aws-ec2-metadata-token-ttl-seconds") == "21600" ? StubResponse(body: "imds-token") : StubResponse(status: 400)
            case (_, _) where request.header("X-aws-ec2-metadata-token") != "imds-token":
                return StubResponse(status: 401)
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return StubResponse(body: "web-role\n")
            case ("GET", "/latest/meta-data/iam/security-credentials/web-role"):
                return StubResponse(body: #"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAEC2","SecretAccessKey":"e-secret","Token":"e-token","Expiration":"2099-01-01T00:00:00Z"}"#)
            default:
                return StubResponse(status: 404)
            }
        }
        defer { Task { await imds.stop() } }
        let home = try TemporaryAWSHome()
        let credentials = try await AWSConfig.load(environment: home.environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url])).credentials.credentials()
        #expect(credentials.accessKeyID == "ASIAEC2" && credentials.sessionToken == "e-token")
        #expect(imds.requests.map(\.method) == ["PUT", "GET", "GET"])

        let empty = try await LocalHTTPServer.start { _ in StubResponse(status: 404) }
        defer { Task { await empty.stop() } }
        let none = await #expect(throws: HoistError.self) {
            try await AWSConfig.load(environment: home.environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": empty.url])).credentials.credentials()
        }
        #expect(none?.message.hasPrefix("no AWS credentials found: none in the environment") == true)
        #expect(none?.message.contains("EC2 instance metadata at \(empty.url)") == true)
        let disabled = #expect(throws: HoistError.self) { try AWSConfig.load(environment: home.environment()) }
        #expect(disabled?.message.contains("AWS_EC2_METADATA_DISABLED") == true)
    }

    /// Hands out credentials that expire `lifetime` after the test clock's now.
    final class CountingProvider: AWSCredentialProvider {
        let calls = Mutex(0)
        let clock = Mutex(Date(timeIntervalSince1970: 1_000_000))
        let lifetime: TimeInterval = 3600
        func credentials() async throws -> AWSCredentials {
            let n = calls.withLock { $0 += 1; return $0 }
            try await Task.sleep(for: .milliseconds(20))
            return AWSCredentials(accessKeyID: "ASIA\(n)", secretAccessKey: "s", sessionToken: "t", expiration: clock.withLock { $0 } + lifetime)
        }
    }

    @Test("temporary credentials are fetched once for concurrent callers and refreshed five minutes before they expire")
    func cacheRefresh() async throws {
        let provider = CountingProvider()
        let cache = AWSCredentialCache(provider, now: { provider.clock.withLock { $0 } })
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await cache.credentials().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(keys == ["ASIA1"] && provider.calls.withLock { $0 } == 1)
        provider.clock.withLock { $0 += 3600 - 301 }
        #expect(try await cache.credentials().accessKeyID == "ASIA1")
        provider.clock.withLock { $0 += 2 }
        #expect(try await cache.credentials().accessKeyID == "ASIA2")
        #expect(provider.calls.withLock { $0 } == 2)
    }
}
