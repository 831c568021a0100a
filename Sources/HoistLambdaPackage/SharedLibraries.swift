import Foundation
import HoistCore

/// The dynamic loader and shared libraries a dynamically linked executable loads, as this
/// machine's loader resolves them (`ldd`): what a bundled-loader package carries in `lib/`.
struct SharedLibraries: Sendable, Equatable {
    struct Library: Sendable, Equatable {
        /// The name the executable (or another library) asks for: `libc.so.6`.
        let name: String
        /// Where this machine has it.
        let path: String
    }

    /// The loader: `/lib64/ld-linux-x86-64.so.2`.
    let loader: String
    /// Every library, direct and indirect, in load order.
    let libraries: [Library]

    /// Asks `ldd` what `executable` loads. Throws when a library is not found here, since the
    /// package would then fail on Lambda with the same error.
    static func of(_ executable: String) async throws -> SharedLibraries {
        let output = try await PackagingTool.execute(try PackagingTool.ldd.resolve(), [executable])
        guard output.status == 0 else {
            throw HoistError(.internalError, "`ldd \(executable)` failed (status \(output.status)): \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return try parse(output.stdout, executable: executable)
    }

    /// Reads `ldd`'s lines: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`, the loader as
    /// `/lib64/ld-linux-x86-64.so.2 (0x…)`, the kernel's `linux-vdso.so.1 (0x…)` (no file; skipped),
    /// and `libfoo.so => not found`.
    static func parse(_ text: String, executable: String) throws -> SharedLibraries {
        var loader: String?
        var libraries: [Library] = []
        var missing: [String] = []
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if let arrow = line.range(of: " => ") {
                let name = String(line[..<arrow.lowerBound])
                let rest = line[arrow.upperBound...]
                if rest.hasPrefix("not found") {
                    missing.append(name)
                } else if let path = rest.split(separator: " ").first, path.hasPrefix("/") {
                    if !libraries.contains(where: { $0.name == name }) { libraries.append(Library(name: name, path: String(path))) }
                }
            } else if line.hasPrefix("/"), let path = line.split(separator: " ").first {
                loader = String(path)
            }
        }
        guard missing.isEmpty else {
            throw HoistError(.invalidConfiguration, "\(executable) needs \(missing.joined(separator: ", ")), which this machine does not have (`ldd` says not found); install it or link it statically")
        }
        guard let loader else {
            throw HoistError(.internalError, "`ldd \(executable)` named no dynamic loader: \(text)")
        }
        return SharedLibraries(loader: loader, libraries: libraries)
    }

    /// Copies the loader and the libraries into `directory` under the names they are asked for,
    /// as files (a library's name here is often a symlink to a versioned file). Returns the
    /// loader's name there and every name copied.
    func copy(to directory: String) throws -> (loader: String, names: [String]) {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let loaderName = URL(fileURLWithPath: loader).lastPathComponent
        var names: [String] = []
        for (name, path) in [(loaderName, loader)] + libraries.map({ ($0.name, $0.path) }) {
            let source = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let target = directory + "/" + name
            try? files.removeItem(atPath: target)
            try files.copyItem(atPath: source, toPath: target)
            // The kernel maps the loader as an executable; libraries need only be readable.
            try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target)
            names.append(name)
        }
        return (loaderName, names)
    }
}
