import Foundation
import HoistCore

/// The files of a Python, Node or custom-runtime handler, with the paths they get in the zip:
/// relative to the package's folder, as Lambda imports them from `/var/task`.
struct HandlerFiles: Sendable {
    struct File: Sendable {
        /// Where the file is, absolute.
        let source: String
        /// Its path in the zip.
        let path: String
    }

    let files: [File]

    /// Folders that are never part of a handler: build output, version control, byte code.
    private static let skipped: Set<String> = [".git", ".build", ".build-lambda", "__pycache__", ".DS_Store"]

    /// The files named by `arguments` (files, or folders taken whole), which must lie inside `directory`.
    static func collect(_ arguments: [String], directory: String) throws -> HandlerFiles {
        guard !arguments.isEmpty else {
            throw HoistError(.invalidConfiguration, "no handler files given; name the handler's file and the files it imports (hoist lambda package --handler handler.main --runtime python3.12 handler.py util.py)")
        }
        let fileManager = FileManager.default
        var files: [File] = []
        var seen: Set<String> = []
        func add(_ source: String, _ path: String) {
            guard !seen.contains(path) else { return }
            seen.insert(path)
            files.append(File(source: source, path: path))
        }
        for argument in arguments {
            let source = LambdaPackageOptions.absolute(argument, base: fileManager.currentDirectoryPath)
            guard source.hasPrefix(directory + "/") else {
                throw HoistError(.invalidConfiguration, "\(argument) is outside \(directory), where the zip's paths start; run from the handler's folder or pass --directory")
            }
            let path = String(source.dropFirst(directory.count + 1))
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: source, isDirectory: &isDirectory) else {
                throw HoistError(.invalidConfiguration, "handler file \(argument) does not exist")
            }
            guard isDirectory.boolValue else {
                add(source, path)
                continue
            }
            guard let enumerator = fileManager.enumerator(atPath: source) else { continue }
            while let inner = enumerator.nextObject() as? String {
                let name = URL(fileURLWithPath: inner).lastPathComponent
                if skipped.contains(name) || name.hasSuffix(".pyc") {
                    enumerator.skipDescendants()
                    continue
                }
                var innerIsDirectory: ObjCBool = false
                if fileManager.fileExists(atPath: source + "/" + inner, isDirectory: &innerIsDirectory), !innerIsDirectory.boolValue {
                    add(source + "/" + inner, path + "/" + inner)
                }
            }
        }
        return HandlerFiles(files: files)
    }

    /// The file `handler` names for `runtime`, which must be among the files: `handler.my_calc`
    /// is `handler.py` for Python (or `handler/__init__.py`), `handler.js`, `.mjs` or `.cjs` for
    /// Node; a custom runtime runs the zip's `bootstrap`.
    func entryFile(handler: String, runtime: LambdaRuntime) throws -> String {
        let paths = Set(files.map(\.path))
        if runtime.isProvided {
            guard paths.contains("bootstrap") else {
                throw HoistError(.invalidConfiguration, "a \(runtime) package runs the file `bootstrap` at its root, and none was given")
            }
            return "bootstrap"
        }
        guard let dot = handler.lastIndex(of: "."), dot != handler.startIndex, handler.index(after: dot) != handler.endIndex else {
            throw HoistError(.invalidConfiguration, "--handler '\(handler)' is not MODULE.FUNCTION (for example handler.main: the function main in handler\(runtime.isNode ? ".js" : ".py"))")
        }
        let module = String(handler[..<dot])
        let candidates: [String]
        if runtime.isNode {
            candidates = [".js", ".mjs", ".cjs"].map { module + $0 }
        } else {
            // Python names a module in a package with dots; Lambda also takes a folder with `/`.
            let path = module.replacingOccurrences(of: ".", with: "/")
            candidates = [path + ".py", path + "/__init__.py"]
        }
        guard let entry = candidates.first(where: paths.contains) else {
            throw HoistError(.invalidConfiguration, "the handler \(handler) is in \(candidates[0]), which is not among the files given (\(files.map(\.path).joined(separator: ", ")))")
        }
        return entry
    }

    /// Copies the files into `directory` under their zip paths, keeping their modes.
    func copy(to directory: String) throws {
        let fileManager = FileManager.default
        for file in files {
            let target = directory + "/" + file.path
            try fileManager.createDirectory(atPath: URL(fileURLWithPath: target).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try? fileManager.removeItem(atPath: target)
            try fileManager.copyItem(atPath: URL(fileURLWithPath: file.source).resolvingSymlinksInPath().path, toPath: target)
        }
    }
}
