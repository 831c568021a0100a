import Foundation
import HoistClient
import HoistCore
import NIOCore

/// A ``StreamingFunction`` deployed to a system: calling it returns its elements as they are
/// produced there.
///
/// ```swift
/// let remote = try await countdown.to(.local)
/// for try await n in try await remote(3) { print(n) }
/// ```
///
/// An error the function throws after some elements ends the stream with that error, after
/// those elements. Ending the iteration early cancels the call on the system.
public struct RemoteStreamingFunction<each Arg: Codable & Sendable, Element: Codable & Sendable>: Sendable {
    public let function: StreamingFunction<repeat each Arg, Element>
    let target: RemoteTarget

    init(function: StreamingFunction<repeat each Arg, Element>, target: RemoteTarget) {
        self.function = function
        self.target = target
    }

    /// The function's HTTP endpoint; plain callers receive newline-delimited JSON. It needs the
    /// daemon's token as ``RemoteFunction/endpoint`` does (or the daemon's private socket).
    public var endpoint: URL {
        target.backend.endpoint(app: target.app, function: target.functionName)
    }

    /// Starts the function on the system and returns its elements as they arrive.
    public func callAsFunction(_ args: repeat each Arg) async throws -> AsyncThrowingStream<Element, any Error> {
        let body = try function.encodeArgumentsBuffer(repeat each args)
        return stream(body: body)
    }

    /// The same function with its printed output left on the system.
    public func quiet(_ quiet: Bool = true) -> Self {
        Self(function: function, target: target.with { $0.streamsOutput = !quiet })
    }

    private func stream(body: ByteBuffer) -> AsyncThrowingStream<Element, any Error> {
        let target = self.target
        let function = self.function
        return AsyncThrowingStream { continuation in
            let key = CallKey.unique()
            let task = Task {
                let printer = target.streamsOutput ? OutputPrinter(function: target.functionName) : nil
                do {
                    let call = SystemCall(app: target.app, function: target.functionName, body: body, deadline: try target.callTimeout.map(CallTimeout.validate), key: key, retry: nil, spread: false, streaming: true)
                    _ = try await withTaskCancellationHandler {
                        try await target.backend.call(call) { kind, bytes in
                            if kind == .item {
                                do {
                                    continuation.yield(try function.decodeElement(bytes.dataView))
                                } catch {
                                    continuation.finish(throwing: HoistError(.badResponse, "an element of '\(target.functionName)' could not be decoded as \(Element.self): \(error)"))
                                }
                            } else {
                                printer?.write(kind, bytes)
                            }
                        }
                    } onCancel: {
                        Task { await target.backend.cancel(key) }
                    }
                    printer?.flush()
                    continuation.finish()
                } catch {
                    printer?.flush()
                    continuation.finish(throwing: Task.isCancelled ? CancellationError() : error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension StreamingFunction {
    /// Deploys the app this function belongs to onto `system` and returns the function bound there.
    public func to(_ system: System, env: Env = .default) async throws -> RemoteStreamingFunction<repeat each Arg, Element> {
        RemoteStreamingFunction(function: self, target: try await RemoteTarget.deploy(function: name, to: system, env: env))
    }
}
