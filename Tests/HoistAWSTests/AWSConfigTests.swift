import Foundation
import HoistCore
import Testing
@testable import HoistAWS

@Suite("AWS config: profiles, region, endpoints")
struct AWSConfigTests {
    static let files = (
        config: """
        # a comment
        [default]
        region = eu-west-1

        [profile dev]
        region = eu-central-1
        endpoint_url = http://127.0.0.1:1111
        services = local

        [services local]
        lambda =
          endpoint_url = http://127.0.0.1:2222
        cloudwatch logs =
          endpoint_url = http://unused
        cloudwatch_logs =
          endpoint_url = http://127.0.0.1:3333
        """,
        credentials: """
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = default-secret

        [dev]
        aws_access_key_id = AKIDDEV
        aws_secret_access_key = dev-secret
        aws_session_token = dev-token
        """
    )

    static func credentials(_ config: AWSConfig) async throws -> AWSCredentials {
        try await config.credentials.credentials()
    }

    @Test("the environment's keys win over the default profile; a profile named in code wins over them")
    func environmentKeys() async throws {
        let home = try TemporaryAWSHome(config: Self.files.config, credentials: Self.files.credentials)
        let env = home.environment(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"])
        let fromEnvironment = try await Self.credentials(AWSConfig.load(environment: env))
        #expect(fromEnvironment == AWSCredentials(accessKeyID: "AKIDENV", secretAccessKey: "env-secret", sessionToken: "env-token"))
        let named = try await Self.credentials(AWSConfig.load(profile: "dev", environment: env))
        #expect(named.accessKeyID == "AKIDDEV" && named.sessionToken == "dev-token")
        // AWS_PROFILE does not outrank the environment's keys (as in the CLI).
        var withProfile = env
        withProfile.variables["AWS_PROFILE"] = "dev"
        #expect(try await Self.credentials(AWSConfig.load(environment: withProfile)).accessKeyID == "AKIDENV")
    }

    @Test("profiles from [x] in credentials and [profile x] in config; AWS_PROFILE; the files' paths from the environment")
    func profiles() async throws {
        let home = try TemporaryAWSHome(config: Self.files.config, credentials: Self.files.credentials)
        let standard = try AWSConfig.load(environment: home.environment())
        #expect(standard.profile == "default" && standard.region == "eu-west-1")
        #expect(try await Self.credentials(standard).accessKeyID == "AKIDDEFAULT")
        let dev = try AWSConfig.load(environment: home.environment(["AWS_PROFILE": "dev"]))
        #expect(dev.profile == "dev" && dev.region == "eu-central-1")
        #expect(try await Self.credentials(dev).accessKeyID == "AKIDDEV")

        let other = try TemporaryAWSHome()
        let config = try other.write("elsewhere-config", "[profile x]\nregion = ap-south-1\n")
        let credentials = try other.write("elsewhere-credentials", "[x]\naws_access_key_id = AKIDX\naws_secret_access_key = x-secret\n")
        let moved = try AWSConfig.load(profile: "x", environment: other.environment(["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials]))
        #expect(moved.region == "ap-south-1")
        #expect(try await Self.credentials(moved).accessKeyID == "AKIDX")
    }

    @Test("region: the argument, AWS_REGION, AWS_DEFAULT_REGION, the profile, else us-east-1")
    func region() throws {
        let home = try TemporaryAWSHome(config: Self.files.config, credentials: Self.files.credentials)
        #expect(try AWSConfig.load(region: "sa-east-1", environment: home.environment(["AWS_REGION": "us-west-2"])).region == "sa-east-1")
        #expect(try AWSConfig.load(environment: home.environment(["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-1"])).region == "us-west-2")
        #expect(try AWSConfig.load(environment: home.environment(["AWS_DEFAULT_REGION": "us-west-1"])).region == "us-west-1")
        #expect(try AWSConfig.load(environment: home.environment()).region == "eu-west-1")
        let bare = try TemporaryAWSHome(credentials: Self.files.credentials)
        #expect(try AWSConfig.load(environment: bare.environment()).region == "us-east-1")
    }

    @Test("endpoints: code, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the services section, the profile's endpoint_url, AWS")
    func endpoints() throws {
        let home = try TemporaryAWSHome(config: Self.files.config, credentials: Self.files.credentials)
        let dev = try AWSConfig.load(profile: "dev", environment: home.environment())
        #expect(dev.endpoint(for: .lambda) == "http://127.0.0.1:2222")
        #expect(dev.endpoint(for: .cloudWatchLogs) == "http://127.0.0.1:3333")
        #expect(dev.endpoint(for: .sts) == "http://127.0.0.1:1111")
        let env = home.environment(["AWS_ENDPOINT_URL": "http://127.0.0.1:4444/", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:5555"])
        let overridden = try AWSConfig.load(profile: "dev", endpoints: [.iam: "http://127.0.0.1:6666"], environment: env)
        #expect(overridden.endpoint(for: .cloudWatchLogs) == "http://127.0.0.1:5555")
        #expect(overridden.endpoint(for: .lambda) == "http://127.0.0.1:4444")
        #expect(overridden.endpoint(for: .iam) == "http://127.0.0.1:6666")
        var ignoring = env
        ignoring.variables["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try AWSConfig.load(profile: "dev", environment: ignoring).endpoint(for: .lambda) == "https://lambda.eu-central-1.amazonaws.com")
        let standard = try AWSConfig.load(environment: home.environment())
        #expect(standard.endpoint(for: .iam) == "https://iam.amazonaws.com")
        #expect(standard.endpoint(for: .s3) == "https://s3.eu-west-1.amazonaws.com")
        #expect(AWSService.cloudWatchLogs.environmentSuffix == "CLOUDWATCH_LOGS")
    }

    static func loadError(_ home: TemporaryAWSHome, profile: String? = nil, _ variables: [String: String] = [:]) -> String {
        do {
            _ = try AWSConfig.load(profile: profile, environment: home.environment(variables))
            return "no error"
        } catch let error as HoistError {
            #expect(error.code == .invalidConfiguration)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("a missing or broken profile is an error naming the file, the profile and what is missing, and never a secret")
    func profileErrors() throws {
        let home = try TemporaryAWSHome(config: """
        [profile nosecret]
        region = us-east-1
        [profile mfa]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = base
        mfa_serial = arn:aws:iam::123456789012:mfa/me
        [profile orphan]
        role_arn = arn:aws:iam::123456789012:role/r
        [profile lost]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = nowhere
        [profile a]
        role_arn = arn:aws:iam::123456789012:role/a
        source_profile = b
        [profile b]
        role_arn = arn:aws:iam::123456789012:role/b
        source_profile = a
        [profile both]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = base
        credential_source = Environment
        """, credentials: """
        [nosecret]
        aws_access_key_id = AKIDNOSECRET
        [base]
        aws_access_key_id = AKIDBASE
        aws_secret_access_key = base-secret
        """)
        let config = home.path + "/.aws/config", credentials = home.path + "/.aws/credentials"

        let unknown = Self.loadError(home, profile: "nope")
        #expect(unknown.contains("'nope'") && unknown.contains(config) && unknown.contains(credentials))
        #expect(Self.loadError(home, ["AWS_PROFILE": "nope"]).contains("'nope'"))
        let noSecret = Self.loadError(home, profile: "nosecret")
        #expect(noSecret.contains("profile 'nosecret' in \(credentials)") && noSecret.contains("no aws_secret_access_key"))
        let mfa = Self.loadError(home, profile: "mfa")
        #expect(mfa.contains("profile 'mfa' in \(config)") && mfa.contains("mfa_serial") && mfa.contains("MFA"))
        #expect(Self.loadError(home, profile: "orphan").contains("no source_profile, credential_source or web_identity_token_file"))
        let lost = Self.loadError(home, profile: "lost")
        #expect(lost.contains("source_profile 'nowhere'") && lost.contains(config))
        #expect(Self.loadError(home, profile: "a").contains("cycle: a → b → a"))
        #expect(Self.loadError(home, profile: "both").contains("both source_profile and credential_source"))
        #expect(!Self.loadError(home, profile: "lost").contains("base-secret"))

        let broken = try TemporaryAWSHome(credentials: "[default]\naws_access_key_id = AKID\nwJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
        let message = Self.loadError(broken)
        #expect(message.contains(broken.path + "/.aws/credentials, line 3, in [default]"))
        #expect(!message.contains("wJalrXUtnFEMI"))
        #expect(Self.loadError(try TemporaryAWSHome(config: "[profile x\nregion = y\n")).contains("line 1"))
        #expect(Self.loadError(home, ["AWS_ACCESS_KEY_ID": "AKIDONLY"]).contains("AWS_SECRET_ACCESS_KEY is not"))
    }

    @Test("credentials print without their secret or session token")
    func redaction() {
        let credentials = AWSCredentials(accessKeyID: "AKIDSHOWN", secretAccessKey: "very-secret", sessionToken: "token-secret")
        for text in [credentials.description, String(reflecting: credentials), "\(credentials)", { var s = ""; dump(credentials, to: &s); return s }()] {
            #expect(text.contains("AKIDSHOWN"))
            #expect(!text.contains("very-secret") && !text.contains("token-secret"), "\(text)")
        }
    }

    @Test("the shared-file parser: comments, case, spaces in section names, nested settings")
    func parser() throws {
        let file = try AWSConfigFile(path: "/x", text: "; comment\n[ profile   spaced ]\nRegion=us-east-2\ns3 =\n  max_concurrent_requests = 20\n  addressing_style = path\nnext = 1\n")
        let section = try #require(file["profile spaced"])
        #expect(section.values["region"] == "us-east-2" && section.values["next"] == "1")
        #expect(section.nested["s3"] == ["max_concurrent_requests": "20", "addressing_style": "path"])
    }
}
