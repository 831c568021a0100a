import Foundation
import HoistClient
import HoistCluster
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// A function deployed to a system: calling it runs it there and returns the typed result.
///
/// ```swift
/// let remote = try await summer.to(.local)
/// let sum = try await remote(1, 2)          // Int, checked by the compiler
/// print(remote.endpoint)                    // http://127.0.0.1:32300/demo/summer
/// ```
///
/// What the function prints while it runs is printed here, prefixed with its name; use
/// ``quiet()`` to turn that off. Cancelling the calling task cancels the call on the system
/// and throws `CancellationError`. A thrown error arrives as ``RemoteError``; failures of the
/// machinery (a crashed worker, bad arguments) as ``HoistError``.
public struct RemoteFunction<each Arg: Codable & Sendable, Result: Sendable>: Sendable {
    public let function: Function<repeat each Arg, Result>
    /// Where and how calls go. Kept in a class so that this struct holds only two fields: a
    /// variadic generic struct with more stored fields than that was miscompiled by Swift 6.3
    /// (fields read at the wrong offset).
    let target: RemoteTarget

    /// The app the function belongs to on the system.
    public var app: String { target.app }
    public var system: System { target.system }
    /// The number of worker processes serving the app when it was deployed.
    public var replicas: Int { target.replicas }
    /// Whether the function's output is streamed back and printed here.
    public var streamsOutput: Bool { target.streamsOutput }
    /// The deadline of each call, overriding the function's default; see ``timeout(_:)``.
    public var callTimeout: Duration? { target.callTimeout }
    /// When calls are tried again; see ``retrying(_:)``.
    public var retryPolicy: RetryPolicy { target.retry }
    init(function: Function<repeat each Arg, Result>, target: RemoteTarget) {
        self.function = function
        self.target = target
    }

    /// The function's HTTP endpoint: `POST` a JSON body to call it.
    ///
    /// On the local daemon this is its TCP listener, where every route needs the daemon's
    /// token; its user can also reach the same route over the private socket without one:
    ///
    /// ```sh
    /// curl -H "Authorization: Bearer $(cat ~/.hoist/daemon.token)" -d '[1,2]' http://127.0.0.1:32300/demo/summer
    /// curl --unix-socket ~/.hoist/daemon.sock -d '[1,2]' http://localhost/demo/summer
    /// ```
    ///
    /// A daemon without a TCP listener (`HOIST_TCP=0`), or a cluster host reached through an
    /// SSH tunnel, gives an `http+unix://` URL: the socket's path, percent-encoded, then the route.
    public var endpoint: URL {
        target.backend.endpoint(app: app, function: target.functionName)
    }

    /// Runs the function on the system.
    public func callAsFunction(_ args: repeat each Arg) async throws -> Result {
        // `Data` and `[UInt8]` travel as themselves where the system carries raw bytes.
        let bytes = target.backend.carriesRawBytes ? function.rawBytes : []
        return try await call(encoded: try function.encodeArgumentsBuffer(repeat each args, raw: bytes.contains(.argument)), bytes: bytes)
    }

