import Foundation

/// What a function needs on the system it runs on: processes, variables, secrets, a directory.
///
/// ```swift
/// let env = Env(name: "prod", environment: ["MODE": "fast"], secrets: ["API_TOKEN"], replicas: 2)
/// let remote = try await summer.to(.local, env: env)
/// ```
///
/// Swift dependencies come from your own `Package.swift`: the app binary carries them.
public struct Env: Codable, Sendable, Hashable {
    /// A name for the environment, shown in listings.
    public var name: String
    /// Debian packages the system must have (installed by cluster bootstraps; checked locally).
    public var systemPackages: [String]
    /// Shell commands run once per version of this env, before workers start, in ``workingDirectory``.
    public var setup: [String]
    /// Environment variables for the workers.
    public var environment: [String: String]
    /// Names of secrets: each is read from the caller's environment at deploy time and given to
    /// the workers as a variable of the same name. Values are never logged and are stored only
    /// in a mode-0600 file beside the deployed app.
    public var secrets: [String]
    /// A file of `NAME=value` lines (blank lines and `#` comments ignored) that secrets are read
    /// from when the caller's environment does not set them; keep it mode 0600.
    public var secretsFile: String?
    /// The workers' working directory; `nil` uses the app's own directory under the Hoist home.
    public var workingDirectory: String?
    /// How many worker processes serve the app. Each runs one call at a time, so that what a
    /// function prints belongs to exactly one call.
    public var replicas: Int

    public init(
        name: String = "default",
        systemPackages: [String] = [],
        setup: [String] = [],
        environment: [String: String] = [:],
        secrets: [String] = [],
        secretsFile: String? = nil,
        workingDirectory: String? = nil,
        replicas: Int = 1
    ) {
        self.name = name
        self.systemPackages = systemPackages
        self.setup = setup
        self.environment = environment
        self.secrets = secrets
        self.secretsFile = secretsFile
        self.workingDirectory = workingDirectory
        self.replicas = replicas
    }

    /// The default: one worker, no extra variables.
    public static let `default` = Env()

    /// The problems with this env, for a clear error before anything is deployed.
    public func validate() throws {
        guard (1...256).contains(replicas) else {
            throw HoistError(.invalidConfiguration, "Env '\(name)': replicas must be between 1 and 256, got \(replicas)")
        }
        for key in environment.keys where !Self.isVariableName(key) {
            throw HoistError(.invalidConfiguration, "Env '\(name)': '\(key)' is not a valid environment variable name (letters, digits, '_', not starting with a digit)")
        }
        for key in secrets where !Self.isVariableName(key) {
            throw HoistError(.invalidConfiguration, "Env '\(name)': secret '\(key)' is not a valid environment variable name")
        }
        for package in systemPackages where !Self.isDebianPackageName(package) {
            throw HoistError(.invalidConfiguration, "Env '\(name)': '\(package)' is not a Debian package name (lower-case letters, digits, '+', '-', '.')")
        }
        if let dir = workingDirectory, !dir.hasPrefix("/") && !dir.hasPrefix("~") {
            throw HoistError(.invalidConfiguration, "Env '\(name)': workingDirectory must be an absolute path, got '\(dir)'")
        }
    }

    /// The values of ``secrets``: each from the caller's environment, else from ``secretsFile``.
    /// Throws naming the first secret found in neither.
    /// `environment` defaults to this process's, read only when there are secrets to find.
    public func secretValues(environment: [String: String]? = nil) throws -> [String: String] {
        var fromFile: [String: String] = [:]
        if let secretsFile {
            let path = NSString(string: secretsFile).expandingTildeInPath
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw HoistError(.invalidConfiguration, "Env '\(name)': cannot read the secrets file \(path)")
            }
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
                let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
                var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                    value = String(value.dropFirst().dropLast())
                }
                fromFile[key.hasPrefix("export ") ? String(key.dropFirst(7)).trimmingCharacters(in: .whitespaces) : key] = value
            }
        }
        var values: [String: String] = [:]
        let environment = secrets.isEmpty ? [:] : environment ?? ProcessInfo.processInfo.environment
        for secret in secrets {
            guard let value = environment[secret] ?? fromFile[secret] else {
                let file = secretsFile.map { " nor in \($0)" } ?? ""
                throw HoistError(.invalidConfiguration, "Env '\(name)' needs secret \(secret), which is not set in this process's environment\(file); export it (or add it to a secrets file) before running")
            }
            values[secret] = value
        }
        return values
    }

    static func isDebianPackageName(_ name: String) -> Bool {
        guard name.count >= 2, let first = name.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0) }
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}
