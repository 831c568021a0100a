import CHoistCrash
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// A worker's calls, run one at a time in the order they came, by a task that goes from one to
/// the next. Frames are queued on the channel's event loop, so a call costs one hand-off (the
/// event loop to that task) and the event loop stays free to hear a cancel for the running
/// call. A cancel cancels the task; the calls after that one go on in a new task.
final class CallQueue: @unchecked Sendable {
    enum Item {
        /// A call frame's payload, decoded only when the call runs.
        case call(id: UInt64, payload: PayloadBox)
        /// One call of a batch frame.
        case batched(id: UInt64, request: CallRequest)

        var id: UInt64 {
            switch self {
            case let .call(id, _), let .batched(id, _): id
            }
        }
    }

    typealias Serve = @Sendable (consuming CallRequest, UInt64, any Channel) async -> WorkerFrame

    private let lock = NIOLock()
    private var items = CircularBuffer<Item>()
    /// Whether a task is taking calls from the queue.
    private var taking = false
    private var channel: (any Channel)?
    /// Answers go out through this, flushed once for those written in one pass of the loop.
    private var replies: FlushCoalescer?
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    private let running: RunningCall
    private let serve: Serve
    /// Cancels for calls that had not arrived: the daemon can send a cancel just as its call is
    /// being written, and the cancel may go first. The oldest are forgotten past a bound (a
    /// cancel for a call that had already ended never finds its call).
    private var earlyCancels = Set<UInt64>()
    private var earlyCancelOrder = CircularBuffer<UInt64>()
    static let earlyCancelLimit = 1024
    /// How many early cancels are remembered (for tests).
    var rememberedCancels: Int { lock.withLock { earlyCancels.count } }

    init(running: RunningCall, serve: @escaping Serve) {
        self.running = running
        self.serve = serve
    }

    /// Queues a call that came on `channel`, where its answer goes.
    func enqueue(_ item: Item, on channel: any Channel) {
        enqueue(CollectionOfOne(item), on: channel)
    }

    /// Queues a batch's calls that came on `channel`. A call whose cancel came first is
    /// answered at once instead.
    func enqueue(_ new: some Collection<Item>, on channel: any Channel) {
        let (start, refused, coalescer) = lock.withLock { () -> (Bool, [UInt64], FlushCoalescer?) in
            var refused: [UInt64] = []
            if earlyCancels.isEmpty {
                items.append(contentsOf: new)
            } else {
                for item in new {
                    if earlyCancels.remove(item.id) != nil {
                        refused.append(item.id)
                    } else {
                        items.append(item)
                    }
                }
            }
            if self.channel !== channel {
                self.channel = channel
                replies = FlushCoalescer(channel: channel)
            }
            // A task takes calls until none is left; one is started when none is taking.
            let start = !taking && !items.isEmpty
            if start { taking = true }
            return (start, refused, self.replies)
        }
        for id in refused { coalescer?.send(Self.cancelledBeforeStart(id)) }
        if start { startTaking() }
    }

    static func cancelledBeforeStart(_ id: UInt64) -> WorkerFrame {
        WorkerRuntime.failureFrame(CallFailure(HoistError(.cancelled, "the call was cancelled before it started")), callID: id)
    }

    /// A cancel from the daemon. A queued call is taken out and answered at once: the daemon,
    /// which has failed it already, takes a worker that leaves a cancelled call unanswered past
    /// the grace period for stuck and kills it, with the call it is running. The call taken or
    /// running is cancelled; a call that already ended needs nothing.
    func cancel(_ id: UInt64) {
        let (queued, replies, cancelRunning) = lock.withLock { () -> (Bool, FlushCoalescer?, (@Sendable () -> Void)?) in
            if let index = items.firstIndex(where: { $0.id == id }) {
                items.remove(at: index)
                return (true, self.replies, nil)
            }
            switch running.cancel(id) {
            case let .cancel(action): return (false, nil, action)
            case .stopped: return (false, nil, nil)
            case .notHere:
                if earlyCancels.insert(id).inserted {
                    earlyCancelOrder.append(id)
                    if earlyCancelOrder.count > Self.earlyCancelLimit, let oldest = earlyCancelOrder.popFirst() {
                        earlyCancels.remove(oldest)
                    }
                }
                return (false, nil, nil)
            }
        }
        if queued { replies?.send(Self.cancelledBeforeStart(id)) }
        cancelRunning?()
    }

    /// Returns once no call is queued or running.
    func idle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if !taking && items.isEmpty { return true }
                idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func startTaking() {
        let task = Task { await self.take() }
        running.attach(task)
    }

