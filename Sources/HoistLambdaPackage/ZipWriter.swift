import Foundation
import HoistCore
import ZIPFoundation

/// Writes a folder as a zip whose root is the folder's content, keeping each file's Unix mode
/// (Lambda runs `bootstrap` only when the zip marks it executable).
enum ZipWriter {
    /// Zips every file under `directory` into `zipPath`, replacing it. The zip is written beside
    /// its final path and renamed into place, so a failed run never leaves half a zip there.
    static func write(_ directory: String, to zipPath: String) throws {
        let files = FileManager.default
        let partial = zipPath + ".partial"
        try? files.removeItem(atPath: partial)
        do {
            let archive = try Archive(url: URL(fileURLWithPath: partial), accessMode: .create)
            let base = URL(fileURLWithPath: directory)
            for path in try relativeFiles(in: directory) {
                try addEntry(path, base: base, to: archive)
            }
        } catch {
            try? files.removeItem(atPath: partial)
            throw HoistError(.internalError, "could not write \(zipPath): \(error)")
        }
        try? files.removeItem(atPath: zipPath)
        try files.moveItem(atPath: partial, toPath: zipPath)
    }

    /// Every entry gets the same date: the same content makes the same zip, byte for byte, so
    /// a redeploy compares equal with Lambda's `CodeSha256` whenever the code did not change.
    static let entryDate = Date(timeIntervalSince1970: 315_532_800)  // 1980-01-01, zip's epoch

    private static func addEntry(_ path: String, base: URL, to archive: Archive) throws {
        let url = base.appendingPathComponent(path)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o644
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        try archive.addEntry(with: path, type: .file, uncompressedSize: size, modificationDate: entryDate, permissions: mode,
                             compressionMethod: .deflate) { position, count in
            try handle.seek(toOffset: UInt64(position))
            return try handle.read(upToCount: count) ?? Data()
        }
    }

    /// The regular files under `directory`, as sorted relative paths (a stable zip for the same content).
    static func relativeFiles(in directory: String) throws -> [String] {
        let files = FileManager.default
        guard let enumerator = files.enumerator(atPath: directory) else {
            throw HoistError(.internalError, "cannot list \(directory)")
        }
        var paths: [String] = []
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                paths.append(path)
            }
        }
        return paths.sorted()
    }

    /// Each file's size, for the unzipped total and the largest files.
    static func sizes(in directory: String) throws -> [(path: String, size: Int64)] {
        try relativeFiles(in: directory).map { path in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + path)
            return (path, (attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }
}
