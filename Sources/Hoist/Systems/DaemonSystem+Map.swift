import Foundation
import HoistClient
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

extension DaemonSystem {
    /// The inputs in batches (``MapWire``): a daemon spreads each batch over its workers and
    /// streams the outcomes back, so a map costs a few requests rather than one per input.
    /// Batches go to the least busy daemon, two per daemon at a time so that one is on its way
    /// while the other finishes; a daemon that goes away mid-batch has the inputs it had not
    /// answered sent to another.
    func map(_ map: SystemMap, output: DaemonClient.OutputHandler?) async throws -> [Swift.Result<ByteBuffer, any Error>] {
        let count = map.inputs.count
        guard count > 0 else { return [] }
        let daemons = max(1, group.members.filter(\.up).count)
        let size = min(Self.largestBatch, max(1, (count + 2 * daemons - 1) / (2 * daemons)))
        let batches = stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
        let concurrent = min(batches.count, 2 * daemons, map.inFlight ?? .max)
        let window = map.inFlight.map { max(1, $0 / concurrent) }
        let outcomes = NIOLockedValueBox([Swift.Result<ByteBuffer, any Error>?](repeating: nil, count: count))
        let keys = NIOLockedValueBox(Set<String>())
        let group = self.group

        // Sends what is left of one batch until every input has its outcome.
        @Sendable func send(_ range: Range<Int>) async throws {
            let key = "map-" + UUID().uuidString
            keys.withLockedValue { _ = $0.insert(key) }
            defer { keys.withLockedValue { _ = $0.remove(key) } }
            // A cancel that came before the key was known could not cancel this batch on the
            // daemon: it must not be sent at all.
            try Task.checkCancellation()
            try await withConnectionRetries(map.retry ?? .none) {
                try await group.withMember { client in
                    // After a daemon went away: only the inputs it had not answered.
                    let left = outcomes.withLockedValue { outcomes in range.filter { outcomes[$0] == nil } }
                    guard !left.isEmpty else { return }
                    // A failure that stops the map travels as StopMap: the group must not take a
                    // failed input for a daemon that went away.
                    try await client.map(app: map.app, function: map.function, inputs: left.map { map.inputs[$0] }, deadline: map.deadline, key: key, retry: map.retry, inFlight: window, output: output) { position, outcome in
                        let index = left[position]
                        outcomes.withLockedValue { $0[index] = outcome }
                        if map.stopAtFirstFailure, case let .failure(error) = outcome { throw StopMap(error: error) }
                    }
                }
            }
        }

        do {
            try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    var next = 0
                    while next < concurrent {
                        let range = batches[next]
                        tasks.addTask { try await send(range) }
                        next += 1
                    }
                    while try await tasks.next() != nil {
                        if next < batches.count {
                            let range = batches[next]
                            tasks.addTask { try await send(range) }
                            next += 1
                        }
                    }
                }
            } onCancel: {
                let inFlight = keys.withLockedValue { $0 }
                Task { for key in inFlight { await self.cancel(key) } }
            }
        } catch let stop as StopMap {
            // The rest of the map is not wanted: stop the batches still running.
            let inFlight = keys.withLockedValue { $0 }
            for key in inFlight { await cancel(key) }
            throw stop.error
        }
        return outcomes.withLockedValue { $0 }.enumerated().map { index, outcome in
            outcome ?? .failure(HoistError(.badResponse, "input \(index) of the map got no outcome"))
        }
    }

    /// The most inputs one request carries: beyond it, batches only hold results back longer.
    static let largestBatch = 8192
}

/// The first failure of a map that stops at one.
private struct StopMap: Error {
    let error: any Error
}
