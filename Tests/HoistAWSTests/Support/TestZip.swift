import Foundation

/// Zips made for the tests, with `/usr/bin/zip`.
enum TestZip {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A zip holding one executable `bootstrap` with `script` as its text.
    static func bootstrap(_ script: String) throws -> Data {
        let directory = NSTemporaryDirectory() + "hoist-aws-zip-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/bootstrap", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        let zip = Process()
        zip.executableURL = URL(fileURLWithPath: "/usr/bin/zip")
        zip.arguments = ["-q", "-j", directory + "/function.zip", directory + "/bootstrap"]
        try zip.run()
        zip.waitUntilExit()
        return try Data(contentsOf: URL(fileURLWithPath: directory + "/function.zip"))
    }
}
