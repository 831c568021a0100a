import Foundation
import HoistAWS
import HoistClient
import HoistCore
import HoistLambdaDeploy
import HoistLambdaPackage
import NIOCore

/// A function deployed to AWS Lambda, by name: call it, map over it, read its logs, give it a
/// Function URL, tear it down.
///
/// Made from a Hoist function of the running app (its `bootstrap` is this app), from Python or
/// Node handler files, or reloaded by name from `~/.hoist/lambdas/<name>.json`:
///
/// ```swift
/// let f = try await LambdaFunction(summer, name: "summer", timeout: .seconds(30), memorySize: 512, tmpSize: 1024, retentionDays: 14)
/// let sum = try await f.typed(summer)(3, 4)              // 7, typed
/// let py = try await LambdaFunction.fromHandlerFiles(["handler.py", "util.py"], handler: "handler.my_calc", runtime: .python3_12)
/// print(try await py.map([[1, 2], [3, 4]]))              // [JSONValue]
/// print(try await py.logs())
/// print(try await f.endpoint())                          // a Function URL, IAM-authenticated
/// try await py.teardown()
/// ```
///
/// Every knob is checked against Lambda's range (timeout 1–900 s, memory 128–10,240 MB, `/tmp`
/// 512–10,240 MB) and nothing is silently changed. A redeploy of the same build with the same
/// knobs sends nothing but one `GetFunction`.
public struct LambdaFunction: Sendable {
    /// The Lambda function's name.
    public var name: String { saved.name }
    /// What Hoist saved of it: ARN, region, profile, role, code hash, knobs, URL.
    public let saved: SavedLambda
    let system: LambdaSystem

    init(saved: SavedLambda, system: LambdaSystem) {
        self.saved = saved
        self.system = system
    }

    /// Deploys `function` of the running app as the Lambda function `name` (default: the
    /// function's name), creating or updating it and its execution role.
    public init<each Arg, Result>(
        _ function: Function<repeat each Arg, Result>, name: String? = nil, profile: String? = nil, region: String? = nil,
        timeout: Duration = .seconds(60), memorySize: Int = 512, tmpSize: Int = 512, environment: [String: String] = [:],
        retentionDays: Int? = 30, description: String? = nil, tags: [String: String] = [:], reservedConcurrency: Int? = nil,
        architecture: LambdaArchitecture = .host, role: String? = nil, env: Env = .default
    ) async throws {
        let options = LambdaOptions(timeout: timeout, memorySize: memorySize, tmpSize: tmpSize, environment: environment, retentionDays: retentionDays,
                                    description: description, tags: tags, reservedConcurrency: reservedConcurrency, architecture: architecture, role: role)
        self = try await Self.deploy(function.name, name: name, profile: profile, region: region, options: options, env: env)
    }

    /// Deploys a ``StreamingFunction`` of the running app: calls stream its elements
    /// (`InvokeWithResponseStream`).
    public init<each Arg, Element>(
        _ function: StreamingFunction<repeat each Arg, Element>, name: String? = nil, profile: String? = nil, region: String? = nil,
        options: LambdaOptions = LambdaOptions(), env: Env = .default
    ) async throws {
        self = try await Self.deploy(function.name, name: name, profile: profile, region: region, options: options, env: env)
    }

    /// Deploys `function` with knobs given as ``LambdaOptions``.
    public init<each Arg, Result>(
        _ function: Function<repeat each Arg, Result>, name: String? = nil, profile: String? = nil, region: String? = nil,
        options: LambdaOptions, env: Env = .default
    ) async throws {
        self = try await Self.deploy(function.name, name: name, profile: profile, region: region, options: options, env: env)
    }

    private static func deploy(_ function: String, name: String?, profile: String?, region: String?, options: LambdaOptions, env: Env) async throws -> LambdaFunction {
        try options.validate()
        let app = try HoistRuntime.app(for: function)
        try env.validate()
        let target = LambdaTarget(profile: profile, region: region, options: options, functionName: name ?? function)
        let system = try LambdaSystem(target: target)
        let streams = app.table[function]?.descriptor.streams == true
        _ = try await system.deploy(DeployUnit(app: app.name, function: function, streams: streams, env: env, secretValues: try env.secretValues()))
        return try Self.loaded(name ?? function, system: system)
    }