    private func take() async {
        while true {
            let (next, channel, replies, waiters) = lock.withLock { () -> (Item?, (any Channel)?, FlushCoalescer?, [CheckedContinuation<Void, Never>]) in
                if let item = items.popFirst() {
                    running.take(item.id)
                    return (item, self.channel, self.replies, [])
                }
                taking = false
                // Before another task can be attached: its cancel must not be cleared.
                running.finish()
                defer { idleWaiters = [] }
                return (nil, nil, nil, idleWaiters)
            }
            guard let item = next, let channel, let replies else {
                for waiter in waiters { waiter.resume() }
                return
            }
            let id = item.id
            guard running.begin(id) else {
                replies.send(Self.cancelledBeforeStart(id))
                continue
            }
            hoist_crash_set_call(id)
            let reply: WorkerFrame
            switch consume item {
            case let .call(_, payload):
                // The frame's bytes go to the call through a box it empties, so that nothing
                // here keeps a large argument alive once the function has decoded it.
                do {
                    reply = await serve(try CallRequest(decoding: payload.take()), id, channel)
                } catch {
                    reply = WorkerRuntime.failureFrame(CallFailure.from(error, function: "?"), callID: id)
                }
            case let .batched(_, request):
                reply = await serve(request, id, channel)
            }
            hoist_crash_set_call(0)
            running.end()
            replies.send(reply)
            if Task.isCancelled {
                // The cancel was for the call that just ended.
                running.finish()
                startTaking()
                return
            }
        }
    }
}

/// A call frame's bytes, handed over once: the call takes them, and the box lets go.
final class PayloadBox: @unchecked Sendable {
    private var payload: ByteBuffer?
    init(_ payload: ByteBuffer) { self.payload = payload }
    /// The bytes, for the one call that runs them (empty after the first take).
    func take() -> ByteBuffer {
        defer { payload = nil }
        return payload ?? ByteBuffer()
    }
}

/// The call a worker is running (or has taken from its queue and is about to run), so that a
/// cancel frame can reach it.
final class RunningCall: Sendable {
    private struct State {
        var id: UInt64?
        /// Whether the call with `id` has started; before that, a cancel stops it from starting
        /// (by clearing `id`).
        var started = false
        /// Cancels the task running the calls.
        var cancelTask: (@Sendable () -> Void)?
        /// A cancel for the running call that came before its task was known.
        var cancelRequested = false
    }
    private let state = NIOLockedValueBox(State())

    /// The task that runs the queue's calls one after another.
    func attach(_ task: Task<Void, Never>) {
        let cancel = state.withLockedValue { state -> Bool in
            state.cancelTask = { task.cancel() }
            // Only while the call it was meant for still runs (``end()`` clears it).
            defer { state.cancelRequested = false }
            return state.cancelRequested && state.id != nil
        }
        if cancel { task.cancel() }
    }

    /// The task ended (or was cancelled and handed over to a new one).
    func finish() {
        state.withLockedValue { state in
            state.id = nil
            state.started = false
            state.cancelTask = nil
            state.cancelRequested = false
        }
    }

    /// The call was taken from the queue (under the queue's lock, so that a cancel finds it
    /// either queued or here).
    func take(_ id: UInt64) {
        state.withLockedValue { state in
            state.id = id
            state.started = false
        }
    }

    /// The taken call starts; false when it was cancelled before it did.
    func begin(_ id: UInt64) -> Bool {
        state.withLockedValue { state in
            guard state.id == id else { return false }
            state.started = true
            return true
        }
    }

    /// A call ended.
    func end() {
        state.withLockedValue { state in
            state.id = nil
            state.started = false
            state.cancelRequested = false
        }
    }

    enum Cancelling {
        /// The call runs: this cancels it (run it outside any lock: it runs the function's
        /// cancellation handlers), or nil when its task is not known yet and will be cancelled
        /// when it is.
        case cancel((@Sendable () -> Void)?)
        /// The call was taken but had not started: it will not.
        case stopped
        /// Not this call.
        case notHere
    }

    /// Cancels the call with this id if it is the one taken or running.
    func cancel(_ id: UInt64) -> Cancelling {
        state.withLockedValue { state -> Cancelling in
            guard state.id == id else { return .notHere }
            guard state.started else {
                state.id = nil
                return .stopped
            }
            if state.cancelTask == nil { state.cancelRequested = true }
            return .cancel(state.cancelTask)
        }
    }
}
