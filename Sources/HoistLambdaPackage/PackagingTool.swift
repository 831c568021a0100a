import Foundation
import HoistCore
import Subprocess
import SystemPackage

/// An external program packaging runs (`swift`, `strip`, `ldd`, `patchelf`, `python3`), with
/// what to tell the user when it is missing.
struct PackagingTool: Sendable {
    /// The program's name, looked up on `PATH`.
    let name: String
    /// What the program is needed for, for the message when it is missing.
    let purpose: String
    /// How to install it, for the same message.
    let install: String

    static let swift = PackagingTool(name: "swift", purpose: "to build the app", install: "install a Swift toolchain (https://www.swift.org/install)")
    static let strip = PackagingTool(name: "strip", purpose: "to strip the bootstrap", install: "apt-get install binutils (Debian, Ubuntu) or dnf install binutils")
    static let ldd = PackagingTool(name: "ldd", purpose: "to find the shared libraries the bootstrap loads", install: "apt-get install libc-bin (Debian, Ubuntu) or dnf install glibc-common")
    static let patchelf = PackagingTool(
        name: "patchelf",
        purpose: "to point the bootstrap at the loader and libraries bundled with it",
        install: "apt-get install patchelf (Debian, Ubuntu) or dnf install patchelf; or install a Static Linux SDK (https://www.swift.org/documentation/articles/static-linux-getting-started.html), which needs no bundled libraries"
    )

    /// The program's path on `PATH`; throws, saying how to install it, when it is not there.
    /// Checked before a build, so that a missing `patchelf` does not cost a ten-minute build first.
    func resolve() throws -> String {
        if let path = Self.find(name) { return path }
        throw HoistError(.invalidConfiguration, "\(name) is not installed; Lambda packaging needs it \(purpose). Install it: \(install)")
    }

    /// `name` on `PATH`, or `name` itself when it is a path to an executable.
    static func find(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs the program and returns what it printed; throws with its output when it fails.
    @discardableResult
    func run(_ arguments: [String], in directory: String? = nil) async throws -> String {
        let output = try await Self.execute(try resolve(), arguments, in: directory)
        guard output.status == 0 else {
            throw HoistError(.internalError, "`\(name) \(arguments.joined(separator: " "))` failed (status \(output.status)): \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output.stdout
    }

    /// What a finished program printed and how it ended.
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Both streams, for error messages.
        var text: String { stderr.isEmpty ? stdout : stdout + stderr }
    }

    /// Runs a program with an argument array (no shell) and collects its output.
    static func execute(_ path: String, _ arguments: [String], in directory: String? = nil) async throws -> Output {
        let limit = 16 << 20
        let result = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            workingDirectory: directory.map { FilePath($0) },
            input: .none,
            output: .string(limit: limit),
            error: .string(limit: limit)
        )
        return Output(status: status(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Runs a long program (a build, pip), handing each line it prints (both streams) to `log` as
    /// it arrives; returns its exit status and its last lines, for the error when it fails.
    static func stream(
        _ path: String, _ arguments: [String], in directory: String? = nil, log: @escaping @Sendable (String) -> Void
    ) async throws -> (status: Int32, tail: String) {
        let result = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            workingDirectory: directory.map { FilePath($0) },
            input: .none,
            output: .sequence,
            error: .combinedWithOutput
        ) { execution in
            var tail: [String] = []
            for try await text in execution.standardOutput.strings() {
                let line = text.hasSuffix("\n") ? String(text.dropLast()) : text
                log(line)
                tail.append(line)
                if tail.count > 40 { tail.removeFirst() }
            }
            return tail.joined(separator: "\n")
        }
        return (status(result.terminationStatus), result.closureResult)
    }

    /// A process's end as a shell reports it: the exit code, or 128 + the signal.
    private static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case let .exited(code): code
        case let .signaled(signal): 128 + signal
        }
    }
}
