import ArgumentParser
import Foundation
import HoistAWS
import HoistCore
import HoistLambdaDeploy
import HoistLambdaPackage

/// Where a command's AWS calls go: the saved function's profile and region unless given.
struct AWSOptions: ParsableArguments {
    @Option(help: "The AWS profile (default: the one the function was deployed with, else $AWS_PROFILE, else default).") var profile: String?
    @Option(help: "The AWS region (default: the function's, else $AWS_REGION, the profile's, us-east-1).") var region: String?

    func config(for name: String? = nil) throws -> AWSConfig {
        let saved = try name.flatMap { try LambdaStore().load($0) }
        let region = region ?? saved.map { savedRegion($0) }
        let profile = profile ?? saved.flatMap { $0.profile == "default" ? nil : $0.profile }
        return try AWSConfig.load(profile: profile, region: region)
    }

    private func savedRegion(_ saved: SavedLambda) -> String {
        let parts = saved.arn.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 3 && !parts[3].isEmpty ? String(parts[3]) : saved.region
    }
}

/// `hoist lambda deploy`: a built Hoist app's function, a zip, or handler files as a Lambda function.
struct LambdaDeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Create or update a Lambda function, with its execution role and log retention.",
        discussion: """
            A Hoist app (built, or built now from a product) runs the function its --handler names; \
            handler files are zipped with their requirements. An unchanged redeploy sends nothing but \
            one GetFunction. The function is saved in ~/.hoist/lambdas/NAME.json for the other commands.

              hoist lambda deploy --product my-app --handler summer --timeout 30 --memory 512
              hoist lambda deploy --executable .build-lambda/release/my-app --handler summer --name sum
              hoist lambda deploy --handler handler.my_calc --runtime python3.12 handler.py util.py
              hoist lambda deploy --zip function.zip --runtime provided.al2023 --handler summer --name summer
            """
    )

    @Argument(help: "Handler files (with --runtime python3.x/nodejs).") var files: [String] = []
    @Option(help: "Build this executable product of the Swift package in the current folder and deploy it.") var product: String?
    @Option(help: "Deploy this built Hoist app.") var executable: String?
    @Option(help: "Deploy this zip as it is.") var zip: String?
    @Option(help: "The function a Hoist app serves, or MODULE.FUNCTION of handler files.") var handler: String
    @Option(help: "python3.9–python3.13, nodejs18.x–nodejs22.x, provided.al2, provided.al2023 (default for an app).") var runtime: String?
    @Option(help: "The Lambda function's name (default: the handler's function, or its module).") var name: String?
    @Option(help: "Seconds an invocation may run, 1–900.") var timeout = 60
    @Option(help: "Memory in MB, 128–10240.") var memory = 512
    @Option(help: "/tmp in MB, 512–10240.") var tmp = 512
    @Option(name: .customLong("env"), help: "A variable NAME=value (repeat for more).") var variables: [String] = []
    @Option(name: .customLong("retention-days"), help: "Days the log is kept (0: forever).") var retentionDays = 30
    @Option(help: "A description.") var description: String?
    @Option(name: .customLong("tag"), help: "A tag KEY=value (repeat for more).") var tags: [String] = []
    @Option(name: .customLong("reserved-concurrency"), help: "Concurrent executions reserved for the function.") var reservedConcurrency: Int?
    @Option(help: "x86_64 or arm64 (default: this machine's).") var architecture: String?
    @Option(help: "An execution role ARN to use instead of the hoist-NAME-role Hoist makes.") var role: String?
    @Option(help: "The folder handler files' paths start from (default: the current folder).") var directory: String?
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            var options = LambdaOptions(
                timeout: .seconds(timeout), memorySize: memory, tmpSize: tmp, environment: try pairs(variables, "--env"),
                retentionDays: retentionDays == 0 ? nil : retentionDays, description: description, tags: try pairs(tags, "--tag"),
                reservedConcurrency: reservedConcurrency, role: role
            )
            if let architecture { options.architecture = try LambdaArchitecture(named: architecture) }
            try options.validate()
            let sources = [product != nil, executable != nil, zip != nil, !files.isEmpty].filter { $0 }.count
            guard sources == 1 else {
                throw HoistError(.invalidConfiguration, "give exactly one of --product, --executable, --zip, or handler files to deploy")
            }
            var runtime = try runtime.map(LambdaRuntime.init(named:)) ?? .providedAL2023
            let zipPath: String
            let functionName: String
            if let zip {
                zipPath = zip
                functionName = name ?? handler
            } else if !files.isEmpty {
                guard self.runtime != nil, !runtime.rawValue.hasPrefix("provided") else {
                    throw HoistError(.invalidConfiguration, "handler files need --runtime (python3.12, nodejs20.x, …)")
                }
                functionName = name ?? String(handler.split(separator: ".").first ?? Substring(handler))
                let package = try await LambdaPackager.package(handler: handler, runtime: runtime, files: files, options: LambdaPackageOptions(
                    directory: directory ?? FileManager.default.currentDirectoryPath, name: functionName, architecture: options.architecture, log: log))
                zipPath = package.zipPath
            } else {
                runtime = .providedAL2023
                functionName = name ?? handler
                let package: LambdaPackage
                if let product {
                    package = try await LambdaPackager.package(product: product, options: LambdaPackageOptions(name: functionName, architecture: options.architecture, log: log))
                } else {
                    package = try await LambdaPackager.package(executable: executable!, options: LambdaPackageOptions(name: functionName, architecture: options.architecture, log: log))
                }
                zipPath = package.zipPath
            }
            var deployer = LambdaDeployer(config: try aws.config(), progress: log)
            deployer.progress = log
            let saved = try await deployer.deploy(LambdaDeployRequest(
                name: functionName, zipPath: zipPath, zipSha256: try AppPackages.codeSha256(of: zipPath), runtime: runtime.rawValue,
                handler: handler, streams: false, options: options))
            print("deployed \(saved.name): \(saved.arn) (CodeSha256 \(saved.codeSha256))")
        }
    }
}

