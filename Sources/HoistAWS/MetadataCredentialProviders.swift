import AsyncHTTPClient
import Foundation
import HoistCore
import NIOCore
import NIOHTTP1

/// Container credentials (ECS tasks, EKS Pod Identity, CodeBuild): a GET of
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, or of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
/// 169.254.170.2, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at every refresh) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the `Authorization` header.
struct ContainerCredentialProvider: AWSCredentialProvider {
    var url: String
    var authorizationToken: String?
    var authorizationTokenFile: String?
    var http: HTTPClient

    /// Plain HTTP is allowed only to the hosts the SDKs allow: loopback and ECS's and EKS's
    /// link-local agents. Anything else must be HTTPS, or a token would travel in the clear.
    static func validate(fullURI: String) throws {
        guard let url = URL(string: fullURI), let scheme = url.scheme, let host = url.host else {
            throw HoistError(.invalidConfiguration, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: \(fullURI)")
        }
        if scheme == "https" { return }
        let allowed = host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
            || host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23" || host == "[fd00:ec2::23]"
        guard scheme == "http", allowed else {
            throw HoistError(.invalidConfiguration, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to loopback, 169.254.170.2 or 169.254.170.23: \(fullURI)")
        }
    }

    func credentials() async throws -> AWSCredentials {
        var request = HTTPClientRequest(url: url)
        var token = authorizationToken
        if let file = authorizationTokenFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw HoistError(.invalidConfiguration, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let token { request.headers.add(name: "Authorization", value: token) }
        let body = try await MetadataHTTP.get(request, http: http, what: "container credentials at \(url)")
        return try MetadataHTTP.credentials(from: body, what: "container credentials at \(url)")
    }
}

/// EC2 instance metadata, IMDSv2: a session token from `PUT /latest/api/token`, then the role
/// name and its credentials under `/latest/meta-data/iam/security-credentials/`. One second per
/// request and no retries, as the CLI does: off EC2 the address does not answer at all.
struct InstanceMetadataProvider: AWSCredentialProvider {
    var base: String
    var http: HTTPClient
    /// What the chain tried before this last link, for the error when this one fails too.
    var searched: String?

    func credentials() async throws -> AWSCredentials {
        do {
            var tokenRequest = HTTPClientRequest(url: "\(base)/latest/api/token")
            tokenRequest.method = .PUT
            tokenRequest.headers.add(name: "X-aws-ec2-metadata-token-ttl-seconds", value: "21600")
            let token = String(decoding: try await MetadataHTTP.get(tokenRequest, http: http, what: "the EC2 metadata token"), as: UTF8.self)

            let path = "\(base)/latest/meta-data/iam/security-credentials/"
            var roleRequest = HTTPClientRequest(url: path)
            roleRequest.headers.add(name: "X-aws-ec2-metadata-token", value: token)
            let roles = String(decoding: try await MetadataHTTP.get(roleRequest, http: http, what: "the instance's role"), as: UTF8.self)
            guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
                throw HoistError(.unauthorized, "the EC2 instance has no IAM role")
            }
            var credentialsRequest = HTTPClientRequest(url: path + AWSPercentEncoding.encode(role))
            credentialsRequest.headers.add(name: "X-aws-ec2-metadata-token", value: token)
            let body = try await MetadataHTTP.get(credentialsRequest, http: http, what: "the credentials of role \(role)")
            return try MetadataHTTP.credentials(from: body, what: "EC2 instance metadata")
        } catch {
            guard let searched else { throw error }
            throw HoistError(.unauthorized, "no AWS credentials found: \(searched), and EC2 instance metadata at \(base) gave none (\(error))")
        }
    }
}

/// The HTTP and JSON the two metadata services share.
enum MetadataHTTP {
    static let timeout: TimeAmount = .seconds(1)

    static func get(_ request: HTTPClientRequest, http: HTTPClient, what: String) async throws -> [UInt8] {
        let response = try await http.execute(request, timeout: timeout)
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard response.status == .ok else {
            throw HoistError(.unauthorized, "\(what): HTTP \(response.status.code)")
        }
        return body
    }

    private struct Answer: Decodable {
        var Code: String?
        var Message: String?
        var AccessKeyId: String?
        var SecretAccessKey: String?
        var Token: String?
        var Expiration: String?
    }

    static func credentials(from body: [UInt8], what: String) throws -> AWSCredentials {
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw HoistError(.badResponse, "\(what): the answer is not JSON")
        }
        if let code = answer.Code, code != "Success" {
            throw HoistError(.unauthorized, "\(what): \(code)\(answer.Message.map { ": \($0)" } ?? "")")
        }
        guard let key = answer.AccessKeyId, let secret = answer.SecretAccessKey else {
            throw HoistError(.badResponse, "\(what): the answer has no AccessKeyId and SecretAccessKey")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: answer.Token,
                              expiration: answer.Expiration.flatMap(AWSDates.parseISO8601))
    }
}
