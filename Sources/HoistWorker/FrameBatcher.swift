import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// A call's output and elements on their way to the daemon. What a function writes while the
/// channel's event loop is busy with the last piece goes out in one frame and one flush, so a
/// function that prints a thousand lines costs a few frames, not a thousand; order is kept, and
/// everything handed in before the call's result is written before it (the event loop runs
/// what it is given in order).
final class FrameBatcher: Sendable {
    private struct State {
        var pending: [(kind: WorkerFrame.Kind, bytes: ByteBuffer)] = []
        var scheduled = false
    }
    private let state = NIOLockedValueBox(State())
    private let channel: any Channel
    private let callID: UInt64

    init(channel: any Channel, callID: UInt64) {
        self.channel = channel
        self.callID = callID
    }

    func add(_ kind: WorkerFrame.Kind, _ bytes: ByteBuffer) {
        let schedule = state.withLockedValue { state -> Bool in
            // Output of one stream merges with what came just before it; elements never do.
            if kind != .item, let last = state.pending.indices.last, state.pending[last].kind == kind {
                // In place: a copy of the last entry would share its buffer and copy it whole.
                var bytes = bytes
                state.pending[last].bytes.writeBuffer(&bytes)
            } else {
                state.pending.append((kind, bytes))
            }
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        channel.eventLoop.execute { self.send() }
    }

    private func send() {
        let pending = state.withLockedValue { state -> [(kind: WorkerFrame.Kind, bytes: ByteBuffer)] in
            state.scheduled = false
            defer { state.pending = [] }
            return state.pending
        }
        for (kind, bytes) in pending {
            channel.write(WorkerFrame(kind: kind, callID: callID, payload: bytes), promise: nil)
        }
        channel.flush()
    }
}
