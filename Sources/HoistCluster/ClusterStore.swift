import Foundation
import HoistCore

/// Saved cluster configurations: one JSON file per cluster under `<home>/clusters`.
public struct ClusterStore: Sendable {
    public let home: HoistHome

    public init(home: HoistHome = .current) {
        self.home = home
    }

    public var directory: String { home.root + "/clusters" }

    public func path(of name: String) -> String { directory + "/" + name + ".json" }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }

    /// Writes the cluster's config atomically, mode 0600.
    public func save(_ cluster: Cluster) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(cluster)
        let temporary = path(of: cluster.name) + ".\(ProcessInfo.processInfo.processIdentifier).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw HoistError(.internalError, "cannot write \(temporary)")
        }
        guard rename(temporary, path(of: cluster.name)) == 0 else {
            unlink(temporary)
            throw HoistError(.internalError, "cannot save cluster '\(cluster.name)' to \(path(of: cluster.name))")
        }
    }

    /// The saved cluster called `name`; a clear error naming the saved ones when there is none.
    public func load(_ name: String) throws -> Cluster {
        guard Self.isValidName(name) else {
            throw HoistError(.invalidConfiguration, "cluster name '\(name)' is not valid: use letters, digits, '-', '_' and '.'")
        }
        guard let data = FileManager.default.contents(atPath: path(of: name)) else {
            let known = (try? all().map(\.name)) ?? []
            throw HoistError(.invalidConfiguration, "no saved cluster named '\(name)' in \(directory)" + (known.isEmpty ? "; bring one up with `hoist cluster up \(name) --host …`" : "; saved: \(known.joined(separator: ", "))"))
        }
        do {
            return try JSONDecoder().decode(Cluster.self, from: data)
        } catch {
            throw HoistError(.invalidConfiguration, "the saved cluster \(path(of: name)) is not a valid cluster config (\(error)); fix or remove it")
        }
    }

    /// Every saved cluster, by name.
    public func all() throws -> [Cluster] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { file in
            try? load(String(file.dropLast(5)))
        }
    }

    /// Removes a saved cluster; returns whether there was one.
    @discardableResult
    public func remove(_ name: String) throws -> Bool {
        guard Self.isValidName(name) else { return false }
        guard FileManager.default.fileExists(atPath: path(of: name)) else { return false }
        try FileManager.default.removeItem(atPath: path(of: name))
        return true
    }
}