/// `NAME=value` pairs of a repeated option.
func pairs(_ items: [String], _ option: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for item in items {
        guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
            throw HoistError(.invalidConfiguration, "\(option) \(item): write NAME=value")
        }
        result[String(item[..<equals])] = String(item[item.index(after: equals)...])
    }
    return result
}

/// `hoist lambda invoke`: one invocation, its answer on standard output.
struct LambdaInvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Invoke a Lambda function and print its answer.",
        discussion: """
              hoist lambda invoke summer '[3,4]'
              hoist lambda invoke summer @event.json --log      # and the log tail on standard error
              hoist lambda invoke summer '[3,4]' --event        # queued; prints the request id
            """
    )
    @Argument(help: "The function's name.") var name: String
    @Argument(help: "The event: JSON, @FILE, or - for standard input (default: {}).") var payload = "{}"
    @Flag(help: "Queue an Event invocation and return at once.") var event = false
    @Flag(help: "Print the invocation's log tail on standard error.") var log = false
    @Option(help: "Seconds the client waits for the answer (default: the function's timeout, else 900).") var timeout: Int?
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            let body: Data
            if payload == "-" {
                body = FileHandle.standardInput.readDataToEndOfFile()
            } else if payload.hasPrefix("@") {
                guard let data = FileManager.default.contents(atPath: String(payload.dropFirst())) else {
                    throw HoistError(.invalidConfiguration, "cannot read the event file \(payload.dropFirst())")
                }
                body = data
            } else {
                body = Data(payload.utf8)
            }
            let stored = try LambdaStore().load(name)
            let functionTimeout = timeout ?? stored?.timeout ?? 900
            let invoker = LambdaInvoker(config: try aws.config(for: name))
            do {
                let answer = try await invoker.invoke(name, payload: Array(body), type: event ? .event : .requestResponse, logTail: log,
                                                      functionTimeout: .seconds(functionTimeout))
                if let tail = answer.logTail { FileHandle.standardError.write(Data(tail.utf8)) }
                if event {
                    print("queued \(name) (request id \(answer.requestID ?? "unknown"))")
                } else {
                    print(String(decoding: answer.payload, as: UTF8.self))
                }
            } catch let error as LambdaFunctionError {
                if let tail = error.logTail { FileHandle.standardError.write(Data(tail.utf8)) }
                throw error
            }
        }
    }
}

