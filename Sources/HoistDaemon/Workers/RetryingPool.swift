import HoistCore
import NIOCore

/// A pool's calls under a ``RetryPolicy``: a call that failed for a reason the policy retries
/// is sent again, after the policy's pause, under the same key.
struct RetryingPool: Sendable {
    let pool: WorkerPool
    let policy: RetryPolicy

    /// `failedFirst` is the failure of a first attempt made elsewhere (a map's input that failed
    /// in its chunk): the call is then the second attempt, after the policy's pause.
    func call(
        _ request: CallRequest,
        timeout: Double? = nil,
        key: String? = nil,
        calls: CallRegistry? = nil,
        caller: String? = nil,
        failedFirst: CallFailure? = nil,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
    ) async throws -> ByteBuffer {
        var attempt = 1
        if let failedFirst {
            guard retries(failedFirst, after: attempt) else { throw failedFirst }
            try await pause(after: failedFirst, attempt: attempt, function: request.function, key: key, calls: calls)
            attempt += 1
        }
        while true {
            do {
                return try await pool.call(request, timeout: timeout, key: key, calls: calls, caller: caller, output: output)
            } catch let failure as CallFailure where retries(failure, after: attempt) {
                try await pause(after: failure, attempt: attempt, function: request.function, key: key, calls: calls)
                attempt += 1
            }
        }
    }

    /// Whether the policy tries again after attempt number `attempt` failed with `failure`.
    func retries(_ failure: CallFailure, after attempt: Int) -> Bool {
        attempt < policy.attempts && policy.retries(kind: failure.kind)
    }

    /// Waits out the policy's pause; a call with a key can be cancelled by it meanwhile.
    private func pause(after failure: CallFailure, attempt: Int, function: String, key: String?, calls: CallRegistry?) async throws {
        pool.appendToLog("hoist: attempt \(attempt) of '\(function)' failed (\(failure.message)); retrying")
        let duration = policy.pause(before: attempt)
        guard let key, let calls else { return try await Task.sleep(for: duration) }
        let sleeper = Task { try await Task.sleep(for: duration) }
        do {
            try calls.registerPause(key) { sleeper.cancel() }
        } catch {
            sleeper.cancel()
            throw error
        }
        defer { calls.unregisterPause(key) }
        do {
            try await withTaskCancellationHandler { try await sleeper.value } onCancel: { sleeper.cancel() }
        } catch {
            pool.appendToLog("hoist: '\(function)' was cancelled before attempt \(attempt + 1)")
            throw CallFailure(HoistError(.cancelled, "the call '\(key)' was cancelled while it waited to be retried (after attempt \(attempt) failed: \(failure.message))"))
        }
    }
}
