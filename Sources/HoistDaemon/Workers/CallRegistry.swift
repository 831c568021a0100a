import HoistCore
import NIOConcurrencyHelpers

/// Calls in flight that their callers named (`Hoist-Call-Id`), so that they can be cancelled
/// by key: `POST /_hoist/calls/{key}/cancel`.
final class CallRegistry: Sendable {
    private struct Entry {
        let worker: Worker
        let id: UInt64
    }
    private struct State {
        var entries: [String: Entry] = [:]
        /// Cancels that came before their call (a caller cancelled while its request was still
        /// on the way), kept for ``earlyCancelWindow`` so the call is cancelled when it arrives.
        var early: [String: ContinuousClock.Instant] = [:]
        /// Maps in flight, by key: cancelling one cancels each of its inputs.
        var batches: [String: @Sendable () -> Void] = [:]
        /// Calls waiting out a retry policy's pause, by key: cancelling one ends its pause.
        var pauses: [String: @Sendable () -> Void] = [:]
    }
    private let state = NIOLockedValueBox(State())
    static let earlyCancelWindow = Duration.seconds(5)

    init() {}

    func register(_ key: String, worker: Worker, id: UInt64) throws {
        enum Outcome { case registered, taken, cancelled }
        let outcome = state.withLockedValue { state -> Outcome in
            if let cancelled = state.early.removeValue(forKey: key), ContinuousClock.now - cancelled < Self.earlyCancelWindow {
                return .cancelled
            }
            if state.entries[key] != nil { return .taken }
            state.entries[key] = Entry(worker: worker, id: id)
            return .registered
        }
        switch outcome {
        case .registered: return
        case .taken:
            throw CallFailure(HoistError(.invalidConfiguration, "a call with id '\(key)' is already in flight; give each call its own \(CallKey.header)"))
        case .cancelled:
            throw CallFailure(HoistError(.cancelled, "the call '\(key)' was cancelled before it started"))
        }
    }

    /// Registers a map under `key`; `cancel` stops its inputs. Throws when the key is taken or
    /// was cancelled before the map arrived.
    func registerBatch(_ key: String, cancel: @escaping @Sendable () -> Void) throws {
        let outcome = state.withLockedValue { state -> Bool? in
            if let cancelled = state.early.removeValue(forKey: key), ContinuousClock.now - cancelled < Self.earlyCancelWindow {
                return nil
            }
            if state.batches[key] != nil || state.entries[key] != nil { return false }
            state.batches[key] = cancel
            return true
        }
        switch outcome {
        case true: return
        case false:
            throw CallFailure(HoistError(.invalidConfiguration, "a call with id '\(key)' is already in flight; give each call its own \(CallKey.header)"))
        default:
            throw CallFailure(HoistError(.cancelled, "the map '\(key)' was cancelled before it started"))
        }
    }

    /// Registers a call that waits out a retry pause under `key`: `cancel` ends the pause. A call
    /// between attempts has no worker, and a cancel then must not wait for the next attempt —
    /// the pause may outlast the memory of early cancels. Throws when the key was cancelled
    /// just before.
    func registerPause(_ key: String, cancel: @escaping @Sendable () -> Void) throws {
        let cancelled = state.withLockedValue { state -> Bool in
            if let cancelled = state.early.removeValue(forKey: key), ContinuousClock.now - cancelled < Self.earlyCancelWindow {
                return true
            }
            state.pauses[key] = cancel
            return false
        }
        if cancelled {
            throw CallFailure(HoistError(.cancelled, "the call '\(key)' was cancelled while it waited to be retried"))
        }
    }

    func unregisterPause(_ key: String) {
        _ = state.withLockedValue { $0.pauses.removeValue(forKey: key) }
    }

    func unregisterBatch(_ key: String) {
        _ = state.withLockedValue { $0.batches.removeValue(forKey: key) }
    }

    func unregister(_ key: String) {
        _ = state.withLockedValue { $0.entries.removeValue(forKey: key) }
    }

    /// Cancels the call with this key; false when no such call is in flight. The key is
    /// remembered for a few seconds in case its call is still on the way.
    func cancel(_ key: String) -> Bool {
        let (entry, stop) = state.withLockedValue { state -> (Entry?, (@Sendable () -> Void)?) in
            if let entry = state.entries[key] { return (entry, nil) }
            if let batch = state.batches[key] ?? state.pauses[key] { return (nil, batch) }
            let now = ContinuousClock.now
            if state.early.count >= 10_000 {
                state.early = state.early.filter { now - $0.value < Self.earlyCancelWindow }
            }
            if state.early.count < 10_000 { state.early[key] = now }
            return (nil, nil)
        }
        if let stop {
            stop()
            return true
        }
        guard let entry else { return false }
        return entry.worker.cancel(entry.id)
    }
}
