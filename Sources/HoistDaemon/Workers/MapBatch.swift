import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// One map sent as a batch: its inputs spread over the app's workers and their outcomes handed
/// on in input order.
///
/// Inputs go to the workers in chunks, one frame per chunk (``CallBatch``), two chunks per worker
/// at a time: the worker runs a chunk's calls in order and answers each as a call of its own,
/// each with its own deadline counted from when the worker starts it (see ``Worker``). An input
/// whose failure the retry policy retries is tried again as a call of its own
/// (``RetryingPool/call(_:timeout:key:calls:caller:failedFirst:output:)``). Inputs from a nested
/// call go one call each, to idle workers only, as nested calls do.
/// Either way a crash, a timeout or a cancel touches one input alone, and cancelling the batch
/// stops dispatching and cancels the inputs in flight.
final class MapBatch: Sendable {
    let inputs: [ByteBuffer]
    let function: String
    let pool: RetryingPool
    let timeout: Double?
    let key: String
    let calls: CallRegistry
    let caller: String?
    let wantsOutput: Bool
    /// Inputs a unit of work carries: a chunk's size, or 1 for one call an input.
    let unitSize: Int
    /// Units running at once.
    let unitsInFlight: Int
    /// Whether inputs go in chunks rather than one call each.
    private let usesChunks: Bool

    private struct State {
        var cancelled = false
        /// Inputs in flight as calls of their own.
        var inFlight: Set<Int> = []
        /// Chunks in flight: their worker and call ids.
        var chunks: [UInt64: (worker: Worker, count: Int)] = [:]
    }
    private let state = NIOLockedValueBox(State())

    /// How far finished outcomes may run ahead of the first unfinished one: it bounds the
    /// outcomes held back for order, and so the batch's memory, whatever the window.
    static let reorderLimit = 4096
    /// The most inputs in one chunk: more would hold results back longer for little gain.
    static let largestChunk = 64

    /// `window` is the caller's `Hoist-Max-In-Flight`, if any.
    init(inputs: [ByteBuffer], function: String, pool: RetryingPool, timeout: Double?, key: String, calls: CallRegistry, caller: String?, window: Int?, wantsOutput: Bool) {
        self.inputs = inputs
        self.function = function
        self.pool = pool
        self.timeout = timeout
        self.key = key
        self.calls = calls
        self.caller = caller
        self.wantsOutput = wantsOutput
        let replicas = max(1, pool.pool.replicas)
        usesChunks = caller == nil
        if usesChunks {
            // Enough chunks that every worker has one running and one waiting.
            let size = window.map { $0 / (2 * replicas) } ?? (inputs.count + 4 * replicas - 1) / (4 * replicas)
            let chunk = max(1, min(Self.largestChunk, size))
            unitSize = chunk
            unitsInFlight = max(1, window.map { $0 / chunk } ?? 2 * replicas)
        } else {
            unitSize = 1
            unitsInFlight = max(1, window ?? 4 * replicas)
        }
    }

    /// Stops the batch: no input starts after this, and those in flight are cancelled.
    func cancel() {
        let (running, chunks) = state.withLockedValue { state in
            state.cancelled = true
            return (state.inFlight, state.chunks)
        }
        for index in running { _ = calls.cancel(MapWire.inputKey(key, index)) }
        for (first, chunk) in chunks {
            for id in first..<first + UInt64(chunk.count) { chunk.worker.cancel(id) }
        }
    }

