import HoistCore
import NIOConcurrencyHelpers

/// Workers the daemon started and is waiting to hear from, by the token each was given.
/// A connection that presents an unknown token is closed: only our own children get in.
final class WorkerRegistry: Sendable {
    private struct Entry {
        let worker: Worker
        let pool: WorkerPool
    }
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    init() {}

    func add(_ worker: Worker, pool: WorkerPool) {
        entries.withLockedValue { $0[worker.token] = Entry(worker: worker, pool: pool) }
    }

    func remove(_ worker: Worker) {
        _ = entries.withLockedValue { $0.removeValue(forKey: worker.token) }
    }

    func lookup(token: String) -> (Worker, WorkerPool)? {
        entries.withLockedValue { $0[token].map { ($0.worker, $0.pool) } }
    }
}
