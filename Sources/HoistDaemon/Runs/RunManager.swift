import Crypto
import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

/// The daemon's runs: starts them, records their progress and output, and answers for them
/// after they finish — also after a restart, when runs that were in flight are marked
/// interrupted rather than left running forever.
final class RunManager: Sendable {
    private struct State {
        var records: [String: RunRecord] = [:]
        var inFlight: [String: Task<RunRecord, Never>] = [:]
    }
    private let store: RunStore
    private let state = NIOLockedValueBox(State())
    static let outputLimit = 1 << 20
    /// Finished runs kept at most (`HOIST_RUN_RETENTION_COUNT`, default 10,000) and for at most
    /// this long (`HOIST_RUN_RETENTION_SECONDS`, default 30 days); older ones are pruned as runs finish.
    let retentionCount: Int
    let retentionSeconds: Double

    init(home: HoistHome) throws {
        let environment = ProcessInfo.processInfo.environment
        retentionCount = environment["HOIST_RUN_RETENTION_COUNT"].flatMap(Int.init).map { max(0, $0) } ?? 10_000
        retentionSeconds = environment["HOIST_RUN_RETENTION_SECONDS"].flatMap(Double.init).map { max(0, $0) } ?? 30 * 86_400
        store = RunStore(home: home)
        try store.prepare()
        var records: [String: RunRecord] = [:]
        for var record in store.loadAll() {
            if !record.status.isFinished {
                record.status = .interrupted
                record.finishedAt = Date().timeIntervalSince1970
                record.failure = CallFailure(kind: HoistError.Code.interrupted.description, message: "the daemon stopped while run '\(record.key)' was \(record.status == .queued ? "queued" : "running")")
                store.save(record)
            }
            records[record.key] = record
        }
        state.withLockedValue { $0.records = records }
        _ = prune(olderThan: retentionSeconds, keep: retentionCount)
    }

    /// A readable key that sorts by time: `add-20261130-101500-3fa9c1`.
    static func makeKey(function: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(function)-\(formatter.string(from: Date()))-\(suffix)"
    }

    /// Starts a run, or — with `getOrCall` — joins the one in flight under that key or returns
    /// the stored success.
    func start(
        key: String,
        app: String,
        function: String,
        body: ByteBuffer,
        getOrCall: Bool,
        execute: @escaping @Sendable (_ output: @escaping @Sendable (WorkerFrame.Kind, ByteBuffer) -> Void) async throws -> ByteBuffer
    ) throws -> Task<RunRecord, Never> {
        var hasher = SHA256()
        hasher.update(data: Data(body.readableBytesView))
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let now = Date().timeIntervalSince1970
        let outcome: Result<Task<RunRecord, Never>, HoistError> = state.withLockedValue { state in
            if let running = state.inFlight[key] {
                if getOrCall { return .success(running) }
                return .failure(HoistError(.runExists, "run '\(key)' is in flight; wait for it (`hoist run \(key) --wait`) or use another name"))
            }
            if let existing = state.records[key] {
                if getOrCall && existing.status == .succeeded {
                    return .success(Task { existing })
                }
                if !getOrCall {
                    return .failure(HoistError(.runExists, "a run named '\(key)' exists (\(existing.status.rawValue)); use another name, or get-or-call to reuse it"))
                }
                if getOrCall && (existing.app != app || existing.function != function) {
                    return .failure(HoistError(.runExists, "run '\(key)' belongs to \(existing.app)/\(existing.function), not \(app)/\(function)"))
                }
            }
            let record = RunRecord(key: key, app: app, function: function, status: .queued, argumentsDigest: digest, createdAt: now)
            state.records[key] = record
            let task = Task { await self.execute(key: key, execute: execute) }
            state.inFlight[key] = task
            return .success(task)
        }
        return try outcome.get()
    }

