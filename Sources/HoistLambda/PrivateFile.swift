import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A state file of the local Lambda's home (roles and their policies, log groups' settings):
/// readable by its owner only, and replaced whole, so that a crash mid-write leaves the old
/// file rather than half of a new one.
enum PrivateFile {
    /// Writes `data` to a temporary file of mode 0600 beside `path`, then renames it over `path`.
    static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp-" + UUID().uuidString.prefix(8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LambdaAPIError.service("cannot write \(temporary): \(String(cString: strerror(errno))); check that the local Lambda's home is writable") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        Glibc.close(fd)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw LambdaAPIError.service("cannot write \(path): \(reason); check the disk and the home's permissions")
        }
    }

    /// `path`'s JSON as `T`; `nil` when the file is absent or unreadable as `T`.
    static func read<T: Decodable>(_ type: T.Type, from path: String) -> T? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    /// Encodes `value` as sorted, indented JSON and writes it with ``write(_:to:)``.
    static func write(_ value: some Encodable, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try write(try encoder.encode(value), to: path)
    }
}