    /// Zips Python or Node handler files (paths relative to `directory`, default the current
    /// one; a `requirements.txt` beside the handler's file installed into the zip now, never at
    /// cold start) and deploys them as the Lambda function `name` (default: the handler's module).
    ///
    /// ```swift
    /// let py = try await LambdaFunction.fromHandlerFiles(["handler.py", "util.py"], handler: "handler.my_calc", runtime: .python3_12)
    /// ```
    public static func fromHandlerFiles(
        _ files: [String], handler: String, runtime: LambdaRuntime, name: String? = nil, directory: String? = nil,
        profile: String? = nil, region: String? = nil, options: LambdaOptions = LambdaOptions()
    ) async throws -> LambdaFunction {
        try options.validate()
        let functionName = name ?? String(handler.split(separator: ".").first ?? Substring(handler)).replacingOccurrences(of: "/", with: "-")
        let system = try LambdaSystem(target: LambdaTarget(profile: profile, region: region, options: options, functionName: functionName))
        let printer = OutputPrinter(function: "\(functionName) deploy")
        defer { printer.flush() }
        let log: @Sendable (String) -> Void = { printer.write(.stderr, ByteBuffer(string: $0 + "\n")) }
        // Relative paths are relative to `directory`: they are the paths the zip will hold.
        let base = directory ?? FileManager.default.currentDirectoryPath
        let absolute = files.map { $0.hasPrefix("/") ? $0 : base + "/" + $0 }
        let package = try await LambdaPackager.package(handler: handler, runtime: runtime, files: absolute, options: LambdaPackageOptions(
            directory: base, outputDirectory: HoistHome.current.root + "/cache/lambda-handlers",
            name: functionName, architecture: options.architecture, python: ProcessInfo.processInfo.environment["HOIST_PYTHON"] ?? "python3", log: log))
        var deployer = LambdaDeployer(config: system.config, store: system.store)
        deployer.progress = log
        try await deployer.deploy(LambdaDeployRequest(
            name: functionName, zipPath: package.zipPath, zipSha256: try AppPackages.codeSha256(of: package.zipPath),
            runtime: runtime.rawValue, handler: handler, streams: false, options: options))
        return try loaded(functionName, system: system)
    }

    /// Builds `product`, an executable product of the Swift package in `directory` that is a
    /// Hoist app (release, `--static-swift-stdlib`, in `.build-lambda`), or takes the app already
    /// built at `executable`, and deploys its function `handler` as the Lambda function `name`
    /// (default: `handler`). For deploying an app other than the running one.
    ///
    /// ```swift
    /// let f = try await LambdaFunction.fromProduct("my-app", handler: "summer")
    /// let g = try await LambdaFunction.fromProduct(executable: ".build-lambda/release/my-app", handler: "summer")
    /// ```
    public static func fromProduct(
        _ product: String? = nil, executable: String? = nil, handler: String, name: String? = nil, directory: String? = nil,
        profile: String? = nil, region: String? = nil, options: LambdaOptions = LambdaOptions()
    ) async throws -> LambdaFunction {
        try options.validate()
        guard (product == nil) != (executable == nil) else {
            throw HoistError(.invalidConfiguration, "give either a product to build or the executable of one built before, not \(product == nil ? "neither" : "both")")
        }
        let functionName = name ?? handler
        let system = try LambdaSystem(target: LambdaTarget(profile: profile, region: region, options: options, functionName: functionName))
        let printer = OutputPrinter(function: "\(functionName) deploy")
        defer { printer.flush() }
        let log: @Sendable (String) -> Void = { printer.write(.stderr, ByteBuffer(string: $0 + "\n")) }
        let packageOptions = LambdaPackageOptions(
            directory: directory ?? FileManager.default.currentDirectoryPath, outputDirectory: HoistHome.current.root + "/cache/lambda-products",
            name: functionName, architecture: options.architecture, log: log)
        let package: LambdaPackage
        if let product {
            package = try await LambdaPackager.package(product: product, options: packageOptions)
        } else {
            package = try await LambdaPackager.package(executable: executable!, options: packageOptions)
        }
        var deployer = LambdaDeployer(config: system.config, store: system.store)
        deployer.progress = log
        try await deployer.deploy(LambdaDeployRequest(
            name: functionName, zipPath: package.zipPath, zipSha256: try AppPackages.codeSha256(of: package.zipPath),
            runtime: LambdaRuntime.providedAL2023.rawValue, handler: handler, streams: false, options: options))
        return try loaded(functionName, system: system)
    }

