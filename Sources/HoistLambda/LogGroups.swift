import Foundation
import NIOConcurrencyHelpers

/// What the home keeps of a log group besides its streams.
struct LogGroupSettings: Codable, Sendable {
    /// Milliseconds since 1970.
    var creationTime: Int64
    var retentionInDays: Int?
}

/// The local Lambda's log groups: every function's group that has logged (its folder
/// `logs/aws/lambda/<name>`), and the groups made or configured through CloudWatch Logs, whose
/// settings are kept in `log-groups.json` (mode 0600) in the home so that they survive a
/// restart. Only a function's group holds streams: nothing else writes logs here.
final class LogGroups: Sendable {
    let logsRoot: String
    let statePath: String
    private let saved: NIOLockedValueBox<[String: LogGroupSettings]>

    init(root: String) {
        logsRoot = root + "/logs"
        statePath = root + "/log-groups.json"
        saved = NIOLockedValueBox(PrivateFile.read([String: LogGroupSettings].self, from: statePath) ?? [:])
    }

    /// The folder of `/aws/lambda/<function>`; `nil` for any other group.
    func directory(of group: String) -> String? {
        let prefix = "/aws/lambda/"
        guard group.hasPrefix(prefix) else { return nil }
        let name = group.dropFirst(prefix.count)
        guard name.range(of: #"^[A-Za-z0-9_-]{1,64}$"#, options: .regularExpression) != nil else { return nil }
        return logsRoot + group
    }

    /// Every group by name.
    var all: [String: LogGroupSettings] {
        var groups = saved.withLockedValue { $0 }
        let functions = logsRoot + "/aws/lambda"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: functions)) ?? [] {
            let group = "/aws/lambda/" + name
            if groups[group] == nil, let directory = directory(of: group), let settings = Self.settings(ofDirectory: directory) {
                groups[group] = settings
            }
        }
        return groups
    }

    subscript(group: String) -> LogGroupSettings? {
        saved.withLockedValue { $0[group] } ?? folder(group)
    }

    /// A function's group as its folder makes it (takes no lock: usable inside ``update(_:)``).
    func folder(_ group: String) -> LogGroupSettings? {
        directory(of: group).flatMap(Self.settings(ofDirectory:))
    }

    /// A group's folder, as a group made when its function first logged.
    private static func settings(ofDirectory path: String) -> LogGroupSettings? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeDirectory else { return nil }
        let date = (attributes[.creationDate] as? Date) ?? (attributes[.modificationDate] as? Date) ?? Date()
        return LogGroupSettings(creationTime: Int64(date.timeIntervalSince1970 * 1000))
    }

    /// Changes the kept settings and saves them; nothing changes when `body` throws.
    func update<T>(_ body: (inout [String: LogGroupSettings]) throws -> T) throws -> T {
        try saved.withLockedValue { saved in
            var changed = saved
            let result = try body(&changed)
            try PrivateFile.write(changed, to: statePath)
            saved = changed
            return result
        }
    }

    /// Removes a group: its settings and, for a function's group, its streams.
    func delete(_ group: String) throws {
        try update { saved in
            let logged = folder(group) != nil
            guard saved.removeValue(forKey: group) != nil || logged else { throw LogsAPIError.notFound(group) }
            if let directory = directory(of: group) { try? FileManager.default.removeItem(atPath: directory) }
        }
    }

    /// A group's streams: their names (`2026/12/03/[$LATEST]<id>`) and files.
    func streams(of group: String) -> [(name: String, path: String)] {
        guard let directory = directory(of: group), let paths = FileManager.default.subpaths(atPath: directory) else { return [] }
        return paths.sorted().compactMap { relative in
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard !relative.hasSuffix(LogTimes.suffix), FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
            return (relative, path)
        }
    }

    /// The bytes a group's streams hold.
    func storedBytes(of group: String) -> Int {
        streams(of: group).reduce(0) { total, stream in
            total + ((try? FileManager.default.attributesOfItem(atPath: stream.path)[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
