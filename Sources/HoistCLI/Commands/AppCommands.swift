import ArgumentParser
import Foundation
import HoistClient
import HoistCore
import NIOCore

struct AppsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apps", abstract: "List deployed apps and their functions.")
    @OptionGroup var options: DaemonOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await withExitCodes {
            let apps = try await options.client.apps()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(apps), as: UTF8.self))
                return
            }
            if apps.isEmpty { print("no apps deployed") }
            for app in apps {
                print("\(app.name)  version \(app.sha256.prefix(12))  env \(app.env)  workers \(app.readyWorkers)/\(app.replicas)")
                for function in app.functions {
                    print("  \(function.signature)    POST \(options.client.baseURL)/\(app.name)/\(function.name)")
                }
            }
        }
    }
}

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call a deployed function and print its JSON result.",
        discussion: "Arguments are JSON: nothing for none, the value for one, an array (or an object by name) for several. `-` reads them from standard input."
    )
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The app.") var app: String
    @Argument(help: "The function.") var function: String
    @Argument(help: "The arguments as JSON.") var arguments: String?
    @Flag(help: "Do not print the function's output.") var quiet = false
    @Option(help: "Seconds the call may take before the daemon stops it (exit 4).") var timeout: Double?
    @Option(name: .customLong("id"), help: "An id for the call, so that `hoist cancel ID` can stop it.") var key: String?
    @Flag(help: "Start the call as a run and print its key at once (`hoist run KEY` shows it).") var spawn = false
    @Option(help: "Name the run (with --spawn), or get-or-call under this name (without).") var run: String?

    func run() async throws {
        try await withExitCodes {
            var body = Data((arguments ?? "").utf8)
            if arguments == "-" { body = FileHandle.standardInput.readDataToEndOfFile() }
            let printer = quiet ? nil : OutputPrinter(function: function)
            var output: DaemonClient.OutputHandler?
            if let printer { output = { kind, bytes in printer.write(kind, bytes) } }
            do {
                if let timeout, !(timeout > 0) {
                    throw HoistError(.invalidConfiguration, "--timeout must be a positive number of seconds, got \(timeout)")
                }
                if let key, let problem = CallKey.problem(with: key) {
                    throw HoistError(.invalidConfiguration, "--id: \(problem)")
                }
                if spawn {
                    print(try await options.client.spawn(app: app, function: function, body: ByteBuffer(bytes: body), name: run, deadline: timeout))
                    return
                }
                if let run {
                    print(String(buffer: try await options.client.getOrCall(app: app, function: function, body: ByteBuffer(bytes: body), name: run, deadline: timeout)))
                    return
                }
                let result = try await options.client.call(app: app, function: function, body: ByteBuffer(bytes: body), deadline: timeout, key: key, output: output)
                printer?.flush()
                print(String(buffer: result))
            } catch {
                printer?.flush()
                throw error
            }
        }
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a call in flight by the id it was sent with (`hoist call --id`, `Hoist-Call-Id`).")
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The call's id.") var id: String

    func run() async throws {
        try await withExitCodes {
            try await options.client.cancel(call: id)
            print("cancelled \(id)")
        }
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the end of an app's log (its workers' output and lifecycle).")
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The app.") var app: String
    @Option(help: "How many bytes from the end.") var bytes = 65536

    func run() async throws {
        try await withExitCodes {
            FileHandle.standardOutput.write(Data(try await options.client.logs(app: app, bytes: bytes).utf8))
        }
    }
}

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy a built HoistApp executable to the local daemon.",
        discussion: "Usually a driver deploys itself with `fn.to(.local)`; this deploys a binary without running it."
    )
    @OptionGroup var options: DaemonOptions
    @Argument(help: "Path to the app's executable.") var executable: String
    @Option(help: "The app's name (default: the name the app declares).") var name: String?
    @Option(help: "Worker processes.") var replicas = 1
    @Option(name: .customLong("env"), help: "A variable for the workers, NAME=VALUE; repeatable.") var variables: [String] = []

    func run() async throws {
        try await withExitCodes {
            let path = URL(fileURLWithPath: executable).standardizedFileURL.path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw HoistError(.invalidConfiguration, "\(executable) is not an executable file")
            }
            var environment: [String: String] = [:]
            for variable in variables {
                guard let eq = variable.firstIndex(of: "=") else {
                    throw HoistError(.invalidConfiguration, "--env takes NAME=VALUE, got '\(variable)'")
                }
                environment[String(variable[..<eq])] = String(variable[variable.index(after: eq)...])
            }
            let app = try name ?? AppBinary.describe(path).name
            let client = try await LocalDaemon.ensureRunning(port: options.resolvedPort, arguments: ["daemon", "run", "--port", String(options.resolvedPort)])
            let start = ContinuousClock.now
            let response = try await client.deploy(
                app: app,
                request: DaemonAPI.DeployRequest(
                    sha256: try ExecutableHash.sha256(of: path),
                    executablePath: path,
                    env: Env(environment: environment, replicas: replicas),
                    secretValues: [:]
                )
            )
            let elapsed = ContinuousClock.now - start
            print("\(response.changed ? "deployed" : "unchanged") \(app) version \(response.app.sha256.prefix(12)) in \(elapsed.formatted(.units(allowed: [.milliseconds])))")
            for function in response.app.functions {
                print("  \(function.signature)    POST \(client.baseURL)/\(app)/\(function.name)")
            }
        }
    }
}

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Stop an app's workers and remove it from the daemon.")
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The app.") var app: String

    func run() async throws {
        try await withExitCodes {
            try await options.client.remove(app: app)
            print("removed \(app)")
        }
    }
}