    /// A function deployed earlier (from any process), by the name it was saved under; its
    /// region is the one in its ARN, its profile the one it was deployed with.
    public static func named(_ name: String) throws -> LambdaFunction {
        guard let saved = try LambdaStore().load(name) else {
            throw HoistError(.unknownFunction, "no Lambda function '\(name)' was deployed from here (\(LambdaStore().path(name)) is missing); deploy it, or pick one of: \(deployed().map(\.name).joined(separator: ", "))")
        }
        let region = saved.arn.split(separator: ":").dropFirst(3).first.map(String.init) ?? saved.region
        let system = try LambdaSystem(target: LambdaTarget(profile: saved.profile == "default" ? nil : saved.profile, region: region,
                                                           options: LambdaOptions(timeout: .seconds(saved.timeout)), functionName: name))
        return LambdaFunction(saved: saved, system: system)
    }

    /// The functions deployed from this Hoist home, by name.
    public static func deployed() -> [SavedLambda] { LambdaStore().all() }

    private static func loaded(_ name: String, system: LambdaSystem) throws -> LambdaFunction {
        guard let saved = try system.store.load(name) else {
            throw HoistError(.internalError, "\(name) was deployed but not saved at \(system.store.path(name))")
        }
        return LambdaFunction(saved: saved, system: system)
    }

    // MARK: - Calls

    /// The function bound to its Hoist signature: typed calls, `map`, `spawn`, as on any system.
    public func typed<each Arg, Result>(_ function: Function<repeat each Arg, Result>) -> RemoteFunction<repeat each Arg, Result> {
        RemoteFunction(function: function, target: target(function.name))
    }

    /// A ``StreamingFunction`` bound to the Lambda function: its elements as they are produced.
    public func typed<each Arg, Element>(_ function: StreamingFunction<repeat each Arg, Element>) -> RemoteStreamingFunction<repeat each Arg, Element> {
        RemoteStreamingFunction(function: function, target: target(function.name))
    }

    private func target(_ function: String) -> RemoteTarget {
        var target = system.target
        target.functionName = name
        return RemoteTarget(functionName: function, app: name, system: System(kind: .awsLambda(target)), replicas: 16, backend: system)
    }

    /// Invokes the function with `event` (any `Encodable`, or a ``JSONValue`` literal) and
    /// returns its answer. A function error is thrown as ``RemoteError`` with Lambda's
    /// `errorType`, `errorMessage` and `stackTrace`; what the function printed is printed here.
    public func callAsFunction(_ event: some Encodable & Sendable) async throws -> JSONValue {
        try await call(event, as: JSONValue.self)
    }

    /// Invokes the function and decodes its answer as `Value`.
    public func call<Value: Decodable>(_ event: some Encodable & Sendable, as type: Value.Type) async throws -> Value {
        let printer = OutputPrinter(function: name)
        defer { printer.flush() }
        let call = SystemCall(app: name, function: name, body: ByteBuffer(bytes: try JSONEncoder().encode(event)), deadline: nil, key: nil, retry: nil, spread: true)
        let answer = try await system.call(call) { kind, bytes in printer.write(kind, bytes) }
        return try JSONDecoder().decode(Value.self, from: Data(answer.readableBytesView))
    }

    /// Invokes the function once per event, up to `maxInFlight` at once (backing off while
    /// Lambda throttles), and returns the answers in input order; the first failure is thrown.
    ///
    /// ```swift
    /// let sums = try await py.map([[1, 2], [3, 4]])
    /// ```
    public func map<Event: Encodable & Sendable>(_ events: [Event], maxInFlight: Int = 64) async throws -> [JSONValue] {
        try await mapResults(events, maxInFlight: maxInFlight, stopAtFirstFailure: true).map { try $0.get() }
    }

    /// Like ``map(_:maxInFlight:)``, but returns every outcome instead of throwing the first failure.
    public func mapResults<Event: Encodable & Sendable>(_ events: [Event], maxInFlight: Int = 64) async throws -> [Swift.Result<JSONValue, any Error>] {
        try await mapResults(events, maxInFlight: maxInFlight, stopAtFirstFailure: false)
    }

