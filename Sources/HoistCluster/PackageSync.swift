import Foundation
import HoistCore
import HoistSSH

/// The files of a Swift package that a host needs to build it: what git would commit (tracked
/// files and untracked ones `.gitignore` does not exclude), never `.build`.
public struct PackageSync: Sendable {
    public let directory: String
    /// Paths relative to ``directory``.
    public let files: [String]
    public let totalBytes: Int
    /// The largest files, largest first, with their sizes.
    public let largest: [(path: String, bytes: Int)]

    /// The nearest directory at or above `start` that holds a `Package.swift`.
    public static func findPackage(from start: String = FileManager.default.currentDirectoryPath) throws -> String {
        var directory = URL(fileURLWithPath: start).standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        throw HoistError(.invalidConfiguration, "no Package.swift at or above \(start): run the program from its package's directory, or set Cluster.BuildOptions(packageDirectory:)")
    }

    /// Lists the package's files: with git when the package is a git work tree, otherwise by
    /// walking it without `.build*`, `.swiftpm` and `.git`.
    public static func scan(_ directory: String) async throws -> PackageSync {
        var files: [String]
        let git = try? await SSHTransport.execute("/usr/bin/git", ["-C", directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        if let git, git.status == 0 {
            files = git.stdout.split(separator: "\0").map(String.init)
        } else {
            files = walk(directory)
        }
        // Never the build directory, whatever the ignore files say.
        files = files.filter { path in
            let first = path.split(separator: "/").first.map(String.init) ?? path
            return !(first.hasPrefix(".build") || first == ".swiftpm" || first == ".git")
        }
        var sizes: [(String, Int)] = []
        for file in files {
            // Listed but deleted in the work tree: nothing to send.
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + file),
                  (attributes[.type] as? FileAttributeType) == .typeRegular else { continue }
            sizes.append((file, (attributes[.size] as? NSNumber)?.intValue ?? 0))
        }
        let largest = sizes.sorted { $0.1 > $1.1 }.prefix(5).map { (path: $0.0, bytes: $0.1) }
        return PackageSync(directory: directory, files: sizes.map(\.0).sorted(), totalBytes: sizes.reduce(0) { $0 + $1.1 }, largest: largest)
    }

    private static func walk(_ directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let path = enumerator.nextObject() as? String {
            let name = (path as NSString).lastPathComponent
            if name.hasPrefix(".build") || name == ".swiftpm" || name == ".git" {
                enumerator.skipDescendants()
                continue
            }
            files.append(path)
        }
        return files
    }

    /// One line for the caller: how much goes where.
    public var summary: String {
        let top = largest.prefix(3).map { "\($0.path) \(Self.format($0.bytes))" }.joined(separator: ", ")
        return "\(files.count) files, \(Self.format(totalBytes)) (largest: \(top))"
    }

    /// Throws when the package weighs more than `limit` bytes, naming its largest files.
    public func check(limit: Int) throws {
        guard totalBytes <= limit else {
            let top = largest.map { "\($0.path) (\(Self.format($0.bytes)))" }.joined(separator: ", ")
            throw HoistError(.invalidConfiguration, "the package at \(directory) is \(Self.format(totalBytes)), above the sync limit of \(Self.format(limit)); its largest files: \(top). Leave big files out with .gitignore or raise Cluster.BuildOptions.syncLimitBytes")
        }
    }

    static func format(_ bytes: Int) -> String {
        switch bytes {
        case ..<1_000: return "\(bytes) B"
        case ..<1_000_000: return String(format: "%.1f kB", Double(bytes) / 1_000)
        default: return String(format: "%.1f MB", Double(bytes) / 1_000_000)
        }
    }
}