    /// Runs the function with arguments already encoded by ``Function/encodeArguments(_:)``
    /// (or as raw bytes, as `bytes` says).
    func call(encoded body: ByteBuffer, bytes: RawBytes = []) async throws -> Result {
        let printer = streamsOutput ? OutputPrinter(function: function.name) : nil
        var handler: DaemonClient.OutputHandler?
        if let printer {
            handler = { kind, bytes in printer.write(kind, bytes) }
        }
        let output = handler
        var call = SystemCall(app: app, function: target.functionName, body: body, deadline: try callTimeout.map(CallTimeout.validate), key: CallKey.unique(), retry: target.retry, spread: true, bytes: bytes)
        // A large result that comes in shared memory is decoded there, not copied out first.
        let function = self.function, raw = bytes.contains(.result)
        let reader = ResultReader { try function.decodeResult(bytes: $0, raw: raw) }
        call.resultReader = reader
        let result: ByteBuffer
        do {
            // Cancelling the caller's task cancels the remote call.
            result = try await target.backend.cancellableCall(call, output: output)
        } catch {
            printer?.flush()
            // A cancelled caller sees the standard CancellationError, whatever the wire said.
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
        printer?.flush()
        if let value = reader.value as? Result { return value }
        return try function.decodeResult(result, raw: bytes.contains(.result))
    }

    /// The same function with a deadline for each call, enforced by the system: a call still
    /// running then fails with ``HoistError/Code/timedOut``, the function's task is cancelled,
    /// and a worker that does not let go within a grace period is replaced.
    ///
    /// ```swift
    /// let result = try await remote.timeout(.seconds(5))(input)
    /// ```
    public func timeout(_ timeout: Duration) -> Self {
        Self(function: function, target: target.with { $0.callTimeout = timeout })
    }

    /// The same function with a retry policy: the daemon retries calls whose worker crashed,
    /// this process retries calls that could not reach the daemon, and neither retries an
    /// error the function threw unless the policy says so.
    ///
    /// ```swift
    /// let sturdy = remote.retrying(RetryPolicy(attempts: 3, backoff: .milliseconds(200)))
    /// ```
    public func retrying(_ policy: RetryPolicy) -> Self {
        Self(function: function, target: target.with { $0.retry = policy })
    }

    /// The same function with its output left on the system (in `hoist logs`) instead of printed here.
    public func quiet(_ quiet: Bool = true) -> Self {
        Self(function: function, target: target.with { $0.streamsOutput = !quiet })
    }
}

extension Function {
    /// Deploys the app this function belongs to onto `system` and returns the function bound there.
    ///
    /// The deploy unit is the running executable: nothing is rebuilt, and deploying the same
    /// binary with the same env again only checks a hash.
    ///
    /// ```swift
    /// let remote = try await summer.to(.local, env: Env(replicas: 2))
    /// ```
    public func to(_ system: System, env: Env = .default) async throws -> RemoteFunction<repeat each Arg, Result> {
        RemoteFunction(function: self, target: try await RemoteTarget.deploy(function: name, to: system, env: env))
    }
}

extension RemoteTarget {
    /// Deploys the running app to `system` with `env` and returns where `function` now lives.
    static func deploy(function name: String, to system: System, env: Env) async throws -> RemoteTarget {
        let app = try HoistRuntime.app(for: name)
        if let bound = try await boundInWorker(function: name, app: app.name, on: system, env: env) { return bound }
        try env.validate()
        let secretValues = try env.secretValues()
        let backend = try await system.backend()
        let streams = app.table[name]?.descriptor.streams == true
        let replicas = try await backend.deploy(DeployUnit(app: app.name, function: name, streams: streams, env: env, secretValues: secretValues))
        return RemoteTarget(functionName: name, app: app.name, system: system, replicas: replicas, backend: backend)
    }

    /// In a worker, `System.local` is the daemon that runs the worker (on a cluster host, that
    /// host's daemon), where this app is deployed already: without an env of its own, a function
    /// that sends its app's functions there binds to the app as it is, rather than redeploying
    /// it (which would replace the very workers its calls run on).
    static func boundInWorker(function: String, app: String, on system: System, env: Env) async throws -> RemoteTarget? {
        guard NestedCall.current != nil, env == .default, case let .local(_, home) = system.kind, home.root == HoistHome.current.root else { return nil }
        let backend = try await system.backend()
        guard let replicas = try await backend.deployed(app: app) else { return nil }
        return RemoteTarget(functionName: function, app: app, system: system, replicas: replicas, backend: backend)
    }
}

/// The non-generic part of a ``RemoteFunction``: immutable, copied on change.
final class RemoteTarget: Sendable {
    let functionName: String
    let app: String
    let system: System
    let replicas: Int
    let backend: any SystemBackend
    let streamsOutput: Bool
    let callTimeout: Duration?
    let retry: RetryPolicy

    init(functionName: String, app: String, system: System, replicas: Int, backend: any SystemBackend, streamsOutput: Bool = true, callTimeout: Duration? = nil, retry: RetryPolicy = .none) {
        self.functionName = functionName
        self.app = app
        self.system = system
        self.replicas = replicas
        self.backend = backend
        self.streamsOutput = streamsOutput
        self.callTimeout = callTimeout
        self.retry = retry
    }

    struct Changes {
        var streamsOutput: Bool
        var callTimeout: Duration?
        var retry: RetryPolicy
    }

    func with(_ change: (inout Changes) -> Void) -> RemoteTarget {
        var changes = Changes(streamsOutput: streamsOutput, callTimeout: callTimeout, retry: retry)
        change(&changes)
        return RemoteTarget(functionName: functionName, app: app, system: system, replicas: replicas, backend: backend, streamsOutput: changes.streamsOutput, callTimeout: changes.callTimeout, retry: changes.retry)
    }
}
