import Crypto
import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import ZIPFoundation

/// The local Lambda's functions, kept under its home so that a restarted server has them:
/// `functions/<name>/function.json` and each code revision unzipped beside it.
final class FunctionStore: Sendable {
    let root: String
    private let functions = NIOLockedValueBox<[String: LambdaFunction]>([:])

    init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var loaded: [String: LambdaFunction] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            if let data = FileManager.default.contents(atPath: "\(root)/\(name)/function.json"),
               let function = try? JSONDecoder().decode(LambdaFunction.self, from: data) {
                loaded[function.name] = function
            }
        }
        functions.withLockedValue { $0 = loaded }
    }

    subscript(name: String) -> LambdaFunction? { functions.withLockedValue { $0[name] } }
    var all: [LambdaFunction] { functions.withLockedValue { $0.values.sorted { $0.name < $1.name } } }

    /// Saves `function` (new or changed).
    func save(_ function: LambdaFunction) throws {
        let directory = "\(root)/\(function.name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(function).write(to: URL(fileURLWithPath: directory + "/function.json"), options: .atomic)
        functions.withLockedValue { $0[function.name] = function }
    }

    /// Adds a function only when none has that name; false when one does.
    func insert(_ function: LambdaFunction) throws -> Bool {
        let exists = functions.withLockedValue { $0[function.name] != nil }
        guard !exists else { return false }
        try save(function)
        return true
    }

    func remove(_ name: String) {
        functions.withLockedValue { _ = $0.removeValue(forKey: name) }
        try? FileManager.default.removeItem(atPath: "\(root)/\(name)")
    }

    /// Unzips a code revision for `name` and checks it holds what `runtime` and `handler` need.
    /// Returns the folder, the zip's size and its base64 SHA-256 (Lambda's `CodeSha256`).
    func unpack(zip base64: String, for name: String, runtime: String, handler: String) throws -> (directory: String, size: Int, sha256: String) {
        guard let zip = Data(base64Encoded: base64) else {
            throw LambdaAPIError.invalidParameter("Code.ZipFile is not base64: send the zip's bytes (the AWS CLI: --zip-file fileb://function.zip)")
        }
        let digest = SHA256.hash(data: zip)
        let sha = Data(digest).base64EncodedString()
        let hex = digest.map { String(format: "%02x", $0) }.joined()
        let directory = "\(root)/\(name)/code-\(hex.prefix(16))"
        if !FileManager.default.fileExists(atPath: directory + "/.complete") {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let archivePath = directory + ".zip"
            try zip.write(to: URL(fileURLWithPath: archivePath))
            defer { try? FileManager.default.removeItem(atPath: archivePath) }
            do {
                try FileManager.default.unzipItem(at: URL(fileURLWithPath: archivePath), to: URL(fileURLWithPath: directory))
            } catch {
                try? FileManager.default.removeItem(atPath: directory)
                throw LambdaAPIError(code: "InvalidZipFileException", status: .badRequest, message: "Could not unzip uploaded file. Please check your file, then try to upload again. (\(error))")
            }
            _ = FileManager.default.createFile(atPath: directory + "/.complete", contents: nil)
        }
        try check(directory: directory, runtime: runtime, handler: handler)
        return (directory, zip.count, sha)
    }

    /// A zip that cannot run is refused at create or update, not at the first invoke.
    private func check(directory: String, runtime: String, handler: String) throws {
        if runtime.hasPrefix("provided") {
            let bootstrap = directory + "/bootstrap"
            guard FileManager.default.fileExists(atPath: bootstrap) else {
                throw LambdaAPIError.invalidParameter("The zip has no 'bootstrap' at its root, which a \(runtime) function runs; put the executable there (hoist lambda package does)")
            }
            if !FileManager.default.isExecutableFile(atPath: bootstrap) {
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bootstrap)
            }
        } else if runtime.hasPrefix("python") {
            let parts = handler.split(separator: ".")
            guard parts.count >= 2 else {
                throw LambdaAPIError.invalidParameter("Handler '\(handler)' is not module.function (for handler.py defining my_calc: handler.my_calc)")
            }
            let module = parts.dropLast().joined(separator: "/")
            let exists = FileManager.default.fileExists(atPath: "\(directory)/\(module).py") || FileManager.default.fileExists(atPath: "\(directory)/\(module)/__init__.py")
            guard exists else {
                throw LambdaAPIError.invalidParameter("The zip has no \(module).py for handler '\(handler)'; zip the handler's file at the zip's root")
            }
        }
    }
}
