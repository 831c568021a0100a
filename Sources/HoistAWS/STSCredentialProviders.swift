import AsyncHTTPClient
import Foundation
import HoistCore

/// A role assumed through STS `AssumeRole` with another provider's credentials: a profile's
/// `role_arn` with `source_profile` or `credential_source`.
struct AssumeRoleProvider: AWSCredentialProvider {
    var roleARN: String
    var sessionName: String
    var externalID: String?
    var durationSeconds: Int?
    var source: any AWSCredentialProvider
    var region: String
    var endpoints: AWSEndpoints
    var http: HTTPClient
    var now: @Sendable () -> Date
    /// For errors: `profile 'dev' in ~/.aws/config`.
    var origin: String

    func credentials() async throws -> AWSCredentials {
        var parameters = [("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { parameters.append(("ExternalId", externalID)) }
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        let client = AWSClient(credentials: source, region: region, endpoints: endpoints, http: http, now: now)
        let response = try await client.send(.query(service: .sts, action: "AssumeRole", parameters: parameters))
        return try STSCredentials.parse(response, action: "AssumeRole", origin: origin)
    }
}

/// A role assumed with an OIDC token through STS `AssumeRoleWithWebIdentity`: EKS pods, GitHub
/// Actions. The request is not signed; the token file is read again at every refresh, since its
/// owner rotates it.
struct WebIdentityProvider: AWSCredentialProvider {
    var roleARN: String
    var tokenFile: String
    var sessionName: String
    var durationSeconds: Int?
    var region: String
    var endpoints: AWSEndpoints
    var http: HTTPClient
    var origin: String

    func credentials() async throws -> AWSCredentials {
        guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
            throw HoistError(.invalidConfiguration, "\(origin): cannot read the web identity token file \(tokenFile)")
        }
        var parameters = [("RoleArn", roleARN), ("RoleSessionName", sessionName),
                          ("WebIdentityToken", token.trimmingCharacters(in: .whitespacesAndNewlines))]
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        let client = AWSClient(credentials: nil, region: region, endpoints: endpoints, http: http)
        let response = try await client.send(.query(service: .sts, action: "AssumeRoleWithWebIdentity", parameters: parameters))
        return try STSCredentials.parse(response, action: "AssumeRoleWithWebIdentity", origin: origin)
    }
}

/// The `<Credentials>` element of an STS answer.
enum STSCredentials {
    static func parse(_ response: AWSResponse, action: String, origin: String) throws -> AWSCredentials {
        guard let element = AWSXML.element("Credentials", in: response.text),
              let key = AWSXML.value("AccessKeyId", in: element), let secret = AWSXML.value("SecretAccessKey", in: element) else {
            throw HoistError(.badResponse, "\(origin): STS \(action) answered without credentials")
        }
        return AWSCredentials(
            accessKeyID: key, secretAccessKey: secret,
            sessionToken: AWSXML.value("SessionToken", in: element),
            expiration: AWSXML.value("Expiration", in: element).flatMap(AWSDates.parseISO8601)
        )
    }
}
