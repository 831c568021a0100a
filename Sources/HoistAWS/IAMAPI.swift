import Foundation

/// An IAM role as `GetRole` and `CreateRole` describe it.
public struct IAMRole: Sendable, Equatable {
    public let name: String
    public let arn: String
    public let roleID: String?
}

/// The IAM calls an execution role needs (query protocol, signed for `us-east-1` at IAM's
/// global endpoint unless an endpoint is set).
///
/// ```swift
/// let iam = IAMAPI(client: AWSClient(config: config))
/// let role = try await iam.createRole(name: "hoist-summer-role", trustPolicy: IAMAPI.lambdaTrustPolicy)
/// try await iam.putRolePolicy(role: role.name, policyName: "logs",
///                             document: IAMAPI.logsPolicy(region: "us-east-1", account: "123456789012", function: "summer"))
/// ```
public struct IAMAPI: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    /// Lets Lambda assume the role, and no one else.
    public static let lambdaTrustPolicy = """
    {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}
    """

    /// Writes to the function's own log group only: create the group, and create streams in it
    /// and put events to them.
    public static func logsPolicy(region: String, account: String, function: String) -> String {
        let group = "arn:aws:logs:\(region):\(account):log-group:/aws/lambda/\(function)"
        return """
        {"Version":"2012-10-17","Statement":[\
        {"Effect":"Allow","Action":"logs:CreateLogGroup","Resource":"\(group):*"},\
        {"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"\(group):log-stream:*"}]}
        """
    }

    /// `GetRole`; `nil` when there is no such role (`NoSuchEntity`).
    public func getRole(_ name: String) async throws -> IAMRole? {
        do {
            return try Self.role(try await client.send(.query(service: .iam, action: "GetRole", parameters: [("RoleName", name)])))
        } catch let error as AWSError where error.code == "NoSuchEntity" {
            return nil
        }
    }

    /// `CreateRole` with a trust policy (by default Lambda's).
    public func createRole(name: String, trustPolicy: String = IAMAPI.lambdaTrustPolicy, description: String? = nil) async throws -> IAMRole {
        var parameters = [("RoleName", name), ("AssumeRolePolicyDocument", trustPolicy)]
        if let description { parameters.append(("Description", description)) }
        return try Self.role(try await client.send(.query(service: .iam, action: "CreateRole", parameters: parameters)))
    }

    /// `PutRolePolicy`: an inline policy, replaced if it exists.
    public func putRolePolicy(role: String, policyName: String, document: String) async throws {
        _ = try await client.send(.query(service: .iam, action: "PutRolePolicy",
                                         parameters: [("RoleName", role), ("PolicyName", policyName), ("PolicyDocument", document)]))
    }

    /// `GetRolePolicy`'s document (decoded from the URL encoding IAM answers with); `nil` when absent.
    public func getRolePolicy(role: String, policyName: String) async throws -> String? {
        do {
            let answer = try await client.send(.query(service: .iam, action: "GetRolePolicy", parameters: [("RoleName", role), ("PolicyName", policyName)]))
            return answer.xmlValue("PolicyDocument").map { $0.removingPercentEncoding ?? $0 }
        } catch let error as AWSError where error.code == "NoSuchEntity" {
            return nil
        }
    }

    /// `DeleteRolePolicy`.
    public func deleteRolePolicy(role: String, policyName: String) async throws {
        _ = try await client.send(.query(service: .iam, action: "DeleteRolePolicy", parameters: [("RoleName", role), ("PolicyName", policyName)]))
    }

    /// `DeleteRole` (its inline policies must be deleted first).
    public func deleteRole(_ name: String) async throws {
        _ = try await client.send(.query(service: .iam, action: "DeleteRole", parameters: [("RoleName", name)]))
    }

    private static func role(_ answer: AWSResponse) throws -> IAMRole {
        guard let role = AWSXML.element("Role", in: answer.text), let name = AWSXML.value("RoleName", in: role), let arn = AWSXML.value("Arn", in: role) else {
            throw AWSError(code: "MalformedAnswer", message: "IAM's answer holds no role: \(answer.text.prefix(200))", statusCode: answer.statusCode, service: "iam")
        }
        return IAMRole(name: name, arn: arn, roleID: AWSXML.value("RoleId", in: role))
    }
}
