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
                try archive.addEntry(with: path, relativeTo: base, compressionMethod: .deflate)
            }
        } catch {
            try? files.removeItem(atPath: partial)
            throw HoistError(.internalError, "could not write \(zipPath): \(error)")
        }
        try? files.removeItem(atPath: zipPath)
        try files.moveItem(atPath: partial, toPath: zipPath)
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
