import Foundation
import HoistClient
import HoistCore
import NIOCore

extension RemoteFunction {
    /// Calls the function once per input, concurrently, and returns the results in input order.
    ///
    /// For a one-argument function each input is the argument; for several, a tuple
    /// (``starmap(_:maxInFlight:)`` reads better there). The first failure cancels the calls not
    /// yet made and is thrown; use ``mapResults(_:maxInFlight:)`` to get every outcome instead.
    ///
    /// ```swift
    /// let squares = try await remoteSquare.map(Array(1...1000))
    /// ```
    ///
    /// On Hoist's daemons the inputs travel in batches (many inputs a request, spread over the
    /// workers by the daemon, results streamed back), so a map of many small inputs costs far
    /// less than as many calls; on Lambda each input is an invocation.
    ///
    /// - Parameter maxInFlight: How many inputs are sent at once (on a daemon, by default two
    ///   chunks of up to 64 inputs per worker, each input's deadline counting from its own start
    ///   and its retries made as calls of their own; on Lambda, 4 per worker and at least 16).
    public func map(_ inputs: [(repeat each Arg)], maxInFlight: Int? = nil) async throws -> [Result] {
        try await run(inputs, maxInFlight: maxInFlight, stopAtFirstFailure: true).map { try $0.get() }
    }

    /// ``map(_:maxInFlight:)`` for functions of several arguments: one tuple per call.
    ///
    /// ```swift
    /// let sums = try await remoteAdd.starmap([(1, 2), (3, 4)])   // [3, 7]
    /// ```
    public func starmap(_ inputs: [(repeat each Arg)], maxInFlight: Int? = nil) async throws -> [Result] {
        try await map(inputs, maxInFlight: maxInFlight)
    }

    /// Like ``map(_:maxInFlight:)``, but runs every input and returns one `Result` per input,
    /// in input order, instead of throwing at the first failure.
    public func mapResults(_ inputs: [(repeat each Arg)], maxInFlight: Int? = nil) async throws -> [Swift.Result<Result, any Error>] {
        try await run(inputs, maxInFlight: maxInFlight, stopAtFirstFailure: false)
    }

    private func run(_ inputs: [(repeat each Arg)], maxInFlight: Int?, stopAtFirstFailure: Bool) async throws -> [Swift.Result<Result, any Error>] {
        if let maxInFlight, maxInFlight < 1 {
            throw HoistError(.invalidConfiguration, "map: maxInFlight must be at least 1, got \(maxInFlight)")
        }
        guard !inputs.isEmpty else { return [] }
        let function = self.function
        let bodies = try inputs.map { input in try function.encodeArguments(repeat each input) }
        let printer = streamsOutput ? OutputPrinter(function: function.name) : nil
        var output: DaemonClient.OutputHandler?
        if let printer {
            output = { kind, bytes in printer.write(kind, bytes) }
        }
        defer { printer?.flush() }
        let handler = output
        let map = SystemMap(
            app: app,
            function: target.functionName,
            inputs: bodies,
            deadline: try callTimeout.map(CallTimeout.validate),
            retry: target.retry,
            inFlight: maxInFlight,
            replicas: replicas,
            stopAtFirstFailure: stopAtFirstFailure
        )
        let outcomes: [Swift.Result<ByteBuffer, any Error>]
        do {
            outcomes = try await target.backend.map(map, output: handler)
        } catch {
            // A cancelled caller sees the standard CancellationError, whatever the wire said.
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
        return outcomes.map { outcome in
            outcome.flatMap { bytes in
                Swift.Result { try function.decodeResult(bytes.dataView) }
            }
        }
    }
}
