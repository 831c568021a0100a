import Foundation
import HoistCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// The daemons that serve one deployed app: one for the local daemon, one per host for a
/// cluster. Each call goes to the member with the fewest calls in flight; a member that stops
/// answering is set aside with a warning, its failed calls go to the others, and it is
/// reconnected in the background (a dropped tunnel, a restarted daemon) and used again.
///
/// ```swift
/// let group = DaemonGroup([.init(label: "a", client: a), .init(label: "b", client: b)])
/// let result = try await group.withMember { client in try await client.call(app: "demo", function: "add", body: body) }
/// ```
public final class DaemonGroup: Sendable {
    /// One daemon of the group.
    public struct Member: Sendable {
        /// How warnings name it, such as `ubuntu@10.1.2.3`.
        public var label: String
        public var client: DaemonClient
        /// Re-establishes the way to this daemon (a new tunnel, a restarted daemon) and returns
        /// a client for it; `nil` when there is nothing to re-establish.
        public var reconnect: (@Sendable () async throws -> DaemonClient)?

        public init(label: String, client: DaemonClient, reconnect: (@Sendable () async throws -> DaemonClient)? = nil) {
            self.label = label
            self.client = client
            self.reconnect = reconnect
        }
    }

    private struct State {
        var client: DaemonClient
        var inFlight = 0
        var up = true
        /// Calls served, for status output and tests.
        var served = 0
    }

    private final class Slot: Sendable {
        let label: String
        let reconnect: (@Sendable () async throws -> DaemonClient)?
        let state: NIOLockedValueBox<State>
        /// The reconnect under way, which concurrent callers wait for instead of starting another.
        let attempt = NIOLockedValueBox<Task<DaemonClient, any Error>?>(nil)

        init(_ member: Member) {
            label = member.label
            reconnect = member.reconnect
            state = NIOLockedValueBox(State(client: member.client))
        }
    }

    /// How long a member that dropped out is reconnected in the background before it is left out.
    public static let reconnectPatience = Duration.seconds(600)

    private let slots: [Slot]
    /// A single member with nothing to reconnect: calls go straight to it (the local daemon).
    private let direct: DaemonClient?
    /// Where warnings go; standard error by default.
    private let warn: @Sendable (String) -> Void

    public init(_ members: [Member], warn: @escaping @Sendable (String) -> Void = DaemonGroup.standardErrorWarning) {
        precondition(!members.isEmpty, "a daemon group needs a member")
        slots = members.map(Slot.init)
        direct = members.count == 1 && members[0].reconnect == nil ? members[0].client : nil
        self.warn = warn
    }

    public static let standardErrorWarning: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("hoist: warning: \(message)\n".utf8))
    }

    /// The member calls go to when there is no choice to make (runs, streams, the endpoint):
    /// the first one up.
    public var primary: DaemonClient {
        if let direct { return direct }
        for slot in slots {
            let state = slot.state.withLockedValue { $0 }
            if state.up { return state.client }
        }
        return slots[0].state.withLockedValue { $0.client }
    }

    /// Every member's current client with whether it is up and how many calls it served.
    public var members: [(label: String, client: DaemonClient, up: Bool, served: Int)] {
        slots.map { slot in
            let state = slot.state.withLockedValue { $0 }
            return (slot.label, state.client, state.up, state.served)
        }
    }

    /// Runs `body` with the least busy member that is up. When it fails because the daemon
    /// could not be reached or dropped the connection, the member is set aside and `body` runs
    /// again on another one; so a call in flight on a host that died runs again elsewhere.
    public func withMember<T: Sendable>(_ body: @Sendable (DaemonClient) async throws -> T) async throws -> T {
        if let direct { return try await body(direct) }
        var failures = 0
        while true {
            let (slot, client) = try await acquire()
            do {
                let value = try await body(client)
                slot.state.withLockedValue { $0.inFlight -= 1; $0.served += 1 }
                return value
            } catch let error as HoistError where error.code == .daemonUnavailable {
                slot.state.withLockedValue { $0.inFlight -= 1 }
                failures += 1
                // Each member gets a reconnect before the group gives up on a call.
                if failures > 2 * slots.count { throw error }
                setAside(slot, client: client, reason: error.message)
            } catch {
                slot.state.withLockedValue { $0.inFlight -= 1 }
                throw error
            }
        }
    }

    private func acquire() async throws -> (Slot, DaemonClient) {
        if let choice = leastBusy() { return choice }
        // Nobody is up: reconnect in turn, here, before failing the call.
        var reasons: [String] = []
        for slot in slots {
            do {
                try await recover(slot)
            } catch {
                reasons.append("\(slot.label): \(Self.describe(error))")
            }
        }
        if let choice = leastBusy() { return choice }
        throw HoistError(.daemonUnavailable, "no daemon of this system answers (\(reasons.joined(separator: "; "))); check the hosts and run again")
    }

    private func leastBusy() -> (Slot, DaemonClient)? {
        var best: (slot: Slot, inFlight: Int)?
        for slot in slots {
            let (up, inFlight) = slot.state.withLockedValue { ($0.up, $0.inFlight) }
            if up, best == nil || inFlight < best!.inFlight { best = (slot, inFlight) }
        }
        guard let slot = best?.slot else { return nil }
        let client = slot.state.withLockedValue { state -> DaemonClient in
            state.inFlight += 1
            return state.client
        }
        return (slot, client)
    }

    /// Marks a member down (once per failure of a given client) and starts its recovery.
    private func setAside(_ slot: Slot, client: DaemonClient, reason: String) {
        let wasUp = slot.state.withLockedValue { state -> Bool in
            // A failure on a client that was already replaced says nothing about the new one.
            guard state.client.baseURL == client.baseURL, state.up else { return false }
            state.up = false
            return true
        }
        guard wasUp else { return }
        if slots.count > 1 {
            warn("\(slot.label) stopped answering (\(reason)); its calls go to the other hosts while it is reconnected")
        }
        guard slot.reconnect != nil, slots.count > 1 else { return }
        Task { [self] in
            var pause = Duration.milliseconds(500)
            let giveUp = ContinuousClock.now + Self.reconnectPatience
            while true {
                do {
                    try await recover(slot)
                    warn("\(slot.label) is back")
                    return
                } catch {
                    guard ContinuousClock.now < giveUp else {
                        // Calls still try it (inline) should every other member fail too.
                        warn("\(slot.label) did not come back within \(Self.reconnectPatience) (\(Self.describe(error))); it stays out of rotation")
                        return
                    }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(30))
                }
            }
        }
    }

    /// Reconnects one member; concurrent callers share one attempt.
    private func recover(_ slot: Slot) async throws {
        guard let reconnect = slot.reconnect else {
            throw HoistError(.daemonUnavailable, "\(slot.label) does not answer")
        }
        if slot.state.withLockedValue({ $0.up }) { return }
        let task = slot.attempt.withLockedValue { current in
            if let current { return current }
            let task = Task { try await reconnect() }
            current = task
            return task
        }
        defer { slot.attempt.withLockedValue { if $0 == task { $0 = nil } } }
        let client = try await task.value
        slot.state.withLockedValue { state in
            state.client = client
            state.up = true
        }
    }

    private static func describe(_ error: any Error) -> String {
        (error as? HoistError)?.message ?? "\(error)"
    }
}
