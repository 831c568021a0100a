import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// One worker process of an app version, and the calls it has in flight.
///
/// The daemon sends calls over the worker's Unix-socket channel; the worker answers each with
/// output frames and then a result or failure frame carrying the same call id.
final class Worker: @unchecked Sendable {
    enum State: Equatable { case starting, ready, exited }

    struct Pending {
        let function: String
        /// Called once with the call's outcome (a call's continuation, or a batch's collector).
        let complete: @Sendable (Result<ByteBuffer, any Error>) -> Void
        let output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
        /// The call's deadline in seconds, counted from when the worker starts it.
        var timeout: Double?
        var deadline: Scheduled<Void>?
    }

    /// How long a worker has to let go of a call it was asked to cancel before it is killed.
    static let cancelGrace: TimeAmount = {
        let milliseconds = ProcessInfo.processInfo.environment["HOIST_CANCEL_GRACE_MS"].flatMap(Int64.init) ?? 2000
        return .milliseconds(max(0, milliseconds))
    }()

    let app: String
    let index: Int
    let token: String
    private let lock = NIOLock()
    private var _state: State = .starting
    private var channel: (any Channel)?
    /// Calls go out through this, flushed once for those written in one pass of the loop.
    private var calls: FlushCoalescer?
    private var pending: [UInt64: Pending] = [:]
    /// The calls written to the worker and not yet answered, in the order it runs them (one at
    /// a time, first come first served): the first has started, and only its deadline runs, so
    /// that time spent queued behind other calls does not count against a call's deadline.
    private var order = CircularBuffer<UInt64>()
    /// Calls the worker was asked to cancel and has not yet answered.
    private var cancelling: Set<UInt64> = []
    private var _pid: Int32 = 0
    private var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    private var exitDescription: String?
    /// The process has died and its crash report is being read: no new calls.
    private var dying = false
    var onExit: (@Sendable (Worker, String) -> Void)?
    /// Called before a worker that did not let go of a cancelled call is killed.
    var onStuck: (@Sendable (Worker, String) -> Void)?

    /// The app log, where a crash report goes.
    let logPath: String

    init(app: String, index: Int, logPath: String) {
        self.app = app
        self.index = index
        self.logPath = logPath
        self.token = UUID().uuidString
    }

    var state: State { lock.withLock { _state } }
    /// Ready and not stuck on a call it was asked to cancel: may take new calls.
    var isAvailable: Bool { lock.withLock { _state == .ready && cancelling.isEmpty && !dying } }

    /// The process died; ``exited(status:signalled:crash:)`` follows once its report is read.
    func markDying() { lock.withLock { dying = true } }
    var pid: Int32 { lock.withLock { _pid } }
    /// Calls in flight, with those a pool has picked this worker for and not yet sent.
    var inFlight: Int { lock.withLock { pending.count + reserved } }
    /// Picks not yet turned into calls: without them, calls picking a worker at the same moment
    /// would all see it idle and queue behind each other on it.
    private var reserved = 0

    /// Counts a call the pool is about to send here (see ``WorkerPool``'s pick).
    func reserve() { lock.withLock { reserved += 1 } }

    /// A reserved call that will not be sent after all.
    func releaseReservation() { lock.withLock { reserved = max(0, reserved - 1) } }

    func setPID(_ pid: Int32) { lock.withLock { _pid = pid } }

