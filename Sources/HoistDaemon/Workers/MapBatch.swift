import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// One map sent as a batch: its inputs spread over the app's workers, a few at a time per
/// worker, and their outcomes handed on in input order.
///
/// Each input is an ordinary call (``RetryingPool/call(_:timeout:key:calls:caller:output:)``)
/// with the batch's deadline and retry policy, under its own key (``MapWire/inputKey(_:_:)``),
/// so a crash, a timeout or a cancel touches that input alone; cancelling the batch stops
/// dispatching and cancels the inputs in flight.
final class MapBatch: Sendable {
    let inputs: [ByteBuffer]
    let function: String
    let pool: RetryingPool
    let timeout: Double?
    let key: String
    let calls: CallRegistry
    let caller: String?
    /// Inputs running at once.
    let window: Int
    let wantsOutput: Bool

    private struct State {
        var cancelled = false
        var inFlight: Set<Int> = []
    }
    private let state = NIOLockedValueBox(State())

    /// How far finished outcomes may run ahead of the first unfinished one: it bounds the
    /// outcomes held back for order, and so the batch's memory, whatever the window.
    static let reorderLimit = 4096

    init(inputs: [ByteBuffer], function: String, pool: RetryingPool, timeout: Double?, key: String, calls: CallRegistry, caller: String?, window: Int, wantsOutput: Bool) {
        self.inputs = inputs
        self.function = function
        self.pool = pool
        self.timeout = timeout
        self.key = key
        self.calls = calls
        self.caller = caller
        self.window = max(1, window)
        self.wantsOutput = wantsOutput
    }

    /// Stops the batch: no input starts after this, and those in flight are cancelled.
    func cancel() {
        let running = state.withLockedValue { state -> Set<Int> in
            state.cancelled = true
            return state.inFlight
        }
        for index in running { _ = calls.cancel(MapWire.inputKey(key, index)) }
    }

    /// Runs every input; `outcome` gets each one's result or failure in input order, `output`
    /// what the functions print, as it comes.
    func run(
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        outcome: (Int, Result<ByteBuffer, CallFailure>) -> Void
    ) async {
        var held: [Int: Result<ByteBuffer, CallFailure>] = [:]
        var nextToEmit = 0
        await withTaskGroup(of: (Int, Result<ByteBuffer, CallFailure>).self) { group in
            var next = 0
            var running = 0
            func startMore() {
                while running < window, next < inputs.count, next - nextToEmit < Self.reorderLimit {
                    let index = next
                    next += 1
                    running += 1
                    group.addTask { (index, await self.runInput(index, output: output)) }
                }
            }
            startMore()
            while let (index, result) = await group.next() {
                running -= 1
                held[index] = result
                while let ready = held.removeValue(forKey: nextToEmit) {
                    outcome(nextToEmit, ready)
                    nextToEmit += 1
                }
                startMore()
            }
        }
    }

    private func runInput(_ index: Int, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?) async -> Result<ByteBuffer, CallFailure> {
        let cancelled = state.withLockedValue { state -> Bool in
            if state.cancelled { return true }
            state.inFlight.insert(index)
            return false
        }
        if cancelled {
            return .failure(CallFailure(HoistError(.cancelled, "the map was cancelled before input \(index) started")))
        }
        defer { _ = state.withLockedValue { $0.inFlight.remove(index) } }
        do {
            let request = CallRequest(function: function, wantsOutput: wantsOutput, body: inputs[index])
            return .success(try await pool.call(request, timeout: timeout, key: MapWire.inputKey(key, index), calls: calls, caller: caller, output: output))
        } catch {
            return .failure(DaemonRoutes.callFailure(error))
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
