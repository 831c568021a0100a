import Foundation
import HoistCore

/// A built HoistApp executable on this machine.
public enum AppBinary {
    /// Runs the binary with `HOIST_ROLE=describe` and returns its name and functions.
    public static func describe(_ path: String) throws -> AppDescription {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        var environment = ProcessInfo.processInfo.environment
        environment[HoistEnvironment.role] = "describe"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw HoistError(.invalidConfiguration, "cannot run \(path): \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let description = try? JSONDecoder().decode(AppDescription.self, from: data) else {
            throw HoistError(.invalidConfiguration, "\(path) is not a HoistApp executable (it did not describe itself when run with \(HoistEnvironment.role)=describe); build an executable whose @main type conforms to HoistApp")
        }
        return description
    }
}
