import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// How a streamed invocation ended badly (`InvokeComplete` with an `ErrorCode`), or an
/// exception event in the stream.
public struct LambdaStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `ErrorCode`: `Unhandled`, `Sandbox.Timedout`, or an exception's name.
    public let errorCode: String
    /// `ErrorDetails`: the function's error document as text.
    public let errorDetails: String
    /// The decoded log tail, if the invocation asked for it.
    public let logTail: String?

    public var description: String { "the streamed invocation failed: \(errorCode): \(errorDetails)" }
}

extension LambdaAPI {
    /// `InvokeWithResponseStream`: the function's output as it is written, piece by piece. The
    /// stream finishes after `InvokeComplete`, throwing ``LambdaStreamError`` when that carries
    /// an `ErrorCode` — after the pieces sent before the error. Sent once, like ``invoke(_:payload:type:logTail:functionTimeout:)``.
    ///
    /// ```swift
    /// for try await piece in try await lambda.invokeWithResponseStream("countTo", payload: Array("[3,0]".utf8)) {
    ///     print(String(decoding: piece, as: UTF8.self), terminator: "")
    /// }
    /// ```
    public func invokeWithResponseStream(_ name: String, payload: [UInt8], logTail: Bool = false,
                                         functionTimeout: Duration = .seconds(900)) async throws -> AsyncThrowingStream<[UInt8], any Error> {
        var headers: HTTPHeaders = ["X-Amz-Invocation-Type": InvocationType.requestResponse.rawValue]
        if logTail { headers.add(name: "X-Amz-Log-Type", value: "Tail") }
        let request = self.request(.POST, "/2021-11-15/functions/\(name)/response-streaming-invocations", body: payload,
                                   headers: headers, timeout: functionTimeout + invokeMargin)
        let response = try await client.open(request)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var decoder = AWSEventStreamDecoder()
                    var completed = false
                    for try await buffer in response.body {
                        for message in try decoder.feed(buffer.readableBytesView) {
                            if let error = try Self.handle(message, continuation: continuation) {
                                continuation.finish(throwing: error)
                                return
                            }
                            if message.headers[":event-type"] == "InvokeComplete" { completed = true }
                        }
                    }
                    if !completed || decoder.hasPartialMessage {
                        throw AWSEventStreamDecoder.Malformed(description: "event stream: the answer ended before InvokeComplete")
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Yields a chunk; returns the error an `InvokeComplete` or exception carries.
    private static func handle(_ message: AWSEventStreamMessage, continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation) throws -> (any Error)? {
        if message.headers[":message-type"] == "exception" || message.headers[":message-type"] == "error" {
            let code = message.headers[":exception-type"] ?? message.headers[":error-code"] ?? "StreamError"
            return LambdaStreamError(errorCode: code, errorDetails: message.headers[":error-message"] ?? String(decoding: message.payload, as: UTF8.self), logTail: nil)
        }
        switch message.headers[":event-type"] {
        case "PayloadChunk":
            continuation.yield(message.payload)
        case "InvokeComplete":
            struct Complete: Decodable {
                var ErrorCode: String?
                var ErrorDetails: String?
                var LogResult: String?
            }
            let complete = try JSONDecoder().decode(Complete.self, from: Data(message.payload))
            if let code = complete.ErrorCode, !code.isEmpty {
                let tail = complete.LogResult.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
                return LambdaStreamError(errorCode: code, errorDetails: complete.ErrorDetails ?? "", logTail: tail)
            }
        default:
            break  // events added later are skipped, as the SDKs do
        }
        return nil
    }
}
