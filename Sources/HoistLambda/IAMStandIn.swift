import Foundation
import Hummingbird

/// The IAM calls an execution role needs — `CreateRole`, `GetRole`, `DeleteRole` and the
/// inline policies' `Put`/`Get`/`Delete`/`ListRolePolicies` — and STS's `GetCallerIdentity`,
/// answered as IAM answers them, so that a deploy pointed at the local Lambda finds or makes
/// its role here. Policies are kept, not enforced: every call is allowed.
struct IAMStandIn: Sendable {
    let roles: IAMRoles
    let account: String

    static let iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
    static let stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

    /// Answers `request`; errors are XML answers too.
    func answer(_ request: QueryRequest) -> Response {
        guard let action = request.action, !action.isEmpty else {
            return QueryError(code: "MissingAction", status: .badRequest, message: "The request has no Action: send Action=<operation>&Version=<API version> (IAM's, or STS's GetCallerIdentity)").response(namespace: Self.iamNamespace)
        }
        let namespace = action == "GetCallerIdentity" ? Self.stsNamespace : Self.iamNamespace
        do {
            return QueryXML.answer(action, namespace: namespace, result: try result(of: action, request))
        } catch let error as QueryError {
            return error.response(namespace: namespace)
        } catch {
            return QueryError(code: "ServiceFailure", status: .internalServerError, message: "\(error)").response(namespace: namespace)
        }
    }

    /// The `<ActionResult>`'s inside, or `nil` for actions that answer with metadata only.
    private func result(of action: String, _ request: QueryRequest) throws -> String? {
        switch action {
        case "GetCallerIdentity":
            return QueryXML.element("Arn", "arn:aws:iam::\(account):user/hoist") + QueryXML.element("UserId", "AIDAHOISTLOCALLAMBDA") + QueryXML.element("Account", account)
        case "GetRole":
            return try xml(existingRole(request.require("RoleName")))
        case "CreateRole":
            return try xml(create(request))
        case "DeleteRole":
            let name = try request.require("RoleName")
            try roles.update { roles in
                guard let role = roles[name.lowercased()] else { throw noRole(name) }
                guard role.policies.isEmpty else {
                    throw QueryError(code: "DeleteConflict", status: .conflict, message: "Cannot delete entity, must delete policies first. (Role \(role.name) has inline policies: \(role.policies.keys.sorted().joined(separator: ", ")); DeleteRolePolicy each)")
                }
                roles[name.lowercased()] = nil
            }
            return nil
        case "PutRolePolicy":
            let (name, policyName) = try (request.require("RoleName"), request.require("PolicyName"))
            let document = try policyDocument(request.require("PolicyDocument"))
            try roles.update { roles in
                guard roles[name.lowercased()] != nil else { throw noRole(name) }
                roles[name.lowercased()]!.policies[policyName] = document
            }
            return nil
        case "GetRolePolicy":
            let (role, policyName) = try (existingRole(request.require("RoleName")), request.require("PolicyName"))
            guard let document = role.policies[policyName] else { throw noPolicy(policyName) }
            return QueryXML.element("RoleName", role.name) + QueryXML.element("PolicyName", policyName) + QueryXML.element("PolicyDocument", QueryXML.policy(document))
        case "DeleteRolePolicy":
            let (name, policyName) = try (request.require("RoleName"), request.require("PolicyName"))
            try roles.update { roles in
                guard roles[name.lowercased()] != nil else { throw noRole(name) }
                guard roles[name.lowercased()]!.policies.removeValue(forKey: policyName) != nil else { throw noPolicy(policyName) }
            }
            return nil
        case "ListRolePolicies":
            let role = try existingRole(request.require("RoleName"))
            let members = role.policies.keys.sorted().map { QueryXML.element("member", $0) }.joined()
            return "<PolicyNames>\(members)</PolicyNames><IsTruncated>false</IsTruncated>"
        default:
            throw QueryError(code: "InvalidAction", status: .badRequest, message: "Could not find operation \(action) for version \(request["Version"] ?? "2010-05-08"); the local Lambda answers \(Self.actions.joined(separator: ", "))")
        }
    }

    static let actions = ["CreateRole", "GetRole", "DeleteRole", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "GetCallerIdentity"]

    private func create(_ request: QueryRequest) throws -> LocalRole {
        let name = try request.require("RoleName")
        guard name.range(of: #"^[\w+=,.@-]{1,64}$"#, options: .regularExpression) != nil else {
            throw QueryError.validation("1 validation error detected: Value '\(name)' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64 and match [\\w+=,.@-]+")
        }
        let path = request["Path"] ?? "/"
        guard path.hasPrefix("/"), path.hasSuffix("/"), path.count <= 512 else {
            throw QueryError.validation("Path '\(path)' must begin and end with '/' (for example /service-role/)")
        }
        let trust = try policyDocument(request.require("AssumeRolePolicyDocument"))
        let duration = Int(request["MaxSessionDuration"] ?? "3600") ?? 0
        guard (3600...43200).contains(duration) else {
            throw QueryError.validation("MaxSessionDuration \(duration) is out of range: 3600 to 43200 seconds")
        }
        let created = ISO8601DateFormatter().string(from: Date())
        let role = LocalRole(name: name, id: LocalRole.newID(), path: path, trustPolicy: trust, description: request["Description"], created: created, maxSessionDuration: duration, policies: [:])
        try roles.update { roles in
            if let existing = roles[name.lowercased()] {
                throw QueryError(code: "EntityAlreadyExists", status: .conflict, message: "Role with name \(existing.name) already exists.")
            }
            roles[name.lowercased()] = role
        }
        return role
    }

    private func existingRole(_ name: String) throws -> LocalRole {
        guard let role = roles[name] else { throw noRole(name) }
        return role
    }

    /// A policy must be a JSON object, as IAM checks before keeping it.
    private func policyDocument(_ text: String) throws -> String {
        guard (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any] else {
            throw QueryError(code: "MalformedPolicyDocument", status: .badRequest, message: "Syntax errors in policy: the document must be a JSON object such as {\"Version\":\"2012-10-17\",\"Statement\":[…]}")
        }
        return text
    }

    private func xml(_ role: LocalRole) -> String {
        var xml = "<Role>" + QueryXML.element("Path", role.path) + QueryXML.element("AssumeRolePolicyDocument", QueryXML.policy(role.trustPolicy))
        xml += QueryXML.element("MaxSessionDuration", String(role.maxSessionDuration)) + QueryXML.element("RoleId", role.id) + QueryXML.element("RoleName", role.name)
        xml += QueryXML.element("Arn", role.arn(account: account)) + QueryXML.element("CreateDate", role.created)
        if let description = role.description { xml += QueryXML.element("Description", description) }
        return xml + "</Role>"
    }

    private func noRole(_ name: String) -> QueryError { .noSuchEntity("The role with name \(name) cannot be found.") }
    private func noPolicy(_ name: String) -> QueryError { .noSuchEntity("The role policy with name \(name) cannot be found.") }
}
