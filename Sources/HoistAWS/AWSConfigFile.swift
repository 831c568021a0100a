import Foundation
import HoistCore

/// One of the shared files, `~/.aws/config` or `~/.aws/credentials`, parsed as the AWS CLI reads
/// them: `[section]` headers, `key = value` lines, `#` and `;` comment lines, and indented
/// `sub_key = value` lines under a `key =` with no value (the `services` and `s3` forms).
struct AWSConfigFile: Sendable {
    /// One `[section]`: its keys (lower-cased) and its nested keys (`lambda` → `endpoint_url` → …).
    struct Section: Sendable {
        var values: [String: String] = [:]
        var nested: [String: [String: String]] = [:]
    }

    let path: String
    /// Sections by their header text with inner spaces normalised: `default`, `profile dev`, `services s`.
    private(set) var sections: [String: Section] = [:]

    /// The file at `path`; an empty file when there is none. Throws, naming the file and the
    /// line, for a line that is neither a section, a setting nor a comment.
    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            try self.init(path: path, text: "")
            return
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw HoistError(.invalidConfiguration, "cannot read the AWS config file \(path)")
        }
        try self.init(path: path, text: text)
    }

    init(path: String, text: String) throws {
        self.path = path
        var current: String?
        var openKey: String?   // a `key =` with no value, collecting indented sub-settings
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            let indented = rawLine.first == " " || rawLine.first == "\t"
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw HoistError(.invalidConfiguration, "\(path), line \(number + 1): a section header must end with ']': \(line)")
                }
                let name = line.dropFirst().dropLast().split(whereSeparator: \.isWhitespace).joined(separator: " ")
                current = name
                openKey = nil
                if sections[name] == nil { sections[name] = Section() }
                continue
            }
            guard let section = current else {
                throw HoistError(.invalidConfiguration, "\(path), line \(number + 1): a setting before any [section]")
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw HoistError(.invalidConfiguration, "\(path), line \(number + 1), in [\(section)]: expected 'key = value' (the line is not shown: it may hold a secret)")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw HoistError(.invalidConfiguration, "\(path), line \(number + 1), in [\(section)]: a setting without a name")
            }
            if indented, let parent = openKey {
                sections[section]!.nested[parent, default: [:]][key] = value
            } else if value.isEmpty {
                openKey = key
                sections[section]!.values[key] = value
            } else {
                openKey = nil
                sections[section]!.values[key] = value
            }
        }
    }

    subscript(section: String) -> Section? { sections[section] }
}
