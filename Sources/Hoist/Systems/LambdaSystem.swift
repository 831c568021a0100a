import Foundation
import HoistAWS
import HoistClient
import HoistCore
import HoistLambdaDeploy
import NIOCore

/// AWS Lambda as a system: a deploy makes (or updates) one Lambda function running the app as
/// its `bootstrap`, a call is an invocation, a spawned run an `Event` invocation.
struct LambdaSystem: SystemBackend {
    let target: LambdaTarget
    let config: AWSConfig
    let invoker: LambdaInvoker
    let store: LambdaStore

    init(target: LambdaTarget) throws {
        self.target = target
        config = try AWSConfig.load(profile: target.profile, region: target.region)
        invoker = LambdaInvoker(config: config)
        store = LambdaStore()
    }

    /// The Lambda function a Hoist function is deployed as.
    func lambdaName(_ function: String) -> String { target.functionName ?? function }

    func deploy(_ unit: DeployUnit) async throws -> Int {
        let env = unit.env
        if !env.systemPackages.isEmpty || !env.setup.isEmpty || env.workingDirectory != nil {
            throw HoistError(.invalidConfiguration, "an Env's system packages, setup commands and working directory do not apply on AWS Lambda, which runs the app's zip as it is; keep only variables and secrets in the Env you send there")
        }
        var options = target.options
        // The env's variables and secrets become the function's variables; Lambda keeps them
        // encrypted at rest.
        options.environment.merge(env.environment) { _, new in new }
        options.environment.merge(unit.secretValues) { _, new in new }
        try options.validate()
        let printer = OutputPrinter(function: "\(lambdaName(unit.function)) deploy")
        let log: @Sendable (String) -> Void = { line in printer.write(.stderr, ByteBuffer(string: line + "\n")) }
        defer { printer.flush() }
        let zip = try await AppPackages.zip(architecture: options.architecture, log: log)
        var deployer = LambdaDeployer(config: config, store: store)
        deployer.progress = log
        try await deployer.deploy(LambdaDeployRequest(
            name: lambdaName(unit.function), zipPath: zip.path, zipSha256: zip.sha256, runtime: "provided.al2023",
            handler: unit.function, streams: unit.streams, options: options))
        // A map runs four calls per "replica" at once: 16 gives 64 invocations in flight.
        return options.reservedConcurrency.map { Swift.max(1, $0 / 4) } ?? 16
    }

    func deployed(app: String) async throws -> Int? { nil }

    func call(_ call: SystemCall, output: DaemonClient.OutputHandler?) async throws -> ByteBuffer {
        let name = lambdaName(call.function)
        let timeout = Duration.seconds(call.deadline ?? Double(target.options.timeoutSeconds))
        if call.streaming {
            return try await stream(call, name: name, timeout: timeout, output: output)
        }
        do {
            let answer = try await invoker.invoke(name, payload: Array(call.body.readableBytesView), logTail: output != nil, functionTimeout: timeout)
            Self.printTail(answer.logTail, to: output)
            return ByteBuffer(bytes: answer.payload)
        } catch let error as LambdaFunctionError {
            Self.printTail(error.logTail, to: output)
            throw Self.hoistError(type: error.errorType, message: error.errorMessage ?? error.payload, stackTrace: error.stackTrace, function: call.function)
        }
    }

