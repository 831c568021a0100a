import HoistCore
import NIOConcurrencyHelpers

/// Calls in flight that their callers named (`Hoist-Call-Id`), so that they can be cancelled
/// by key: `POST /_hoist/calls/{key}/cancel`.
final class CallRegistry: Sendable {
    private struct Entry {
        let worker: Worker
        let id: UInt64
    }
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    init() {}

    func register(_ key: String, worker: Worker, id: UInt64) throws {
        let taken = entries.withLockedValue { entries -> Bool in
            if entries[key] != nil { return true }
            entries[key] = Entry(worker: worker, id: id)
            return false
        }
        if taken {
            throw CallFailure(HoistError(.invalidConfiguration, "a call with id '\(key)' is already in flight; give each call its own \(CallKey.header)"))
        }
    }

    func unregister(_ key: String) {
        _ = entries.withLockedValue { $0.removeValue(forKey: key) }
    }

    /// Cancels the call with this key; false when no such call is in flight.
    func cancel(_ key: String) -> Bool {
        guard let entry = entries.withLockedValue({ $0[key] }) else { return false }
        return entry.worker.cancel(entry.id)
    }
}
