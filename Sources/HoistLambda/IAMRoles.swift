import Foundation
import NIOConcurrencyHelpers

/// An IAM role of the local Lambda: its trust policy and inline policies, kept so that a
/// deploy finds the role it made before.
struct LocalRole: Codable, Sendable {
    var name: String
    var id: String
    var path: String
    var trustPolicy: String
    var description: String?
    /// ISO 8601, as IAM's `CreateDate`.
    var created: String
    var maxSessionDuration: Int
    /// Inline policies by name.
    var policies: [String: String]

    func arn(account: String) -> String { "arn:aws:iam::\(account):role\(path)\(name)" }

    /// `AROA` and 17 more upper-case letters and digits, as IAM's role ids look.
    static func newID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        return "AROA" + String((0..<17).map { _ in alphabet.randomElement()! })
    }
}

/// The roles, in `iam-roles.json` in the local Lambda's home (mode 0600, replaced whole on
/// each change) so that they survive a restart, as functions do. IAM role names are unique
/// regardless of case, so they are looked up that way.
final class IAMRoles: Sendable {
    let path: String
    private let roles: NIOLockedValueBox<[String: LocalRole]>

    init(path: String) {
        self.path = path
        let saved = PrivateFile.read([LocalRole].self, from: path) ?? []
        roles = NIOLockedValueBox(Dictionary(saved.map { ($0.name.lowercased(), $0) }) { first, _ in first })
    }

    subscript(name: String) -> LocalRole? { roles.withLockedValue { $0[name.lowercased()] } }

    /// Changes the roles and saves them; nothing changes when `body` throws or the file cannot
    /// be written.
    func update<T>(_ body: (inout [String: LocalRole]) throws -> T) throws -> T {
        try roles.withLockedValue { roles in
            var changed = roles
            let result = try body(&changed)
            try PrivateFile.write(changed.values.sorted { $0.name < $1.name }, to: path)
            roles = changed
            return result
        }
    }
}