    /// Runs every input; `outcome` gets each one's result or failure in input order, `output`
    /// what the functions print, as it comes. An outcome is handed on as soon as every input
    /// before it has its own, not when its chunk ends: a map of slow inputs streams its results,
    /// and a caller that loses this daemon mid-map keeps what it had answered.
    func run(
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        outcome: (Int, Result<ByteBuffer, CallFailure>) -> Void
    ) async {
        var held: [Int: Result<ByteBuffer, CallFailure>] = [:]
        var nextToEmit = 0
        let units = stride(from: 0, to: inputs.count, by: unitSize).map { $0..<min($0 + unitSize, inputs.count) }
        let inbox = OutcomeInbox()
        var wakeups = inbox.wakeups.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            var running = 0
            while true {
                while running < unitsInFlight, next < units.count, units[next].lowerBound - nextToEmit < Self.reorderLimit {
                    let unit = units[next]
                    next += 1
                    running += 1
                    group.addTask {
                        await self.run(unit, output: output, into: inbox)
                        inbox.unitDone()
                    }
                }
                guard running > 0 else { break }
                let (outcomes, unitsDone) = inbox.take()
                if outcomes.isEmpty, unitsDone == 0 {
                    _ = await wakeups.next()
                    continue
                }
                for (index, result) in outcomes { held[index] = result }
                while let ready = held.removeValue(forKey: nextToEmit) {
                    outcome(nextToEmit, ready)
                    nextToEmit += 1
                }
                running -= unitsDone
            }
        }
    }

    private func run(_ unit: Range<Int>, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?, into inbox: OutcomeInbox) async {
        if usesChunks { return await runChunk(Array(unit), output: output, into: inbox) }
        inbox.add(unit.lowerBound, await runInput(unit.lowerBound, output: output))
    }

    private func cancelledFailure(_ index: Int) -> Result<ByteBuffer, CallFailure> {
        .failure(CallFailure(HoistError(.cancelled, "the map was cancelled before input \(index) started")))
    }

    /// One chunk in one frame to one worker, each outcome handed on as the worker answers it;
    /// inputs that worker died before starting go again. An input whose failure the retry policy
    /// retries (its worker crashed, say) is tried again as a call of its own once its chunk ends.
    private func runChunk(_ indices: [Int], output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?, into inbox: OutcomeInbox) async {
        let retrying = NIOLockedValueBox<[(index: Int, failure: CallFailure)]>([])
        await sendChunk(indices, output: output, into: inbox, retrying: retrying)
        let retries = retrying.withLockedValue { $0 }
        guard !retries.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            for (index, failure) in retries {
                group.addTask { inbox.add(index, await self.runInput(index, failedFirst: failure, output: output)) }
            }
        }
    }

    /// ``runChunk(_:output:into:)`` up to the retries: the failures to retry go to `retrying`
    /// instead of `inbox`.
    private func sendChunk(_ indices: [Int], output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?, into inbox: OutcomeInbox, retrying: NIOLockedValueBox<[(index: Int, failure: CallFailure)]>) async {
        var left = indices
        while !left.isEmpty {
            if state.withLockedValue({ $0.cancelled }) {
                for index in left { inbox.add(index, cancelledFailure(index)) }
                return
            }
            let chunk = ChunkTracker(count: left.count)
            let sent: (worker: Worker, firstID: UInt64)
            do {
                let positions = left
                sent = try await pool.pool.sendBatch(CallBatch(function: function, wantsOutput: wantsOutput, bodies: left.map { inputs[$0] }), timeout: timeout, output: output) { position, result in
                    switch result {
                    case .success(let bytes):
                        chunk.settle(position) { inbox.add(positions[position], .success(bytes)) }
                    case .failure(is NotStarted):
                        chunk.settle(position, notStarted: true)
                    case .failure(let error):
                        let failure = DaemonRoutes.callFailure(error)
                        chunk.settle(position) {
                            if self.pool.retries(failure, after: 1) {
                                retrying.withLockedValue { $0.append((positions[position], failure)) }
                            } else {
                                inbox.add(positions[position], .failure(failure))
                            }
                        }
                    }
                }
            } catch {
                let failure = DaemonRoutes.callFailure(error)
                for index in left { inbox.add(index, .failure(failure)) }
                return
            }
            // A cancel that came while the chunk was on its way reaches it here.
            let cancelledMeanwhile = state.withLockedValue { state -> Bool in
                state.chunks[sent.firstID] = (sent.worker, left.count)
                return state.cancelled
            }
            if cancelledMeanwhile {
                for id in sent.firstID..<sent.firstID + UInt64(left.count) { sent.worker.cancel(id) }
            }
            let notStarted = await chunk.wait()
            _ = state.withLockedValue { $0.chunks.removeValue(forKey: sent.firstID) }
            left = notStarted.map { left[$0] }
        }
    }

    /// One input as a call of its own under the retry policy; `failedFirst` is its first
    /// attempt's failure when that ran in a chunk.
    private func runInput(_ index: Int, failedFirst: CallFailure? = nil, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?) async -> Result<ByteBuffer, CallFailure> {
        let cancelled = state.withLockedValue { state -> Bool in
            if state.cancelled { return true }
            state.inFlight.insert(index)
            return false
        }
        if cancelled { return cancelledFailure(index) }
        defer { _ = state.withLockedValue { $0.inFlight.remove(index) } }
        do {
            let request = CallRequest(function: function, wantsOutput: wantsOutput, body: inputs[index])
            return .success(try await pool.call(request, timeout: timeout, key: MapWire.inputKey(key, index), calls: calls, caller: caller, failedFirst: failedFirst, output: output))
        } catch {
            return .failure(DaemonRoutes.callFailure(error))
        }
    }
}

