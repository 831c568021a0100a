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

    func unregister(_ key: String) {
        _ = state.withLockedValue { $0.entries.removeValue(forKey: key) }
    }

    /// Cancels the call with this key; false when no such call is in flight. The key is
    /// remembered for a few seconds in case its call is still on the way.
    func cancel(_ key: String) -> Bool {
        let entry = state.withLockedValue { state -> Entry? in
            if let entry = state.entries[key] { return entry }
            let now = ContinuousClock.now
            if state.early.count >= 10_000 {
                state.early = state.early.filter { now - $0.value < Self.earlyCancelWindow }
            }
            if state.early.count < 10_000 { state.early[key] = now }
            return nil
        }
        guard let entry else { return false }
        return entry.worker.cancel(entry.id)
    }
}
