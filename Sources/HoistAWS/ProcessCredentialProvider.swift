import Foundation
import HoistCore

/// A profile's `credential_process`: a command that prints
/// `{"Version": 1, "AccessKeyId": …, "SecretAccessKey": …, "SessionToken": …, "Expiration": …}`
/// (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html).
/// The command line runs through `/bin/sh -c`, so quoting works as in a shell.
struct ProcessCredentialProvider: AWSCredentialProvider {
    var command: String
    var origin: String

    private struct Output: Decodable {
        var Version: Int
        var AccessKeyId: String
        var SecretAccessKey: String
        var SessionToken: String?
        var Expiration: String?
    }

    func credentials() async throws -> AWSCredentials {
        let (status, stdout, stderr) = try await run()
        guard status == 0 else {
            // stderr is the tool's message to the user; stdout may hold secrets and is not shown.
            let reason = String(decoding: stderr.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw HoistError(.unauthorized, "\(origin): credential_process exited with status \(status)\(reason.isEmpty ? "" : ": \(reason)")")
        }
        guard let output = try? JSONDecoder().decode(Output.self, from: Data(stdout)) else {
            throw HoistError(.badResponse, "\(origin): credential_process did not print a JSON object with Version, AccessKeyId and SecretAccessKey")
        }
        guard output.Version == 1 else {
            throw HoistError(.badResponse, "\(origin): credential_process printed Version \(output.Version); only Version 1 is defined")
        }
        var expiration: Date?
        if let text = output.Expiration {
            guard let date = AWSDates.parseISO8601(text) else {
                throw HoistError(.badResponse, "\(origin): credential_process printed an Expiration that is not an ISO 8601 time: \(text)")
            }
            expiration = date
        }
        return AWSCredentials(accessKeyID: output.AccessKeyId, secretAccessKey: output.SecretAccessKey,
                              sessionToken: output.SessionToken, expiration: expiration)
    }

    /// Runs the command on a dispatch thread: reading its pipes blocks, and the cooperative pool
    /// has only as many threads as cores.
    private func run() async throws -> (Int32, [UInt8], [UInt8]) {
        let command = self.command
        let origin = self.origin
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                let out = Pipe()
                let err = Pipe()
                process.standardOutput = out
                process.standardError = err
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: HoistError(.invalidConfiguration, "\(origin): cannot start credential_process: \(error)"))
                    return
                }
                // stderr on its own thread, so that a chatty tool cannot fill one pipe while we wait on the other.
                let group = DispatchGroup()
                nonisolated(unsafe) var errBytes = Data()
                group.enter()
                DispatchQueue.global().async {
                    errBytes = err.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                let outBytes = out.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, Array(outBytes), Array(errBytes)))
            }
        }
    }
}
