import Foundation
import HoistClient
import HoistCore
import HoistLambdaPackage

/// The running app as a Lambda zip, made once per build of the executable and kept in the Hoist
/// home (`cache/lambda/<sha256>-<arch>.zip`): a redeploy of the same build hashes nothing large.
package enum AppPackages {
    package struct Zip: Sendable {
        package var path: String
        /// Base64 of the zip's SHA-256, as Lambda's `CodeSha256` has it.
        package var sha256: String
        package var size: Int64
    }

    private struct Record: Codable {
        var sha256: String
        var size: Int64
    }

    /// The zip of `executable` (by default this process's) for `architecture`.
    package static func zip(of executable: String = ProcessSupport.executablePath, architecture: LambdaArchitecture,
                            home: HoistHome = .current, log: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Zip {
        let binary = try ExecutableHash.sha256(of: executable)
        let directory = home.root + "/cache/lambda"
        let name = "\(binary.prefix(32))-\(architecture)"
        let zipPath = directory + "/" + name + ".zip"
        let recordPath = directory + "/" + name + ".json"
        if let data = FileManager.default.contents(atPath: recordPath), let record = try? JSONDecoder().decode(Record.self, from: data),
           FileManager.default.fileExists(atPath: zipPath) {
            return Zip(path: zipPath, sha256: record.sha256, size: record.size)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        log("packaging \(executable) as a Lambda bootstrap")
        let package = try await LambdaPackager.package(executable: executable, options: LambdaPackageOptions(
            outputDirectory: directory, name: name, architecture: architecture, log: log))
        for warning in package.warnings { log("warning: \(warning)") }
        let zip = Zip(path: package.zipPath, sha256: try codeSha256(of: package.zipPath), size: package.zippedSize)
        try JSONEncoder().encode(Record(sha256: zip.sha256, size: zip.size)).write(to: URL(fileURLWithPath: recordPath), options: .atomic)
        // Older builds' zips are tens of megabytes each: keep only this one.
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !file.hasPrefix(name) && file.hasSuffix("-\(architecture).zip") {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
            try? FileManager.default.removeItem(atPath: directory + "/" + file.replacingOccurrences(of: ".zip", with: ".json"))
        }
        return zip
    }

    /// Base64 of a file's SHA-256: Lambda's `CodeSha256`.
    package static func codeSha256(of path: String) throws -> String {
        Data(try ExecutableHash.digest(of: path)).base64EncodedString()
    }
}
