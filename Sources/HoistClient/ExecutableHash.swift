import Crypto
import Foundation
import HoistCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// SHA-256 of executables, remembered by path, size, modification time and inode so that an
/// unchanged redeploy does not read a large binary again.
public enum ExecutableHash {
    private struct Key: Codable, Hashable {
        var path: String
        var size: UInt64
        var modified: Double
        var inode: UInt64
    }
    private struct Cache: Codable {
        var entries: [String: String] = [:]
    }
    /// What this process hashed or read from the cache file already: one `stat` per deploy.
    private static let known = NIOLockedValueBox<[String: String]>([:])

    public static func sha256(of path: String, cacheFile: String? = HoistHome.current.hashCacheFile) throws -> String {
        // stat(2) itself: FileManager's attributes also look up the owner's names, which
        // cost more than the rest of an unchanged redeploy here.
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw HoistError(.invalidConfiguration, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let key = Key(
            path: path,
            size: UInt64(info.st_size),
            modified: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9,
            inode: UInt64(info.st_ino)
        )
        let keyString = "\(key.path)|\(key.size)|\(key.modified)|\(key.inode)"
        if let hash = known.withLockedValue({ $0[keyString] }) { return hash }
        let hash = try hashThroughCache(path: path, keyString: keyString, cacheFile: cacheFile)
        known.withLockedValue { $0[keyString] = hash }
        return hash
    }

    private static func hashThroughCache(path: String, keyString: String, cacheFile: String?) throws -> String {
        var cache = Cache()
        if let cacheFile, let data = FileManager.default.contents(atPath: cacheFile), let loaded = try? JSONDecoder().decode(Cache.self, from: data) {
            cache = loaded
            if let hash = cache.entries[keyString] { return hash }
        }
        let hash = try computeSHA256(of: path)
        if let cacheFile {
            // Keep only the newest entry per path: the cache stays small.
            cache.entries = cache.entries.filter { !$0.key.hasPrefix(path + "|") }
            cache.entries[keyString] = hash
            try? FileManager.default.createDirectory(atPath: (cacheFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let data = try? JSONEncoder().encode(cache) {
                try? data.write(to: URL(fileURLWithPath: cacheFile), options: .atomic)
            }
        }
        return hash
    }

    public static func computeSHA256(of path: String) throws -> String {
        try digest(of: path).map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 of a file, read in 8 MB chunks (binaries and zips are tens of megabytes).
    public static func digest(of path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HoistError(.deployFailed, "cannot read \(path) to hash it")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return Array(hasher.finalize())
    }
}
