import AsyncHTTPClient
import Foundation
import HoistCore

/// Builds the credential chain for a profile (see ``AWSConfig``). What can be decided from the
/// environment and the files is decided here, once; only the fetching happens per request.
struct AWSCredentialResolver {
    let files: AWSProfiles
    let environment: AWSEnvironment
    let region: String
    let endpoints: AWSEndpoints
    let http: HTTPClient

    func defaultChain(profile name: String, explicitProfile: Bool) throws -> any AWSCredentialProvider {
        // A profile named in code outranks the environment's keys, as `--profile` does in the CLI.
        if !explicitProfile, let credentials = try environmentCredentials() { return credentials }
        let profile = files.profile(name)
        if let profile, profile["role_arn"] != nil, profile["web_identity_token_file"] == nil {
            return try cached(assumeRole(profile, visited: []))
        }
        if let provider = try webIdentity(profile) { return cached(provider) }
        if let profile, let provider = try profileCredentials(profile) { return cached(provider) }
        if let provider = try container() { return cached(provider) }
        var searched = "none in the environment (AWS_ACCESS_KEY_ID)"
        searched += profile == nil ? ", no profile '\(name)' in \(files.config.path) or \(files.credentials.path)"
                                   : ", \(profile!.origin()) has no keys, role_arn or credential_process"
        searched += ", no container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI/_RELATIVE_URI)"
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            throw HoistError(.unauthorized, "no AWS credentials found: \(searched), and EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED)")
        }
        return cached(InstanceMetadataProvider(base: instanceMetadataBase(profile), http: http, searched: searched))
    }

    private func cached(_ provider: any AWSCredentialProvider) -> any AWSCredentialProvider {
        provider is AWSCredentials ? provider : AWSCredentialCache(provider, now: environment.now)
    }

    private func environmentCredentials() throws -> AWSCredentials? {
        let key = environment["AWS_ACCESS_KEY_ID"], secret = environment["AWS_SECRET_ACCESS_KEY"]
        switch (key, secret) {
        case let (key?, secret?): return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        case (.some, nil): throw HoistError(.invalidConfiguration, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, .some): throw HoistError(.invalidConfiguration, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (nil, nil): return nil
        }
    }

    /// The profile's own keys or `credential_process` (the keys win, as in botocore).
    private func profileCredentials(_ profile: AWSProfiles.Profile) throws -> (any AWSCredentialProvider)? {
        if let key = profile["aws_access_key_id"] {
            guard let secret = profile["aws_secret_access_key"] else {
                throw HoistError(.invalidConfiguration, "\(profile.origin("aws_access_key_id")) has aws_access_key_id but no aws_secret_access_key")
            }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: profile["aws_session_token"])
        }
        if profile["aws_secret_access_key"] != nil {
            throw HoistError(.invalidConfiguration, "\(profile.origin("aws_secret_access_key")) has aws_secret_access_key but no aws_access_key_id")
        }
        if let command = profile["credential_process"] {
            return ProcessCredentialProvider(command: command, origin: profile.origin("credential_process"))
        }
        if profile["sso_start_url"] != nil || profile["sso_session"] != nil {
            throw HoistError(.invalidConfiguration, "\(profile.origin()) uses IAM Identity Center (SSO), which Hoist does not support; use a credential_process such as `aws configure export-credentials --profile \(profile.name) --format process`")
        }
        return nil
    }

    /// `role_arn` with `source_profile` (followed through chains of roles) or `credential_source`.
    private func assumeRole(_ profile: AWSProfiles.Profile, visited: [String]) throws -> AssumeRoleProvider {
        let origin = profile.origin("role_arn")
        if profile["mfa_serial"] != nil {
            throw HoistError(.invalidConfiguration, "\(profile.origin("mfa_serial")) sets mfa_serial: Hoist cannot ask for an MFA code interactively; use temporary credentials (aws sts get-session-token) or a credential_process instead")
        }
        let source: any AWSCredentialProvider
        switch (profile["source_profile"], profile["credential_source"]) {
        case (.some, .some):
            throw HoistError(.invalidConfiguration, "\(origin) has both source_profile and credential_source; keep one")
        case (nil, nil):
            throw HoistError(.invalidConfiguration, "\(origin) has role_arn but no source_profile, credential_source or web_identity_token_file")
        case let (sourceName?, nil):
            source = try sourceProfile(sourceName, of: profile, visited: visited + [profile.name])
        case let (nil, kind?):
            source = try credentialSource(kind, origin: profile.origin("credential_source"), profile: profile)
        }
        var duration: Int?
        if let text = profile["duration_seconds"] {
            guard let seconds = Int(text), seconds >= 900, seconds <= 43_200 else {
                throw HoistError(.invalidConfiguration, "\(profile.origin("duration_seconds")): duration_seconds must be a whole number of seconds from 900 to 43200, not '\(text)'")
            }
            duration = seconds
        }
        return AssumeRoleProvider(
            roleARN: profile["role_arn"]!, sessionName: profile["role_session_name"] ?? sessionName(),
            externalID: profile["external_id"], durationSeconds: duration, source: cached(source),
            region: region, endpoints: endpoints, http: http, now: environment.now, origin: origin
        )
    }

    private func sourceProfile(_ name: String, of profile: AWSProfiles.Profile, visited: [String]) throws -> any AWSCredentialProvider {
        // A profile may name itself: its own keys assume its role.
        if name == profile.name {
            guard let own = try profileCredentials(profile) else {
                throw HoistError(.invalidConfiguration, "\(profile.origin("source_profile")) is its own source_profile but has no aws_access_key_id")
            }
            return own
        }
        if visited.contains(name) {
            throw HoistError(.invalidConfiguration, "source_profile forms a cycle: \((visited + [name]).joined(separator: " → "))")
        }
        guard let source = files.profile(name) else {
            throw HoistError(.invalidConfiguration, "\(profile.origin("source_profile")) names source_profile '\(name)', which is in neither \(files.config.path) nor \(files.credentials.path)")
        }
        if source["role_arn"] != nil, source["web_identity_token_file"] == nil {
            return try assumeRole(source, visited: visited)
        }
        if let webIdentity = try profileWebIdentity(source) { return webIdentity }
        guard let provider = try profileCredentials(source) else {
            throw HoistError(.invalidConfiguration, "\(source.origin()), the source_profile of profile '\(profile.name)', has no aws_access_key_id, role_arn or credential_process")
        }
        return provider
    }

    private func credentialSource(_ kind: String, origin: String, profile: AWSProfiles.Profile) throws -> any AWSCredentialProvider {
        switch kind {
        case "Environment":
            guard let credentials = try environmentCredentials() else {
                throw HoistError(.invalidConfiguration, "\(origin): credential_source Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
            }
            return credentials
        case "Ec2InstanceMetadata":
            return InstanceMetadataProvider(base: instanceMetadataBase(profile), http: http, searched: nil)
        case "EcsContainer":
            guard let provider = try container() else {
                throw HoistError(.invalidConfiguration, "\(origin): credential_source EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI is set")
            }
            return provider
        default:
            throw HoistError(.invalidConfiguration, "\(origin): credential_source must be Environment, Ec2InstanceMetadata or EcsContainer, not '\(kind)'")
        }
    }

    /// `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (the environment wins), else the
    /// profile's `web_identity_token_file` with its `role_arn`.
    private func webIdentity(_ profile: AWSProfiles.Profile?) throws -> (any AWSCredentialProvider)? {
        if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"] {
            guard let role = environment["AWS_ROLE_ARN"] else {
                throw HoistError(.invalidConfiguration, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
            }
            return WebIdentityProvider(roleARN: role, tokenFile: tokenFile, sessionName: environment["AWS_ROLE_SESSION_NAME"] ?? sessionName(),
                                       durationSeconds: nil, region: region, endpoints: endpoints, http: http, origin: "AWS_WEB_IDENTITY_TOKEN_FILE")
        }
        return try profile.flatMap(profileWebIdentity)
    }

    private func profileWebIdentity(_ profile: AWSProfiles.Profile) throws -> (any AWSCredentialProvider)? {
        guard let tokenFile = profile["web_identity_token_file"] else { return nil }
        guard let role = profile["role_arn"] else {
            throw HoistError(.invalidConfiguration, "\(profile.origin("web_identity_token_file")) has web_identity_token_file but no role_arn")
        }
        return WebIdentityProvider(roleARN: role, tokenFile: environment.expand(tokenFile), sessionName: profile["role_session_name"] ?? sessionName(),
                                   durationSeconds: profile["duration_seconds"].flatMap { Int($0) }, region: region, endpoints: endpoints,
                                   http: http, origin: profile.origin("web_identity_token_file"))
    }

    private func container() throws -> ContainerCredentialProvider? {
        let url: String
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            url = environment.containerCredentialsBase + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] {
            try ContainerCredentialProvider.validate(fullURI: full)
            url = full
        } else {
            return nil
        }
        return ContainerCredentialProvider(url: url, authorizationToken: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"],
                                           authorizationTokenFile: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], http: http)
    }

    private func instanceMetadataBase(_ profile: AWSProfiles.Profile?) -> String {
        let base = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? profile?["ec2_metadata_service_endpoint"] ?? environment.instanceMetadataBase
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// `hoist-1700000000`: AWS CloudTrail shows it; the CLI's is `botocore-session-<time>`.
    private func sessionName() -> String { "hoist-\(Int(environment.now().timeIntervalSince1970))" }
}
