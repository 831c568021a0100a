import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// One invocation on its way through an environment: the event in, the answer out as it comes
/// (a buffered answer is one chunk; a streamed one, many), then how it ended.
final class Invocation: Sendable {
    enum Event: Sendable {
        case chunk(ByteBuffer)
        case end(Ending)
    }

    enum Ending: Sendable {
        case success
        /// The function failed: `errorType` and the error document the runtime sent.
        case functionError(type: String, body: ByteBuffer)
    }

    let requestID: String
    let payload: ByteBuffer
    let timeoutSeconds: Int
    /// When the invocation must be done, in epoch milliseconds: its timeout after the event was
    /// handed to the runtime (the init phase does not count, as on Lambda).
    var deadlineMs: Int64 { state.withLockedValue { $0.deadlineMs } }
    /// The caller's `X-Amz-Client-Context`, base64 as sent.
    let clientContext: String?
    let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let state = NIOLockedValueBox(State())
    /// What the environment printed during the invocation, with START/END/REPORT (for `Tail`).
    let log = NIOLockedValueBox(Data())

    private struct State {
        var ended = false
        var delivered = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var finished = false
        var deadlineMs: Int64 = 0
    }

    init(payload: ByteBuffer, timeoutSeconds: Int, clientContext: String?, requestID: String = UUID().uuidString.lowercased()) {
        self.requestID = requestID
        self.payload = payload
        self.timeoutSeconds = timeoutSeconds
        self.clientContext = clientContext
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    var isEnded: Bool { state.withLockedValue { $0.ended } }

    /// Marks the event as handed to the runtime, starting its clock; false when it already was.
    func markDelivered() -> Bool {
        state.withLockedValue { state in
            guard !state.delivered else { return false }
            state.delivered = true
            state.deadlineMs = Int64(Date().timeIntervalSince1970 * 1000) + Int64(timeoutSeconds) * 1000
            return true
        }
    }

    func yield(_ bytes: ByteBuffer) {
        guard !isEnded else { return }
        continuation.yield(.chunk(bytes))
    }

    /// Claims the end of the invocation: true for the first caller only (the answer, the
    /// timer or the process exiting, whichever comes first), who then calls ``deliver(_:)``.
    func claimEnd() -> Bool {
        state.withLockedValue { state in
            defer { state.ended = true }
            return !state.ended
        }
    }

    /// Hands the ending to the caller and wakes those waiting in ``waitForEnd()``.
    func deliver(_ ending: Ending) {
        continuation.yield(.end(ending))
        continuation.finish()
        let waiters = state.withLockedValue { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the ending was delivered.
    func waitForEnd() async {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { state in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Lambda's error document: `{"errorMessage":…,"errorType":…}`.
    static func errorDocument(type: String, message: String) -> ByteBuffer {
        let data = (try? JSONEncoder().encode(["errorMessage": message, "errorType": type])) ?? Data()
        return ByteBuffer(bytes: data)
    }
}
