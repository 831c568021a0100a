import HoistCore
import NIOCore

/// A pool's calls under a ``RetryPolicy``: a call that failed for a reason the policy retries
/// is sent again, after the policy's pause, under the same key.
struct RetryingPool: Sendable {
    let pool: WorkerPool
    let policy: RetryPolicy

    func call(
        _ request: CallRequest,
        timeout: Double? = nil,
        key: String? = nil,
        calls: CallRegistry? = nil,
        caller: String? = nil,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
    ) async throws -> ByteBuffer {
        var attempt = 1
        while true {
            do {
                return try await pool.call(request, timeout: timeout, key: key, calls: calls, caller: caller, output: output)
            } catch let failure as CallFailure where attempt < policy.attempts && policy.retries(kind: failure.kind) {
                pool.appendToLog("hoist: attempt \(attempt) of '\(request.function)' failed (\(failure.message)); retrying")
                try await Task.sleep(for: policy.pause(before: attempt))
                attempt += 1
            }
        }
    }
}
