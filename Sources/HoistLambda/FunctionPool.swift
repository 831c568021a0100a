import Foundation
import NIOConcurrencyHelpers

/// The environments of one revision of a function: warm ones are reused, and each concurrent
/// invocation gets one of its own, up to the function's reserved concurrency and the server's
/// limit (then 429, as Lambda throttles).
final class FunctionPool: Sendable {
    let function: LambdaFunction
    private let settings: LocalLambdaSettings
    private let counter: ConcurrencyCounter
    private let state = NIOLockedValueBox(State())

    private struct State {
        /// Warm environments, each with when it last finished an invocation.
        var idle: [(environment: LambdaEnvironment, since: ContinuousClock.Instant)] = []
        var busy = 0
        var retired = false
    }

    init(function: LambdaFunction, settings: LocalLambdaSettings, counter: ConcurrencyCounter) {
        self.function = function
        self.settings = settings
        self.counter = counter
    }

    /// Runs `invocation` in a warm environment or a new one; throws 429 when over a limit.
    func run(_ invocation: Invocation, reserved: Int?) throws -> Task<Void, Never> {
        let environment: LambdaEnvironment? = try state.withLockedValue { state in
            if let reserved, state.busy >= reserved {
                throw LambdaAPIError.throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
            }
            guard counter.take() else { throw LambdaAPIError.throttled("ConcurrentInvocationLimitExceeded") }
            state.busy += 1
            return state.idle.popLast()?.environment
        }
        let chosen: LambdaEnvironment
        do {
            chosen = try environment ?? LambdaEnvironment(function: function, settings: settings)
        } catch {
            release(nil)
            throw error
        }
        return Task {
            await chosen.run(invocation)
            self.release(chosen)
        }
    }

    private func release(_ environment: LambdaEnvironment?) {
        counter.give()
        let retire = state.withLockedValue { state -> Bool in
            state.busy -= 1
            guard let environment else { return false }
            if state.retired { return true }
            state.idle.append((environment, .now))
            return false
        }
        if retire { environment?.retire() }
    }

    /// No more invocations: idle environments stop now, busy ones when their invocation ends.
    func retire() {
        let idle = state.withLockedValue { state in
            state.retired = true
            defer { state.idle = [] }
            return state.idle
        }
        idle.forEach { $0.environment.retire() }
    }

    /// Stops the environments that have been idle longer than `keepWarm`, as Lambda reclaims
    /// idle environments: the next invocation starts cold.
    func reap(keepWarm: Duration) {
        let cutoff = ContinuousClock.now - keepWarm
        let expired = state.withLockedValue { state in
            let expired = state.idle.filter { $0.since < cutoff }
            state.idle.removeAll { $0.since < cutoff }
            return expired
        }
        expired.forEach { $0.environment.retire() }
    }

    var environmentCount: Int { state.withLockedValue { $0.idle.count + $0.busy } }
}

/// Environments busy at once over the whole server.
final class ConcurrencyCounter: Sendable {
    private let limit: Int
    private let busy = NIOLockedValueBox(0)

    init(limit: Int) { self.limit = limit }

    func take() -> Bool {
        busy.withLockedValue { busy in
            guard busy < limit else { return false }
            busy += 1
            return true
        }
    }

    func give() { busy.withLockedValue { $0 -= 1 } }
}
