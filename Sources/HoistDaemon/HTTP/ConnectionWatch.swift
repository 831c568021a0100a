import NIOConcurrencyHelpers
import NIOCore

/// What to do when a caller's connection closes while its request still runs: a map's inputs
/// and a call are cancelled, so that a caller that hangs up (or dies) does not leave the workers
/// busy with work nobody will read. HTTP says nothing else when a caller goes away, and the daemon
/// would otherwise learn it only at its next write, which for a slow function is its end.
///
/// Each connection's channel has a ``ConnectionCloseHandler`` that reports its close here.
final class ConnectionWatch: Sendable {
    /// A watch, stopped when its request ends.
    struct Watch: Sendable {
        fileprivate let connection: ObjectIdentifier
        fileprivate let token: UInt64
    }

    private struct State {
        var nextToken: UInt64 = 0
        var watches: [ObjectIdentifier: [UInt64: @Sendable () -> Void]] = [:]
    }
    private let state = NIOLockedValueBox(State())

    init() {}

    /// Runs `onClose` if `channel` closes before ``stop(_:)``; at once when it is closed already.
    private func watch(_ channel: any Channel, onClose: @escaping @Sendable () -> Void) -> Watch {
        let connection = ObjectIdentifier(channel)
        let watch = state.withLockedValue { state -> Watch in
            state.nextToken += 1
            state.watches[connection, default: [:]][state.nextToken] = onClose
            return Watch(connection: connection, token: state.nextToken)
        }
        // A connection that closed before the watch began reported its close to nobody.
        if !channel.isActive, let late = take(watch) { late() }
        return watch
    }

    /// The request ended: its connection's close no longer concerns it.
    private func stop(_ watch: Watch) {
        _ = take(watch)
    }

    /// Runs `body`, and `onClose` if `channel` closes before `body` returns.
    func whileOpen<T>(_ channel: any Channel, onClose: @escaping @Sendable () -> Void, _ body: () async throws -> T) async rethrows -> T {
        let watch = watch(channel, onClose: onClose)
        defer { stop(watch) }
        return try await body()
    }

    /// Called by the connection's handler as it closes.
    func closed(_ channel: any Channel) {
        guard let callbacks = state.withLockedValue({ $0.watches.removeValue(forKey: ObjectIdentifier(channel)) }) else { return }
        for callback in callbacks.values { callback() }
    }

    /// Removes a watch; its callback when it was still there (whoever takes it runs it, once).
    private func take(_ watch: Watch) -> (@Sendable () -> Void)? {
        state.withLockedValue { state in
            let callback = state.watches[watch.connection]?.removeValue(forKey: watch.token)
            if state.watches[watch.connection]?.isEmpty == true { state.watches[watch.connection] = nil }
            return callback
        }
    }
}

/// Tells the ``ConnectionWatch`` when its caller hangs up: the connection closes, or its input
/// ends (the server allows half-closed connections, so a caller's close first shows as that).
///
/// Hummingbird adds its extra handlers behind the HTTP ones, and the HTTP pipelining handler holds
/// an input's end back until the response in progress has ended, which is too late here; so this
/// handler puts a ``HangUpDetector`` at the front of the pipeline, where the raw events pass, and
/// leaves.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let watch: ConnectionWatch

    init(watch: ConnectionWatch) {
        self.watch = watch
    }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(HangUpDetector(watch: watch), position: .first)
        // Its work is done: the connection's reads need not pass through it.
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// The front of a connection's pipeline: reports a hang-up to the ``ConnectionWatch`` and passes
/// everything on unchanged.
final class HangUpDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let watch: ConnectionWatch

    init(watch: ConnectionWatch) {
        self.watch = watch
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { watch.closed(context.channel) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch.closed(context.channel)
        context.fireChannelInactive()
    }
}