/// A chunk's inputs as the worker answers them: which have their outcome, which the worker never
/// started, and a waiter for the last of them.
private final class ChunkTracker: Sendable {
    private struct State {
        var settled: [Bool]
        var notStarted: [Int] = []
        var remaining: Int
        var waiter: CheckedContinuation<[Int], Never>?
    }
    private let state: NIOLockedValueBox<State>

    init(count: Int) {
        state = NIOLockedValueBox(State(settled: Array(repeating: false, count: count), remaining: count))
    }

    /// Settles a position on its first outcome: `deliver` hands it on (before the waiter wakes,
    /// so the chunk never ends ahead of its last outcome); later ones are dropped.
    func settle(_ position: Int, notStarted: Bool = false, deliver: () -> Void = {}) {
        let first = state.withLockedValue { state -> Bool in
            guard !state.settled[position] else { return false }
            state.settled[position] = true
            if notStarted { state.notStarted.append(position) }
            return true
        }
        guard first else { return }
        deliver()
        // Counted only once handed on: a waiter that finds none remaining has every outcome.
        let done = state.withLockedValue { state -> (CheckedContinuation<[Int], Never>, [Int])? in
            state.remaining -= 1
            guard state.remaining == 0, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.notStarted.sorted())
        }
        if let (waiter, positions) = done { waiter.resume(returning: positions) }
    }

    /// The positions the worker never started, once every position is settled.
    func wait() async -> [Int] {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> [Int]? in
                if state.remaining == 0 { return state.notStarted.sorted() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Outcomes and finished units on their way from the units of a batch to the loop that hands
/// them on in order, and a wake-up for that loop: what arrives while it works is taken at once.
private final class OutcomeInbox: Sendable {
    private struct State {
        var outcomes: [(Int, Result<ByteBuffer, CallFailure>)] = []
        var unitsDone = 0
    }
    private let state = NIOLockedValueBox(State())
    let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(_ index: Int, _ outcome: Result<ByteBuffer, CallFailure>) {
        state.withLockedValue { $0.outcomes.append((index, outcome)) }
        wake.yield()
    }

    func unitDone() {
        state.withLockedValue { $0.unitsDone += 1 }
        wake.yield()
    }

    /// What arrived since the last take.
    func take() -> (outcomes: [(Int, Result<ByteBuffer, CallFailure>)], unitsDone: Int) {
        state.withLockedValue { state in
            defer { state = State() }
            return (state.outcomes, state.unitsDone)
        }
    }
}

/// Records waiting to be written to a response, and a wake-up for its writer: what accumulates
/// while a write is under way goes out in one write, not one each.
final class RecordOutbox: Sendable {
    private struct State {
        var buffer = ByteBuffer()
        var finished = false
    }
    private let state = NIOLockedValueBox(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func append(_ write: (inout ByteBuffer) -> Void) {
        state.withLockedValue { write(&$0.buffer) }
        wake.yield()
    }

    func finish() {
        state.withLockedValue { $0.finished = true }
        wake.yield()
        wake.finish()
    }

    /// Hands what accumulated to `write`, until ``finish()`` and the last bytes.
    func drain(_ write: (ByteBuffer) async throws -> Void) async throws {
        for await _ in wakeups {
            let chunk = state.withLockedValue { state -> ByteBuffer in
                defer { state.buffer = ByteBuffer() }
                return state.buffer
            }
            if chunk.readableBytes > 0 { try await write(chunk) }
        }
        let rest = state.withLockedValue { $0.buffer }
        if rest.readableBytes > 0 { try await write(rest) }
    }
}
