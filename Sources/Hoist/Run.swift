import Foundation
import HoistClient
import HoistCore
import NIOCore

/// A call the system records under a key: started now, awaited later, from this process or any
/// other, also after the daemon restarts.
///
/// ```swift
/// let run = try await remote.spawn(2, 3, name: "nightly-sum")
/// print(run.key)                          // "nightly-sum"
/// let sum = try await run.value()         // waits, then 5
/// let again = try await System.local.run("nightly-sum", as: Int.self).value()
/// ```
public struct Run<Value: Sendable>: Sendable {
    /// The run's key: the name given, or one the daemon made (`add-20261130-101500-3fa9c1`).
    public var key: String { handle.key }
    let handle: any RunHandle
    let decode: @Sendable (Data) throws -> Value

    /// The run as the system has it now: status, timings, output, result or failure.
    public func record() async throws -> RunRecord {
        try await handle.record()
    }

    /// The run's status now.
    public func status() async throws -> RunRecord.Status {
        try await record().status
    }

    /// Waits for the run to finish and returns its value, or throws its failure: a
    /// ``RemoteError`` when the function threw, a ``HoistError`` otherwise (`timedOut`,
    /// `cancelled`, `interrupted`, `workerCrashed`, …).
    public func value() async throws -> Value {
        while true {
            try Task.checkCancellation()
            let record = try await handle.wait(timeout: 30)
            guard record.status.isFinished else { continue }
            if record.status == .succeeded {
                guard let result = record.result else {
                    // An AWS Lambda Event invocation: Lambda runs it and keeps its log, not its value.
                    throw HoistError(.badResponse, "run '\(key)' succeeded, but its system keeps no result (AWS Lambda does not return the value of an Event invocation); call the function to get its value, or read what it printed with output()")
                }
                return try decode(Data(result.utf8))
            }
            throw record.failure?.error ?? HoistError(.internalError, "run '\(key)' ended \(record.status.rawValue) without a reason")
        }
    }

    /// What the function printed so far (all of it, once the run has finished).
    public func output() async throws -> String {
        try await record().output
    }

    /// Cancels the run if it is still in flight; throws ``HoistError/Code/runFinished`` otherwise.
    @discardableResult
    public func cancel() async throws -> RunRecord {
        try await handle.cancel()
    }
}

extension System {
    /// Re-attaches to a run by its key, from any process.
    /// On a cluster, the host that has the run is found by asking each in turn.
    public func run<Value: Decodable & Sendable>(_ key: String, as type: Value.Type) async throws -> Run<Value> {
        Run(handle: try await backend().run(key)) { try JSONDecoder().decode(Value.self, from: $0) }
    }
}

extension RemoteFunction {
    /// Starts the function as a run and returns at once. `name` names the run (a name in use
    /// is an error); otherwise the daemon makes a readable, time-sorted key.
    public func spawn(_ args: repeat each Arg, name: String? = nil) async throws -> Run<Result> {
        if let name, let problem = CallKey.problem(with: name) {
            throw HoistError(.invalidConfiguration, "run name '\(name)': \(problem)")
        }
        let body = try function.encodeArgumentsBuffer(repeat each args)
        let deadline = try callTimeout.map(CallTimeout.validate)
        try retryPolicy.validate()
        let call = SystemCall(app: app, function: target.functionName, body: body, deadline: deadline, key: nil, retry: retryPolicy, spread: name == nil)
        let handle = try await target.backend.spawn(call, name: name)
        let function = self.function
        return Run(handle: handle) { try function.decodeResult($0) }
    }

    /// The stored result of a succeeded run named `runName`; otherwise calls the function
    /// under that name (a failed run is run again). Concurrent get-or-calls of one name run
    /// the function once.
    public func getOrCall(runName: String, _ args: repeat each Arg) async throws -> Result {
        if let problem = CallKey.problem(with: runName) {
            throw HoistError(.invalidConfiguration, "run name '\(runName)': \(problem)")
        }
        let body = try function.encodeArgumentsBuffer(repeat each args)
        let deadline = try callTimeout.map(CallTimeout.validate)
        let call = SystemCall(app: app, function: target.functionName, body: body, deadline: deadline, key: nil, retry: nil, spread: false)
        let result = try await target.backend.getOrCall(call, name: runName)
        return try function.decodeResult(result.dataView)
    }
}
