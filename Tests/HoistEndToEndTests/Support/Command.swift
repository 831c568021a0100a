import Foundation
import HoistCore

/// Runs a program to completion and captures what it printed.
struct Command {
    /// Writes an executable script at `path` through a shell of its own. Written from this
    /// process, its open descriptor could be inherited by a child another test forks meanwhile,
    /// and running the script would then fail with "Text file busy" (ETXTBSY).
    static func writeExecutable(_ path: String, _ contents: String) throws {
        let written = try run("/bin/sh", ["-c", #"cat > "$1" && chmod 755 "$1""#, "sh", path], stdin: Data(contents.utf8))
        guard written.status == 0 else { throw HoistError(.internalError, "could not write \(path): \(written.stderr)") }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The `key=value` lines a driver printed (the last of each key).
        var values: [String: String] {
            var values: [String: String] = [:]
            for line in stdout.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "="), !line.hasPrefix("[") else { continue }
                values[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return values
        }
    }

    static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        // Read both pipes concurrently so a full stderr pipe cannot block the child.
        let errData = LockedData()
        let errThread = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        errThread.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.value, as: UTF8.self)
        )
    }

    /// `curl`, the real HTTP client the README shows.
    static func curl(_ arguments: [String]) throws -> Output {
        try run("/usr/bin/curl", ["-sS", "--max-time", "60"] + arguments)
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func set(_ data: Data) { lock.withLock { self.data = data; finished = true } }
    var done: Bool { lock.withLock { finished } }
    var value: Data { lock.withLock { data } }
}

/// Runs blocking work (a child process, a daemon's stop) on a thread of its own, so that it does
/// not hold one of the few cooperative threads other suites' timing-sensitive tests wait for.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

extension Process {
    /// Stops this child by its PID: `signal`, then SIGKILL after `grace`, then waits for its exit.
    func stop(signal: Int32 = SIGTERM, grace: TimeInterval) {
        if isRunning {
            kill(processIdentifier, signal)
            let deadline = Date().addingTimeInterval(grace)
            while isRunning && Date() < deadline { usleep(10_000) }
            if isRunning { kill(processIdentifier, SIGKILL) }
        }
        waitUntilExit()
    }
}
