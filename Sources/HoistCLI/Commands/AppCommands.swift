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
                print(try prettyJSON(apps))
                return
            }
            if apps.isEmpty { print("no apps deployed") }
            for app in apps {
                print("\(app.name)  version \(app.sha256.prefix(12))  env \(app.env)  workers \(app.readyWorkers)/\(app.replicas)")
                for function in app.functions {
                    print("  \(function.signature)    POST \(options.client.endpointBase)/\(app.name)/\(function.name)")
                }
            }
            if !apps.isEmpty { print(howToCall(options.client)) }
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
                print("  \(function.signature)    POST \(client.endpointBase)/\(app)/\(function.name)")
            }
            print(howToCall(client))
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

struct MapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Call a function once per input, concurrently, and print the results as a JSON array in input order.",
        discussion: "Inputs are a JSON array (each element one call's arguments) or JSON lines, from a file or `-` for standard input. A progress bar goes to standard error when it is a terminal (or with --progress)."
    )
    @OptionGroup var options: DaemonOptions
    @Argument(help: "The app.") var app: String
    @Argument(help: "The function.") var function: String
    @Argument(help: "A file of inputs, or - for standard input.") var inputs: String
    @Option(help: "Inputs running at once on the daemon (default: 4 per worker).") var concurrency: Int?
    @Flag(help: "Show progress even when standard error is not a terminal.") var progress = false

    func run() async throws {
        try await withExitCodes {
            if let concurrency, concurrency < 1 { throw HoistError(.invalidConfiguration, "--concurrency must be at least 1") }
            let data = inputs == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: inputs))
            let bodies = try MapInputs.split(data)
            let bar = ProgressBar(total: bodies.count, enabled: progress || isatty(2) == 1)
            let client = options.client
            var results = [String?](repeating: nil, count: bodies.count)
            // One batch: the daemon spreads the inputs over the workers, `concurrency` at once.
            try await client.map(app: app, function: function, inputs: bodies, inFlight: concurrency) { index, outcome in
                results[index] = String(buffer: try outcome.get())
                bar.advance()
            }
            bar.finish()
            print("[" + results.map { $0 ?? "null" }.joined(separator: ",") + "]")
        }
    }
}

/// Splits `hoist map` input into one request body per call.
enum MapInputs {
    static func split(_ data: Data) throws -> [Data] {
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("[") {
            guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [Any] else {
                throw HoistError(.badArguments, "the inputs start with '[' but are not a JSON array")
            }
            return try array.map { try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed]) }
        }
        return text.split(separator: "\n").map { Data($0.utf8) }.filter { !$0.isEmpty }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private let enabled: Bool
    private var done = 0
    private var lastPercent = -1

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func advance() {
        done += 1
        guard enabled, total > 0 else { return }
        let percent = done * 100 / total
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 30
        let filled = done * width / total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] \(percent)% \(done)/\(total)"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled && total > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// The line under a listing of endpoints that says what a caller needs: the token on TCP, or
/// the socket.
func howToCall(_ client: DaemonClient, home: HoistHome = .current) -> String {
    let socket = "curl --unix-socket \(home.daemonSocket) -d JSON http://localhost/APP/FUNCTION"
    if client.endpointBase.hasPrefix("http+unix://") { return "call with: \(socket)" }
    return "call with: curl -H \"Authorization: Bearer $(cat \(home.controlTokenFile))\" -d JSON URL, or \(socket)"
}
