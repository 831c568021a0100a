import Foundation
import HoistClient
import HoistCore
import NIOCore

/// The seam every kind of system implements — the daemon on this machine and SSH clusters
/// (``DaemonSystem``), AWS Lambda (``LambdaSystem``), and a next kind (Slurm, Kubernetes) as one more conformance:
/// ``RemoteFunction``, ``RemoteStreamingFunction``, ``Run``, `map` and the CLI work through it
/// alone.
package protocol SystemBackend: Sendable {
    /// Deploys the running app for `unit`; returns how many workers (or concurrent calls) serve it.
    func deploy(_ unit: DeployUnit) async throws -> Int
    /// The workers serving `app` as it is already deployed, or `nil` when it is not there.
    func deployed(app: String) async throws -> Int?
    /// One call. `output` receives what the function prints and, for a streaming function, its
    /// elements, as they come.
    func call(_ call: SystemCall, output: DaemonClient.OutputHandler?) async throws -> ByteBuffer
    /// Calls the function once per input and returns each input's outcome in input order;
    /// with `stopAtFirstFailure`, throws the first failure instead and cancels what is left.
    /// Systems that take batches send many inputs a request; the default makes one call each.
    func map(_ map: SystemMap, output: DaemonClient.OutputHandler?) async throws -> [Swift.Result<ByteBuffer, any Error>]
    /// Cancels the call made with `key`, wherever it runs.
    func cancel(_ key: String) async
    /// Starts a run and returns at once; `name` names it (a name in use is an error).
    func spawn(_ call: SystemCall, name: String?) async throws -> any RunHandle
    /// The stored result of a succeeded run named `name`, or a call under that name.
    func getOrCall(_ call: SystemCall, name: String) async throws -> ByteBuffer
    /// A run by its key, from any process.
    func run(_ key: String) async throws -> any RunHandle
    /// Where plain HTTP callers reach the function.
    func endpoint(app: String, function: String) -> URL
    /// Whether ``call(_:output:)`` carries ``SystemCall/bytes``: `Data` and `[UInt8]` as raw
    /// bytes rather than JSON. Lambda events are JSON.
    var carriesRawBytes: Bool { get }
}

extension SystemBackend {
    package var carriesRawBytes: Bool { false }
}

/// What `fn.to(system)` deploys: the running app, for one of its functions, with an env.
package struct DeployUnit: Sendable {
    var app: String
    /// The function being sent: a daemon serves the whole app; Lambda makes one function of it.
    var function: String
    var streams: Bool
    var env: Env
    var secretValues: [String: String]
}

/// A call as a system takes it: the arguments already encoded.
package struct SystemCall: Sendable {
    var app: String
    var function: String
    var body: ByteBuffer
    /// The call's deadline in seconds (``CallTimeout``), or the function's default.
    var deadline: Double?
    /// Names the call so that ``SystemBackend/cancel(_:)`` can stop it.
    var key: String?
    var retry: RetryPolicy?
    /// Whether the call may go to any of the system's servers; `false` sends it to the first,
    /// where named runs and streams live.
    var spread: Bool
    /// Whether the function streams its elements (a ``StreamingFunction``).
    var streaming: Bool = false
    /// Which payloads are raw bytes (only where the backend ``SystemBackend/carriesRawBytes``).
    var bytes: RawBytes = []
    /// Decodes a result that comes in a payload region where it lies (``ResultReader``).
    var resultReader: ResultReader?
}

/// A map as a system takes it: each input's arguments already encoded.
package struct SystemMap: Sendable {
    var app: String
    var function: String
    var inputs: [Data]
    var deadline: Double?
    var retry: RetryPolicy?
    /// Inputs running at once, or `nil` for the system's default.
    var inFlight: Int?
    /// The workers serving the app, for the default of `inFlight`.
    var replicas: Int
    var stopAtFirstFailure: Bool
}

extension SystemBackend {
    /// One call per input, `inFlight` at once (default 4 per worker, at least 16).
    package func map(_ map: SystemMap, output: DaemonClient.OutputHandler?) async throws -> [Swift.Result<ByteBuffer, any Error>] {
        let limit = min(map.inputs.count, map.inFlight ?? max(16, 4 * map.replicas))
        var outcomes = [Swift.Result<ByteBuffer, any Error>?](repeating: nil, count: map.inputs.count)
        try await withThrowingTaskGroup(of: (Int, Swift.Result<ByteBuffer, any Error>).self) { group in
            var next = 0
            while next < limit {
                let index = next
                group.addTask { (index, await self.outcome(of: map, index, output: output)) }
                next += 1
            }
            while let (index, outcome) = try await group.next() {
                if map.stopAtFirstFailure, case let .failure(error) = outcome {
                    group.cancelAll()
                    throw error
                }
                outcomes[index] = outcome
                if next < map.inputs.count {
                    let index = next
                    group.addTask { (index, await self.outcome(of: map, index, output: output)) }
                    next += 1
                }
            }
        }
        return outcomes.map { $0 ?? .failure(HoistError(.internalError, "a map input got no outcome")) }
    }

    private func outcome(of map: SystemMap, _ index: Int, output: DaemonClient.OutputHandler?) async -> Swift.Result<ByteBuffer, any Error> {
        let call = SystemCall(app: map.app, function: map.function, body: ByteBuffer(bytes: map.inputs[index]), deadline: map.deadline, key: CallKey.unique(), retry: map.retry, spread: true)
        do {
            return .success(try await cancellableCall(call, output: output))
        } catch {
            return .failure(error)
        }
    }

    /// A call whose caller's cancellation cancels it on the system, retried while the system
    /// cannot be reached as its retry policy allows.
    package func cancellableCall(_ call: SystemCall, output: DaemonClient.OutputHandler?) async throws -> ByteBuffer {
        let key = call.key ?? CallKey.unique()
        var call = call
        call.key = key
        let sent = call
        return try await withTaskCancellationHandler {
            try await withConnectionRetries(call.retry ?? .none) {
                try await self.call(sent, output: output)
            }
        } onCancel: {
            Task { await self.cancel(key) }
        }
    }
}

/// Retries a system that could not be reached (connection refused: nothing was sent).
package func withConnectionRetries<T>(_ policy: RetryPolicy, _ body: () async throws -> T) async throws -> T {
    try policy.validate()
    var attempt = 1
    while true {
        do {
            return try await body()
        } catch let error as HoistError where error.code == .daemonUnavailable && attempt < policy.attempts {
            try await Task.sleep(for: policy.pause(before: attempt))
            attempt += 1
        }
    }
}

/// A run as its system keeps it.
package protocol RunHandle: Sendable {
    var key: String { get }
    func record() async throws -> RunRecord
    /// The record once the run has finished, or as it stands after `timeout` seconds.
    func wait(timeout: Double) async throws -> RunRecord
    func cancel() async throws -> RunRecord
}
