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
    var body: Data
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
}

/// A run as its system keeps it.
package protocol RunHandle: Sendable {
    var key: String { get }
    func record() async throws -> RunRecord
    /// The record once the run has finished, or as it stands after `timeout` seconds.
    func wait(timeout: Double) async throws -> RunRecord
    func cancel() async throws -> RunRecord
}