    /// Called by the listener when this worker's hello arrives.
    func attach(channel: any Channel, hello: WorkerHello) {
        let waiters: [CheckedContinuation<Void, any Error>] = lock.withLock {
            guard _state == .starting else { return [] }
            self.channel = channel
            calls = FlushCoalescer(channel: channel)
            _state = .ready
            defer { readyWaiters = [] }
            return readyWaiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Waits until the worker has said hello, or throws when it exits first or takes too long.
    func waitReady(timeout: Duration) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let outcome: Result<Void, any Error>? = self.lock.withLock {
                        switch self._state {
                        case .ready: return .success(())
                        case .exited: return .failure(HoistError(.deployFailed, self.exitDescription ?? "the worker exited"))
                        case .starting:
                            self.readyWaiters.append(continuation)
                            return nil
                        }
                    }
                    if let outcome { continuation.resume(with: outcome) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw HoistError(.deployFailed, "worker \(self.index) of app '\(self.app)' did not connect to the daemon within \(timeout)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Sends a call and waits for its result, or until `timeout` seconds have passed.
    func call(
        id: UInt64,
        request: CallRequest,
        timeout: Double?,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?
    ) async throws -> ByteBuffer {
        try await withCheckedThrowingContinuation { continuation in
            start(id: id, request: request, timeout: timeout, output: output) { continuation.resume(with: $0) }
        }
    }

    /// Sends a call; `complete` gets its outcome once: the result, its failure (a timeout after
    /// `timeout` seconds), or ``NotStarted`` when the worker died before starting it.
    func start(
        id: UInt64,
        request: CallRequest,
        timeout: Double?,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        complete: @escaping @Sendable (Result<ByteBuffer, any Error>) -> Void
    ) {
        // The channel's coalescer, set with the channel when the worker said hello.
        let (found, alone): (FlushCoalescer??, Bool) = lock.withLock {
            reserved = max(0, reserved - 1)
            // Picked just before the process was seen to die: never sent, so safe elsewhere.
            if dying { return (.some(nil), false) }
            guard _state == .ready, let calls = self.calls else { return (nil, false) }
            let alone = pending.isEmpty
            pending[id] = Pending(function: request.function, complete: complete, output: output, timeout: timeout)
            return (calls, alone)
        }
        guard let found else {
            complete(.failure(CallFailure(HoistError(.noWorkers, "worker \(index) of app '\(app)' is not ready"))))
            return
        }
        guard let calls = found else {
            complete(.failure(NotStarted()))
            return
        }
        var body = request.body
        if let once = request.sentOnce {
            // A worker with nothing else to do starts the call as it arrives: the daemon
            // need not keep the body to send it elsewhere. Behind other calls, it keeps it.
            guard let held = alone ? once.take() : once.peek() else {
                let failure = lock.withLock { settle(id) }
                failure?.deadline?.cancel()
                failure?.complete(.failure(CallFailure(Self.bodyGone(function: request.function, bytes: once.byteCount))))
                return
            }
            body = held
        }
        calls.send(WorkerFrame(kind: .call, callID: id, payload: request.header(allocator: calls.channel.allocator), tail: body)) {
            self.written(id..<id + 1)
        }
    }

    /// Calls were written to the worker (on its channel's loop, in the order written): they
    /// join the queue, and a call at its front starts its deadline.
    private func written(_ ids: Range<UInt64>) {
        lock.withLock {
            let wasIdle = order.isEmpty
            order.append(contentsOf: ids)
            if wasIdle { startDeadlineOfFirst() }
        }
    }

    /// Under `lock`: the call the worker runs now starts its deadline, if it has one.
    private func startDeadlineOfFirst() {
        guard let id = order.first, let timeout = pending[id]?.timeout, pending[id]?.deadline == nil, let loop = channel?.eventLoop else { return }
        pending[id]?.deadline = loop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            self.deadlinePassed(id, after: timeout)
        }
    }

    /// Under `lock`: the worker answered `id`, so the call after it in the queue has started.
    private func answered(_ id: UInt64) {
        guard let position = order.firstIndex(of: id) else { return }
        let wasFirst = position == order.startIndex
        order.remove(at: position)
        if wasFirst { startDeadlineOfFirst() }
    }

    /// A call whose body was let go once sent (``SentOnceBody``) cannot be sent again.
    static func bodyGone(function: String, bytes: Int) -> HoistError {
        HoistError(.workerCrashed, "the worker sent the call to '\(function)' ended before it started, and the daemon had already let go of its \(bytes)-byte body (large bodies are held only until sent); call again")
    }

    /// Sends many calls of one function in one frame, with ids `firstID`, `firstID + 1`, …;
    /// `complete` gets each one's outcome by its position, once (``NotStarted`` for those the
    /// worker died before starting). Each call has its own deadline of `timeout` seconds, counted
    /// from when the worker starts it. Returns false, sending nothing, when the worker is not ready.
    func callBatch(
        firstID: UInt64,
        batch: CallBatch,
        timeout: Double?,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        complete: @escaping @Sendable (Int, Result<ByteBuffer, any Error>) -> Void
    ) -> Bool {
        let calls: FlushCoalescer? = lock.withLock {
            reserved = max(0, reserved - 1)
            guard _state == .ready, !dying, let calls = self.calls else { return nil }
            for position in batch.bodies.indices {
                pending[firstID + UInt64(position)] = Pending(function: batch.function, complete: { complete(position, $0) }, output: output, timeout: timeout)
            }
            return calls
        }
        guard let calls else { return false }
        let ids = firstID..<firstID + UInt64(batch.bodies.count)
        calls.send(WorkerFrame(kind: .batch, callID: firstID, payload: batch.encode(allocator: calls.channel.allocator))) {
            self.written(ids)
        }
        return true
    }

    /// A frame from the worker, on the channel's event loop.
    func receive(_ frame: WorkerFrame) {
        switch frame.kind {
        case .stdout, .stderr, .item:
            let sink = lock.withLock { pending[frame.callID]?.output }
            sink?(frame.kind, frame.payload)
        case .result:
            let entry = lock.withLock { settle(frame.callID) }
            entry?.deadline?.cancel()
            entry?.complete(.success(frame.payload))
        case .failure:
            guard let entry = lock.withLock({ settle(frame.callID) }) else { return }
            entry.deadline?.cancel()
            let failure = (try? JSONDecoder().decode(CallFailure.self, from: Data(frame.payload.readableBytesView)))
                ?? CallFailure(HoistError(.badResponse, "worker \(index) of app '\(app)' sent a failure that could not be decoded"))
            entry.complete(.failure(failure))
        default:
            break
        }
    }

    /// Removes a call the worker answered; a call that was being cancelled counts as let go.
    private func settle(_ id: UInt64) -> Pending? {
        cancelling.remove(id)
        answered(id)
        return pending.removeValue(forKey: id)
    }

    /// The call's deadline passed: fail it, ask the worker to cancel it, and kill the worker if
    /// it has not let go within ``cancelGrace`` (a busy loop never checks for cancellation).
    private func deadlinePassed(_ id: UInt64, after timeout: Double) {
        let seconds = timeout.formatted(.number.precision(.fractionLength(0...3)))
        abandon(id) { function, pid in
            HoistError(.timedOut, "'\(function)' of app '\(app)' did not finish within \(seconds) s; worker \(index) (pid \(pid)) was asked to cancel it")
        }
    }

    /// Cancels a call in flight at the caller's request.
    /// Returns false when the call is not (or no longer) in flight here.
    @discardableResult
    func cancel(_ id: UInt64) -> Bool {
        abandon(id) { function, pid in
            HoistError(.cancelled, "'\(function)' of app '\(app)' was cancelled by its caller; worker \(index) (pid \(pid)) was asked to stop it")
        }
    }

    /// Fails a call with `error`, asks the worker to cancel it, and kills the worker if it has
    /// not let go within ``cancelGrace``.
    @discardableResult
    private func abandon(_ id: UInt64, error: (String, Int32) -> HoistError) -> Bool {
        let (entry, channel, pid): (Pending?, (any Channel)?, Int32) = lock.withLock {
            guard let entry = pending.removeValue(forKey: id) else { return (nil, nil, 0) }
            cancelling.insert(id)
            return (entry, self.channel, _pid)
        }
        guard let entry else { return false }
        entry.deadline?.cancel()
        entry.complete(.failure(CallFailure(error(entry.function, pid))))
        guard let channel else { return true }
        channel.writeAndFlush(WorkerFrame(kind: .cancel, callID: id, payload: ByteBuffer()), promise: nil)
        channel.eventLoop.scheduleTask(in: Self.cancelGrace) {
            let stuck = self.lock.withLock { self.cancelling.contains(id) && self._pid == pid }
            if stuck {
                self.onStuck?(self, entry.function)
                self.signal(SIGKILL)
            }
        }
        return true
    }

    /// The process ended: fail what it was running, with the reason (and what its crash
    /// report says, when it crashed).
    /// `crashedCall` is the call the worker's crash handler said it was running.
    func exited(status: Int32, signalled: Bool, crash: CrashReport? = nil, crashedCall: UInt64? = nil) {
        let reason = signalled
            ? "was killed by signal \(status) (\(ProcessSupport.signalName(status)))"
            : "exited with status \(status)"
        if let crash {
            WorkerPool.append("hoist: worker \(index) of app '\(app)' (pid \(pid)) crashed (signal \(status), \(ProcessSupport.signalName(status))): \(crash.full)", toLog: logPath)
        }
        let (calls, runningID, waiters, pid): ([UInt64: Pending], UInt64?, [CheckedContinuation<Void, any Error>], Int32) = lock.withLock {
            _state = .exited
            exitDescription = "worker \(index) of app '\(app)' (pid \(_pid)) \(reason) before it was ready; see `hoist logs \(app)`"
            let calls = pending
            // The crash handler names the call it crashed in. Otherwise: a worker runs its calls
            // one at a time in the order written, so the first of those was running (unless it
            // had been cancelled or had timed out already: then none of those left was).
            let runningID = (crashedCall ?? order.first).flatMap { pending[$0] == nil ? nil : $0 }
            pending = [:]
            order = []
            cancelling = []
            channel = nil
            self.calls = nil
            defer { readyWaiters = [] }
            return (calls, runningID, readyWaiters, _pid)
        }
        for (id, call) in calls {
            call.deadline?.cancel()
            if id == runningID {
                let error = crash.map { crash in
                    HoistError(.workerCrashed, "worker \(index) of app '\(app)' (pid \(pid)) crashed (signal \(status), \(ProcessSupport.signalName(status))) while running '\(call.function)': \(crash.summary)\nthe full report is in `hoist logs \(app)`")
                } ?? HoistError(.workerCrashed, "worker \(index) of app '\(app)' (pid \(pid)) \(reason) while running '\(call.function)'")
                call.complete(.failure(CallFailure(error)))
            } else {
                // Never started: safe to run on another worker.
                call.complete(.failure(NotStarted()))
            }
        }
        for waiter in waiters {
            waiter.resume(throwing: HoistError(.deployFailed, lock.withLock { exitDescription } ?? reason))
        }
        onExit?(self, reason)
    }

    /// Asks the worker to finish and exit.
    func requestShutdown() {
        let channel = lock.withLock { self.channel }
        channel?.writeAndFlush(WorkerFrame(kind: .shutdown, callID: 0, payload: ByteBuffer()), promise: nil)
    }

    /// Sends a signal to the worker process, if it is still ours.
    func signal(_ signal: Int32) {
        let (pid, state) = lock.withLock { (_pid, _state) }
        if pid > 0 && state != .exited { kill(pid, signal) }
    }
}

/// A call that was queued on a worker that died before starting it.
struct NotStarted: Error {}
