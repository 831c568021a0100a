import Foundation
import HoistCore
import HoistDaemon
import HoistLambdaRuntime
import HoistWorker
import NIOConcurrencyHelpers

/// A program whose functions Hoist can run elsewhere. Mark it `@main`; the same binary is the
/// driver (your `run()`), a worker on a system (serving `functions`), and a daemon — Hoist
/// picks the role from the environment it was started in.
///
/// ```swift
/// import Hoist
///
/// let summer = Function("summer") { (a: Int, b: Int) in a + b }
///
/// @main struct Demo: HoistApp {
///     static let functions: [any HoistFunction] = [summer]
///     static func run() async throws {
///         let remote = try await summer.to(.local)
///         print(try await remote(1, 2))   // 3, computed in a worker process
///     }
/// }
/// ```
public protocol HoistApp {
    /// The app's name on a system: its URL prefix (`/demo/summer`). Defaults to the executable's name.
    static var name: String { get }
    /// Every function the app serves. Only listed functions can be sent to a system.
    static var functions: [any HoistFunction] { get }
    /// The driver: your program. Runs when the binary is started normally.
    static func run() async throws
}

extension HoistApp {
    public static var name: String {
        URL(fileURLWithPath: CommandLine.arguments.first ?? "app").lastPathComponent
    }

    public static func run() async throws {
        print("\(name) serves: \(functions.map(\.name).joined(separator: ", "))")
        print("Implement `static func run()` to send them somewhere, e.g. `try await fn.to(.local)`.")
    }

    /// Picks the role from `HOIST_ROLE` (`worker`, `daemon`, or unset for the driver) and runs it.
    public static func main() async {
        let environment = ProcessInfo.processInfo.environment
        // Started by Lambda (or a local Lambda) as a zip's `bootstrap`.
        let role = environment[HoistEnvironment.role] ?? (environment["AWS_LAMBDA_RUNTIME_API"] != nil ? "lambda" : "")
        do {
            let table = try FunctionTable(functions)
            switch role {
            case "lambda":
                HoistRuntime.current.withLockedValue { $0 = HoistRuntime.App(name: name, table: table) }
                try await LambdaBootstrap.run(table: table)
            case "worker":
                // A function may send its app's functions to a system too (nested calls).
                let deployed = ProcessInfo.processInfo.environment[HoistEnvironment.appName] ?? name
                HoistRuntime.current.withLockedValue { $0 = HoistRuntime.App(name: deployed, table: table) }
                try await WorkerRuntime.run(table: table)
            case "daemon":
                try await Daemon().run()
            case "describe":
                // For tools that deploy a built binary: what the app is called and serves.
                let description = AppDescription(name: name, functions: table.descriptors)
                print(String(decoding: try JSONEncoder().encode(description), as: UTF8.self))
            case "":
                if let problem = FunctionTable.problem(withName: name) {
                    throw HoistError(.invalidName, "app name '\(name)': \(problem); set `static let name` in your HoistApp")
                }
                HoistRuntime.current.withLockedValue { $0 = HoistRuntime.App(name: name, table: table) }
                try await run()
            default:
                throw HoistError(.invalidConfiguration, "\(HoistEnvironment.role)=\(role) is not a role; use worker, daemon, lambda, describe, or leave it unset")
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
}

/// The app this process is running as a driver, so that `fn.to(system)` knows what to deploy.
enum HoistRuntime {
    struct App: Sendable {
        let name: String
        let table: FunctionTable
    }

    static let current = NIOLockedValueBox<App?>(nil)

    static func app(for function: String) throws -> App {
        guard let app = current.withLockedValue({ $0 }) else {
            throw HoistError(.notInApp, "'\(function)' can only be sent to a system from a HoistApp: mark your entry point `@main struct …: HoistApp` and list the function in `static let functions`")
        }
        guard app.table[function] != nil else {
            throw HoistError(.notInApp, "function '\(function)' is not in app '\(app.name)'; add it to `static let functions` (it has: \(app.table.names.joined(separator: ", ")))")
        }
        return app
    }
}
