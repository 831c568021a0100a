import Crypto
import Foundation
import HoistCore

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon keeps on disk: app binaries by content hash, and each app's manifest.
struct AppStore: Sendable {
    /// A deployed app as it is saved, so that a restarted daemon serves it again.
    struct Manifest: Codable, Sendable {
        var name: String
        var sha256: String
        var env: Env
        var functions: [FunctionDescriptor]
        var deployedAt: Double
        /// Digest of the secret values, so that a change of secret counts as a change.
        var secretsDigest: String
    }

    let home: HoistHome

    /// Makes sure the blob for `sha256` exists, copying it from `path` when it does not, and
    /// checking that what was copied has that hash. Returns the blob's path.
    func ensureBlob(sha256: String, from path: String?) throws -> String {
        let blob = home.blob(sha256)
        if FileManager.default.isExecutableFile(atPath: blob) { return blob }
        guard let path else {
            throw HoistError(.deployFailed, "the daemon does not have executable \(sha256.prefix(12)) and was given no path to read it from")
        }
        guard let input = FileHandle(forReadingAtPath: path) else {
            throw HoistError(.deployFailed, "the daemon cannot read the executable at \(path); check that it exists and is readable by the daemon's user")
        }
        defer { try? input.close() }
        let temporary = blob + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o700]),
              let output = FileHandle(forWritingAtPath: temporary)
        else {
            throw HoistError(.deployFailed, "the daemon cannot write \(temporary)")
        }
        var hasher = SHA256()
        do {
            while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                try output.write(contentsOf: chunk)
            }
            try output.close()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw HoistError(.deployFailed, "copying \(path) into the app store failed: \(error)")
        }
        let actual = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard actual == sha256 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw HoistError(.deployFailed, "\(path) has SHA-256 \(actual.prefix(12)), not \(sha256.prefix(12)) as the deploy said; was it rebuilt during the deploy? Deploy again")
        }
        guard rename(temporary, blob) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw HoistError(.deployFailed, "could not move the executable into \(blob): \(String(cString: strerror(errno)))")
        }
        return blob
    }

    func manifestPath(_ app: String) -> String { home.appDirectory(app) + "/app.json" }
    func secretsPath(_ app: String) -> String { home.appDirectory(app) + "/secrets.json" }

    func save(_ manifest: Manifest, secrets: [String: String]) throws {
        let dir = home.appDirectory(manifest.name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(manifest), to: manifestPath(manifest.name), mode: 0o644)
        if secrets.isEmpty {
            try? FileManager.default.removeItem(atPath: secretsPath(manifest.name))
        } else {
            try writeAtomically(try JSONEncoder().encode(secrets), to: secretsPath(manifest.name), mode: 0o600)
        }
    }

    func loadAll() -> [(Manifest, [String: String])] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: home.appsDirectory)) ?? []
        return names.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: manifestPath(name)),
                  let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
            else { return nil }
            let secrets = FileManager.default.contents(atPath: secretsPath(name)).flatMap { try? JSONDecoder().decode([String: String].self, from: $0) } ?? [:]
            return (manifest, secrets)
        }
    }

    func remove(_ app: String) {
        try? FileManager.default.removeItem(atPath: home.appDirectory(app))
    }

    /// Writes a file whole or not at all, created with `mode` so that secrets are never readable by others.
    private func writeAtomically(_ data: Data, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw HoistError(.internalError, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw HoistError(.internalError, "cannot write \(path)")
        }
    }

    static func digest(_ secrets: [String: String]) -> String {
        var hasher = SHA256()
        for key in secrets.keys.sorted() {
            hasher.update(data: Data(key.utf8))
            hasher.update(data: Data([0]))
            hasher.update(data: Data(secrets[key]!.utf8))
            hasher.update(data: Data([0]))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