/// `hoist lambda logs`: the function's CloudWatch log.
struct LambdaLogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a Lambda function's log (CloudWatch Logs).")
    @Argument(help: "The function's name.") var name: String
    @Option(help: "Only lines newer than this: 30s, 10m, 2h, 1d, or an ISO 8601 time.") var since: String?
    @Option(help: "A CloudWatch Logs filter pattern.") var filter: String?
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            let invoker = LambdaInvoker(config: try aws.config(for: name))
            for event in try await invoker.logEvents(name, since: try since.map(parseSince), pattern: filter) {
                print(event.message.hasSuffix("\n") ? String(event.message.dropLast()) : event.message)
            }
        }
    }
}

/// `30s`, `10m`, `2h`, `1d` ago, or an ISO 8601 time.
func parseSince(_ text: String) throws -> Date {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    if let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()) {
        return Date().addingTimeInterval(-value * scale)
    }
    if let date = ISO8601DateFormatter().date(from: text) { return date }
    throw HoistError(.invalidConfiguration, "--since \(text): give a duration (30s, 10m, 2h, 1d) or an ISO 8601 time (2026-12-03T10:00:00Z)")
}

/// `hoist lambda list`: the functions deployed from here (or, with --remote, all in the region).
struct LambdaListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the Lambda functions deployed from this machine (--remote: all the region has).")
    @Flag(help: "List every function of the account and region (ListFunctions), not only the saved ones.") var remote = false
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            if remote {
                let functions = try await LambdaAPI(client: AWSClient(config: try aws.config())).listFunctions()
                if json { print(try prettyJSON(functions)); return }
                for function in functions.sorted(by: { $0.functionName < $1.functionName }) {
                    print("\(function.functionName)\t\(function.runtime ?? "-")\t\(function.lastModified ?? "")")
                }
                return
            }
            let saved = LambdaStore().all()
            if json { print(try prettyJSON(saved)); return }
            if saved.isEmpty { print("no Lambda functions deployed from here (hoist lambda deploy …, or LambdaFunction / .to(.awsLambda) in Swift)") }
            for function in saved {
                print("\(function.name)\t\(function.region)\t\(function.runtime)\t\(function.handler)\t\(function.url ?? "-")")
            }
        }
    }
}

/// `hoist lambda url`: the function's Function URL, made if need be.
struct LambdaURLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "Print a Lambda function's Function URL, making one if it has none.",
        discussion: "AWS_IAM by default: callers sign with SigV4 (curl --aws-sigv4 \"aws:amz:REGION:lambda\" --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" URL). --auth none opens it to anyone with the URL."
    )
    @Argument(help: "The function's name.") var name: String
    @Option(help: "iam (default) or none.") var auth = "iam"
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            let authType: String
            switch auth.lowercased() {
            case "iam", "aws_iam": authType = "AWS_IAM"
            case "none": authType = "NONE"
            default: throw HoistError(.invalidConfiguration, "--auth \(auth): use iam or none")
            }
            if authType == "NONE" {
                FileHandle.standardError.write(Data("warning: the Function URL of \(name) takes calls from anyone who has it (AuthType NONE)\n".utf8))
            }
            let store = LambdaStore()
            let streams = (try store.load(name))?.streams ?? false
            let config = try await LambdaInvoker(config: try aws.config(for: name)).ensureURL(name, authType: authType, streams: streams)
            if var saved = try store.load(name) {
                saved.url = config.functionUrl
                saved.urlAuthType = config.authType
                try store.save(saved)
            }
            print(config.functionUrl)
        }
    }
}

/// `hoist lambda teardown`: the function and everything Hoist made for it.
struct LambdaTeardownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Delete a Lambda function, its URL, log group, the role Hoist made for it, and its saved config."
    )
    @Argument(help: "The function's name.") var name: String
    @OptionGroup var aws: AWSOptions

    func run() async throws {
        try await withExitCodes {
            try await LambdaDeployer(config: try aws.config(for: name)).teardown(name)
            print("tore down \(name)")
        }
    }
}
