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
            try await pause(after: failedFirst, attempt: attempt, function: request.function)
            attempt += 1
        }
        while true {
            do {
                return try await pool.call(request, timeout: timeout, key: key, calls: calls, caller: caller, output: output)
            } catch let failure as CallFailure where retries(failure, after: attempt) {
                try await pause(after: failure, attempt: attempt, function: request.function)
                attempt += 1
            }
        }
    }

    /// Whether the policy tries again after attempt number `attempt` failed with `failure`.
    func retries(_ failure: CallFailure, after attempt: Int) -> Bool {
        attempt < policy.attempts && policy.retries(kind: failure.kind)
    }

    private func pause(after failure: CallFailure, attempt: Int, function: String) async throws {
        pool.appendToLog("hoist: attempt \(attempt) of '\(function)' failed (\(failure.message)); retrying")
        try await Task.sleep(for: policy.pause(before: attempt))
    }
}
