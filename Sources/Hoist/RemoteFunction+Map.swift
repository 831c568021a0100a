import Foundation
import HoistCore

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
    /// - Parameter maxInFlight: How many calls run at once (default: 4 per worker, at least 16).
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
        // Encoded up front: the tasks below then handle plain bytes, not tuples of a pack.
        let function = self.function
        let bodies = try inputs.map { input in try function.encodeArguments(repeat each input) }
        return try await run(bodies: bodies, limit: min(inputs.count, maxInFlight ?? max(16, 4 * replicas)), stopAtFirstFailure: stopAtFirstFailure)
    }

    private func run(bodies: [Data], limit: Int, stopAtFirstFailure: Bool) async throws -> [Swift.Result<Result, any Error>] {
        var outcomes = [Swift.Result<Result, any Error>?](repeating: nil, count: bodies.count)
        try await withThrowingTaskGroup(of: (Int, Swift.Result<Result, any Error>).self) { group in
            var next = 0
            while next < limit {
                let index = next
                group.addTask { (index, await self.outcome(of: bodies[index])) }
                next += 1
            }
            while let (index, outcome) = try await group.next() {
                if stopAtFirstFailure, case let .failure(error) = outcome {
                    group.cancelAll()
                    throw error
                }
                outcomes[index] = outcome
                if next < bodies.count {
                    let index = next
                    group.addTask { (index, await self.outcome(of: bodies[index])) }
                    next += 1
                }
            }
        }
        return outcomes.map { $0! }
    }

    private func outcome(of body: Data) async -> Swift.Result<Result, any Error> {
        do {
            return .success(try await call(encoded: body))
        } catch {
            return .failure(error)
        }
    }
}
