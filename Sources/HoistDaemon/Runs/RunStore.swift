import Foundation
import HoistCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs on disk, one JSON file each under `runs/`, written whole (a temporary file renamed
/// into place, after fsync) so that a crash leaves the old or the new record, never a torn one.
struct RunStore: Sendable {
    let directory: String

    init(home: HoistHome) {
        directory = home.root + "/runs"
    }

    func prepare() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    func path(_ key: String) -> String { directory + "/" + key + ".json" }

    func save(_ record: RunRecord) {
        guard let data = try? JSONEncoder().encode(record) else { return }
        let temporary = path(record.key) + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        rename(temporary, path(record.key))
    }

    func loadAll() -> [RunRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).flatMap { try? JSONDecoder().decode(RunRecord.self, from: $0) }
        }
    }

    func remove(_ key: String) {
        unlink(path(key))
    }
}