    private func execute(key: String, execute: @escaping @Sendable (_ output: @escaping @Sendable (WorkerFrame.Kind, ByteBuffer) -> Void) async throws -> ByteBuffer) async -> RunRecord {
        update(key) {
            $0.status = .running
            $0.startedAt = Date().timeIntervalSince1970
        }
        // A streaming function's elements become the run's result: a JSON array.
        let items = NIOLockedValueBox<[String]?>(nil)
        let output: @Sendable (WorkerFrame.Kind, ByteBuffer) -> Void = { kind, bytes in
            if kind == .item {
                items.withLockedValue { $0 = ($0 ?? []) + [String(buffer: bytes)] }
                return
            }
            self.state.withLockedValue { state in
                guard var record = state.records[key], record.output.utf8.count < Self.outputLimit else { return }
                record.output += String(buffer: bytes)
                state.records[key] = record
            }
        }
        let final: RunRecord
        do {
            let result = try await execute(output)
            let elements = items.withLockedValue { $0 }
            final = update(key) {
                $0.status = .succeeded
                $0.result = elements.map { "[" + $0.joined(separator: ",") + "]" } ?? String(buffer: result)
                $0.finishedAt = Date().timeIntervalSince1970
            }
        } catch {
            let failure = DaemonRoutes.callFailure(error)
            final = update(key) {
                switch failure.kind {
                case HoistError.Code.timedOut.description: $0.status = .timedOut
                case HoistError.Code.cancelled.description: $0.status = .cancelled
                default: $0.status = .failed
                }
                $0.failure = failure
                $0.finishedAt = Date().timeIntervalSince1970
            }
        }
        _ = state.withLockedValue { $0.inFlight.removeValue(forKey: key) }
        _ = prune(olderThan: retentionSeconds, keep: retentionCount)
        return final
    }

    @discardableResult
    private func update(_ key: String, _ change: (inout RunRecord) -> Void) -> RunRecord {
        let record = state.withLockedValue { state -> RunRecord? in
            guard var record = state.records[key] else { return nil }
            change(&record)
            state.records[key] = record
            return record
        }
        guard let record else { preconditionFailure("run \(key) vanished") }
        store.save(record)
        return record
    }

    func record(_ key: String) throws -> RunRecord {
        guard let record = state.withLockedValue({ $0.records[key] }) else {
            throw HoistError(.unknownRun, "no run with key '\(key)'; `hoist runs` lists them")
        }
        return record
    }

    /// The record once the run has finished, or as it stands after `timeout` seconds.
    func wait(_ key: String, timeout: Double) async throws -> RunRecord {
        let task = state.withLockedValue { $0.inFlight[key] }
        guard let task else { return try record(key) }
        let finished = await withTaskGroup(of: RunRecord?.self) { group in
            group.addTask { await task.value }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        // Still running at the deadline: the record as it stands (unknownRun if it was pruned).
        return try finished ?? record(key)
    }

    /// Whether the run is in flight (so that it can be cancelled); a clear error otherwise.
    func checkCancellable(_ key: String) throws {
        let record = try record(key)
        if record.status.isFinished {
            throw HoistError(.runFinished, "run '\(key)' has already finished (\(record.status.rawValue)); there is nothing to cancel")
        }
    }

    func list(app: String?, limit: Int) -> [RunRecord] {
        let all = state.withLockedValue { Array($0.records.values) }
        return Array(all.filter { app == nil || $0.app == app }.sorted { $0.createdAt > $1.createdAt }.prefix(limit))
    }

    /// Removes finished runs older than `olderThan` seconds and all but the newest `keep`.
    func prune(olderThan: Double?, keep: Int?) -> Int {
        let now = Date().timeIntervalSince1970
        let removed: [String] = state.withLockedValue { state in
            let finished = state.records.values.filter { $0.status.isFinished }.sorted { $0.createdAt > $1.createdAt }
            var remove: [String] = []
            for (index, record) in finished.enumerated() {
                let tooOld = olderThan.map { now - record.createdAt > $0 } ?? false
                let overCount = keep.map { index >= $0 } ?? false
                if tooOld || overCount { remove.append(record.key) }
            }
            for key in remove { state.records.removeValue(forKey: key) }
            return remove
        }
        removed.forEach(store.remove)
        return removed.count
    }
}
