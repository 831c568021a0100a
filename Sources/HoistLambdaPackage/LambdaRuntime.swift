import HoistCore

/// A Lambda runtime a package is made for: what runs the handler on Lambda.
public enum LambdaRuntime: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case python3_9 = "python3.9"
    case python3_10 = "python3.10"
    case python3_11 = "python3.11"
    case python3_12 = "python3.12"
    case python3_13 = "python3.13"
    case nodejs18 = "nodejs18.x"
    case nodejs20 = "nodejs20.x"
    case nodejs22 = "nodejs22.x"
    /// Amazon Linux 2 with no language runtime: the zip's `bootstrap` is the runtime.
    case providedAL2 = "provided.al2"
    /// Amazon Linux 2023 with no language runtime; what a Hoist app's `bootstrap` is made for.
    case providedAL2023 = "provided.al2023"

    /// The runtime of this Lambda name (`python3.12`, `nodejs20.x`, `provided.al2023`).
    public init(named name: String) throws {
        guard let runtime = LambdaRuntime(rawValue: name.lowercased()) else {
            throw HoistError(.invalidConfiguration, "'\(name)' is not a runtime Hoist packages for; use one of \(LambdaRuntime.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = runtime
    }

    public var description: String { rawValue }

    /// The Python version of a Python runtime (`3.12`), for `pip install --python-version`.
    var pythonVersion: String? {
        rawValue.hasPrefix("python") ? String(rawValue.dropFirst("python".count)) : nil
    }

    var isNode: Bool { rawValue.hasPrefix("nodejs") }
    var isProvided: Bool { rawValue.hasPrefix("provided") }
}
