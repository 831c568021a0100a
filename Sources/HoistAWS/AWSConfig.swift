import AsyncHTTPClient
import Foundation
import HoistCore

/// A profile, a region, credentials and endpoints, resolved as the AWS CLI resolves them.
///
/// ```swift
/// let config = try AWSConfig.load()                                // AWS_PROFILE, else default
/// let dev = try AWSConfig.load(profile: "dev", region: "eu-west-1")
/// let client = AWSClient(config: dev)
/// ```
///
/// Credentials come from the first of: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (unless a
/// profile is passed in code); the profile's `role_arn` (with `source_profile` or
/// `credential_source`, through STS `AssumeRole`); a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`
/// and `AWS_ROLE_ARN`, or the profile's `web_identity_token_file`); the profile's keys;
/// its `credential_process`; container credentials; EC2 instance metadata (IMDSv2).
/// Temporary credentials are cached and refreshed five minutes before they expire.
///
/// The region comes from the `region` argument, `AWS_REGION`, `AWS_DEFAULT_REGION`, the
/// profile's `region`, else `us-east-1`.
public struct AWSConfig: Sendable {
    /// The profile read (`default` when none was named).
    public let profile: String
    public let region: String
    public let credentials: any AWSCredentialProvider
    let endpoints: AWSEndpoints
    let environment: AWSEnvironment

    /// Fixed credentials and region, with endpoints set in code (`[.lambda: "http://127.0.0.1:9000"]`).
    public init(credentials: any AWSCredentialProvider, region: String, endpoints: [AWSService: String] = [:]) {
        self.profile = "default"
        self.region = region
        self.credentials = credentials
        self.endpoints = AWSEndpoints(overrides: endpoints)
        self.environment = AWSEnvironment(variables: [:], homeDirectory: "/")
    }

    /// Reads the environment and the shared files.
    ///
    /// Throws ``HoistError/Code/invalidConfiguration`` for a named profile that neither file has,
    /// a broken file, or a profile that is incomplete (the message names the file, the profile
    /// and what is missing). Credentials are fetched at first use, not here.
    public static func load(
        profile: String? = nil, region: String? = nil, endpoints: [AWSService: String] = [:],
        environment: AWSEnvironment = .process, http: HTTPClient = .shared
    ) throws -> AWSConfig {
        let files = try AWSProfiles(environment: environment)
        let name = profile ?? environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
        let settings = files.profile(name)
        if settings == nil, name != "default" {
            throw HoistError(.invalidConfiguration, "the AWS profile '\(name)' is in neither \(files.config.path) ([profile \(name)]) nor \(files.credentials.path) ([\(name)])")
        }
        let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? settings?["region"] ?? "us-east-1"

        var endpointSettings = AWSEndpoints(overrides: endpoints, variables: environment.variables)
        endpointSettings.profileEndpoint = settings?["endpoint_url"]
        if let services = settings?["services"] {
            guard let section = files.config["services \(services)"] else {
                throw HoistError(.invalidConfiguration, "profile '\(name)' in \(files.config.path) names services '\(services)', but there is no [services \(services)] section")
            }
            endpointSettings.servicesSection = section
        }
        let ignore = environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? settings?["ignore_configured_endpoint_urls"]
        endpointSettings.ignoresConfigured = ignore?.lowercased() == "true"

        let resolver = AWSCredentialResolver(files: files, environment: environment, region: region, endpoints: endpointSettings, http: http)
        let provider = try resolver.defaultChain(profile: name, explicitProfile: profile != nil)
        return AWSConfig(profile: name, region: region, credentials: provider, endpoints: endpointSettings, environment: environment)
    }

    private init(profile: String, region: String, credentials: any AWSCredentialProvider, endpoints: AWSEndpoints, environment: AWSEnvironment) {
        self.profile = profile
        self.region = region
        self.credentials = credentials
        self.endpoints = endpoints
        self.environment = environment
    }

    /// The endpoint requests to `service` go to.
    public func endpoint(for service: AWSService) -> String { endpoints.endpoint(for: service, region: region) }
}

/// The two shared files read together: a profile is `[profile x]` (or `[default]`) in the
/// config file and `[x]` in the credentials file, whose settings win where both have one.
struct AWSProfiles: Sendable {
    let config: AWSConfigFile
    let credentials: AWSConfigFile

    struct Profile: Sendable {
        let name: String
        var values: [String: String] = [:]
        /// Which file each setting came from, for errors.
        var files: [String: String] = [:]
        subscript(_ key: String) -> String? {
            guard let value = values[key], !value.isEmpty else { return nil }
            return value
        }
        /// `profile 'dev' in /root/.aws/config` (the file of `key`, or of the profile).
        func origin(_ key: String? = nil) -> String {
            let file = key.flatMap { files[$0] } ?? Set(files.values).sorted().joined(separator: " and ")
            return "profile '\(name)' in \(file)"
        }
    }

    init(environment: AWSEnvironment) throws {
        config = try AWSConfigFile(path: environment.configFilePath)
        credentials = try AWSConfigFile(path: environment.credentialsFilePath)
    }

    func profile(_ name: String) -> Profile? {
        let fromConfig = config[name == "default" ? "default" : "profile \(name)"] ?? (name == "default" ? config["profile default"] : nil)
        let fromCredentials = credentials[name]
        guard fromConfig != nil || fromCredentials != nil else { return nil }
        var profile = Profile(name: name)
        for (key, value) in fromConfig?.values ?? [:] { profile.values[key] = value; profile.files[key] = config.path }
        for (key, value) in fromCredentials?.values ?? [:] { profile.values[key] = value; profile.files[key] = credentials.path }
        if profile.files.isEmpty { profile.files[""] = fromCredentials != nil ? credentials.path : config.path }
        return profile
    }
}