    /// `InvokeWithResponseStream`: one JSON element a line, each handed on as it arrives.
    private func stream(_ call: SystemCall, name: String, timeout: Duration, output: DaemonClient.OutputHandler?) async throws -> ByteBuffer {
        var pending: [UInt8] = []
        do {
            for try await piece in try await invoker.stream(name, payload: Array(call.body.readableBytesView), logTail: false, functionTimeout: timeout) {
                pending += piece
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[..<newline]
                    if !line.isEmpty { output?(.item, ByteBuffer(bytes: line)) }
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { output?(.item, ByteBuffer(bytes: pending)) }
        } catch let error as LambdaStreamError {
            let document = (try? JSONValue(json: Data(error.errorDetails.utf8))) ?? .null
            throw Self.hoistError(type: document["errorType"]?.stringValue ?? error.errorCode,
                                  message: document["errorMessage"]?.stringValue ?? error.errorDetails, stackTrace: [], function: call.function)
        }
        return ByteBuffer()
    }

    /// What the function printed, from the log tail: its own lines, not Lambda's START/END/REPORT.
    static func printTail(_ tail: String?, to output: DaemonClient.OutputHandler?) {
        guard let output, let tail else { return }
        for line in tail.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("START RequestId:") || line.hasPrefix("END RequestId:") || line.hasPrefix("REPORT RequestId:") || line.hasPrefix("INIT_START") { continue }
            if line.isEmpty { continue }
            output(.stdout, ByteBuffer(string: line + "\n"))
        }
    }

    /// A function's failure as the caller sees it on every system: what Hoist's bootstrap
    /// reports as `Hoist.<code>` is a ``HoistError``, Lambda's own failures (`Sandbox.Timedout`,
    /// `Runtime.ExitError`) too, and anything else the function threw a ``RemoteError``.
    static func hoistError(type: String?, message: String, stackTrace: [String], function: String) -> any Error {
        let type = type ?? "Unhandled"
        if type.hasPrefix("Hoist."), let code = HoistError.Code(named: String(type.dropFirst("Hoist.".count))) {
            return HoistError(code, message)
        }
        switch type {
        case "Sandbox.Timedout": return HoistError(.timedOut, "'\(function)' ran past its Lambda timeout: \(message)")
        case "Runtime.ExitError", "Runtime.Unknown": return HoistError(.workerCrashed, "the Lambda environment running '\(function)' died: \(message)")
        case "Runtime.HandlerNotFound": return HoistError(.unknownFunction, message)
        default: return RemoteError(function: function, type: type, message: message, backtrace: stackTrace)
        }
    }

    func cancel(_ key: String) async {
        // Lambda has no way to stop an invocation in flight: it runs to its end or its timeout.
    }

    func spawn(_ call: SystemCall, name: String?) async throws -> any RunHandle {
        if name != nil {
            throw HoistError(.invalidConfiguration, "AWS Lambda keeps no named runs; spawn without a name (the run's key is Lambda's request id)")
        }
        let function = lambdaName(call.function)
        let started = Date()
        let answer = try await invoker.invoke(function, payload: Array(call.body.readableBytesView), type: .event, functionTimeout: .seconds(30))
        guard let requestID = answer.requestID else {
            throw HoistError(.badResponse, "Lambda queued the Event invocation of \(function) but gave no request id")
        }
        return LambdaRun(function: function, requestID: requestID, invoker: invoker, since: started.addingTimeInterval(-1))
    }

    func getOrCall(_ call: SystemCall, name: String) async throws -> ByteBuffer {
        throw HoistError(.invalidConfiguration, "AWS Lambda keeps no results, so get-or-call has nothing to get; call the function, or keep named runs on a daemon (.local or a cluster)")
    }

    func run(_ key: String) async throws -> any RunHandle {
        guard let slash = key.firstIndex(of: "/") else {
            throw HoistError(.unknownRun, "'\(key)' is not the key of a Lambda run: it is FUNCTION/REQUEST-ID, as Run.key gives it")
        }
        return LambdaRun(function: String(key[..<slash]), requestID: String(key[key.index(after: slash)...]), invoker: invoker, since: nil)
    }

    func endpoint(app: String, function: String) -> URL {
        let name = lambdaName(function)
        if let url = (try? store.load(name))?.url, let parsed = URL(string: url) { return parsed }
        // Without a Function URL (see LambdaFunction.endpoint()), Lambda's Invoke API, which
        // takes a SigV4-signed POST.
        return URL(string: "\(config.endpoint(for: .lambda))/2015-03-31/functions/\(name)/invocations")!
    }
}