    private func mapResults<Event: Encodable & Sendable>(_ events: [Event], maxInFlight: Int, stopAtFirstFailure: Bool) async throws -> [Swift.Result<JSONValue, any Error>] {
        guard maxInFlight >= 1 else { throw HoistError(.invalidConfiguration, "map: maxInFlight must be at least 1, got \(maxInFlight)") }
        let bodies = try events.map { try JSONEncoder().encode($0) }
        var outcomes = [Swift.Result<JSONValue, any Error>?](repeating: nil, count: bodies.count)
        let system = self.system
        let name = self.name
        let one: @Sendable (Data) async -> Swift.Result<JSONValue, any Error> = { body in
            do {
                let answer = try await system.call(SystemCall(app: name, function: name, body: ByteBuffer(bytes: body), deadline: nil, key: nil, retry: nil, spread: true), output: nil)
                return .success(try JSONDecoder().decode(JSONValue.self, from: Data(answer.readableBytesView)))
            } catch {
                return .failure(error)
            }
        }
        try await withThrowingTaskGroup(of: (Int, Swift.Result<JSONValue, any Error>).self) { group in
            var next = 0
            func start() {
                let index = next
                group.addTask { (index, await one(bodies[index])) }
                next += 1
            }
            while next < min(maxInFlight, bodies.count) { start() }
            while let (index, outcome) = try await group.next() {
                if stopAtFirstFailure, case let .failure(error) = outcome {
                    group.cancelAll()
                    throw error
                }
                outcomes[index] = outcome
                if next < bodies.count { start() }
            }
        }
        return outcomes.map { $0! }
    }

    /// Queues an `Event` invocation and returns at once; the run's status and output come from
    /// the function's log (Lambda keeps no result of an `Event` invocation).
    public func spawn(_ event: some Encodable & Sendable) async throws -> Run<JSONValue> {
        let call = SystemCall(app: name, function: name, body: ByteBuffer(bytes: try JSONEncoder().encode(event)), deadline: nil, key: nil, retry: nil, spread: true)
        return Run(handle: try await system.spawn(call, name: nil)) { try JSONDecoder().decode(JSONValue.self, from: $0) }
    }

    // MARK: - Logs, URL, teardown

    /// The function's log since `since` (all of it when `nil`), from CloudWatch Logs, one line
    /// per event, oldest first.
    public func logs(since: Date? = nil) async throws -> String {
        try await logEvents(since: since).map { $0.message.hasSuffix("\n") ? String($0.message.dropLast()) : $0.message }.joined(separator: "\n")
    }

    /// The function's log events since `since` (`FilterLogEvents`, every page), oldest first.
    public func logEvents(since: Date? = nil, pattern: String? = nil) async throws -> [CloudWatchLogEvent] {
        try await system.invoker.logEvents(name, since: since, pattern: pattern)
    }

    /// Who may call a Function URL.
    public enum URLAuth: String, Sendable {
        /// Callers sign with SigV4 and need `lambda:InvokeFunctionUrl` (the default).
        case awsIAM = "AWS_IAM"
        /// Anyone who has the URL, from anywhere.
        case none = "NONE"
    }

    /// The function's Function URL, made if it has none (or another auth type). `AWS_IAM` by
    /// default: callers sign their requests, as ``callEndpoint(_:)`` does; `.none` opens it to
    /// anyone with the URL, and says so on standard error.
    public func endpoint(auth: URLAuth = .awsIAM) async throws -> URL {
        if auth == .none {
            FileHandle.standardError.write(Data("warning: the Function URL of \(name) takes calls from anyone who has it (AuthType NONE)\n".utf8))
        }
        let config = try await system.invoker.ensureURL(name, authType: auth.rawValue, streams: saved.streams)
        var saved = self.saved
        saved.url = config.functionUrl
        saved.urlAuthType = config.authType
        try system.store.save(saved)
        guard let url = URL(string: config.functionUrl) else {
            throw HoistError(.badResponse, "Lambda gave \(name) a Function URL that is not a URL: \(config.functionUrl)")
        }
        return url
    }

    /// `POST`s `body` as JSON to the function's URL (made if need be), signed with SigV4, and
    /// returns the answer's body as JSON.
    public func callEndpoint(_ body: some Encodable & Sendable) async throws -> JSONValue {
        let url = try await endpoint(auth: saved.urlAuthType == "NONE" ? .none : .awsIAM)
        let answer = try await system.invoker.callURL(url.absoluteString, body: Array(try JSONEncoder().encode(body)), timeout: .seconds(saved.timeout + 30))
        return try JSONValue(json: Data(answer.body))
    }

    /// Deletes the function, its URL, its log group, the role and policy Hoist made for it, its
    /// zip in S3 if it had one, and its saved config.
    public func teardown() async throws {
        try await LambdaDeployer(config: system.config, store: system.store).teardown(name)
    }
}
