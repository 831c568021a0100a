import ArgumentParser
import Foundation
import HoistAWS
import HoistClient
import HoistCore
import HoistSSH

/// `hoist`: run the daemon, and deploy, call and inspect apps from the shell.
public struct HoistCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hoist",
        abstract: "Send Swift functions to other hardware and run them there.",
        discussion: """
            Exit codes: 0 success; 1 the function threw or another error; 2 bad input (unknown app \
            or function, bad arguments, body too large); 3 the daemon or an SSH host is not running or not reachable; \
            4 the app could not serve (worker crashed, no workers, deploy failed); 64 bad command line.
            """,
        version: HoistVersion.current,
        subcommands: [DaemonCommand.self, AppsCommand.self, CallCommand.self, MapCommand.self, CancelCommand.self, RunsCommand.self, RunCommand.self, LogsCommand.self, DeployCommand.self, RemoveCommand.self, ClusterCommand.self, LambdaCommand.self]
    )

    public init() {}
}

/// Options every command that talks to the local daemon shares.
struct DaemonOptions: ParsableArguments {
    @Option(name: .long, help: "The local daemon's port (default: $HOIST_PORT or 32300).")
    var port: Int?

    var resolvedPort: Int { port ?? HoistEnvironment.localPort }
    var client: DaemonClient { DaemonClient.local(port: resolvedPort) }
}

/// Maps errors to the exit codes documented in `hoist --help`, printing the message once.
func withExitCodes(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as HoistError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(exitCode(for: error.code))
    } catch let error as SSHError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(3)
    } catch let error as LambdaFunctionError {
        // The error document as Lambda sent it: its stack trace and any fields of its own.
        FileHandle.standardError.write(Data("error: \(error)\n\(error.payload)\n".utf8))
        throw ExitCode(1)
    } catch where error is RemoteError || error is AWSError || error is LambdaStreamError || error is LambdaWaitError {
        // Errors that describe themselves in full: the function threw, or AWS refused.
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func exitCode(for code: HoistError.Code) -> Int32 {
    switch code {
    case .badArguments, .unknownApp, .unknownFunction, .unknownCall, .unknownRun, .runExists, .runFinished, .bodyTooLarge, .invalidName, .invalidConfiguration: return 2
    case .daemonUnavailable, .protocolMismatch: return 3
    case .workerCrashed, .noWorkers, .noFreeWorker, .deployFailed, .timedOut, .cancelled: return 4
    default: return 1
    }
}

extension HoistCommand {
    /// Parses the process's arguments and runs the command; what the `hoist` executable calls.
    public static func runFromCommandLine() async {
        await main()
    }
}

/// A value as the CLI's `--json` options print it: indented, keys sorted.
func prettyJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
