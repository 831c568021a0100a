import Foundation
import NIOCore

/// A function that produces a sequence of values over time; callers receive each element as
/// soon as it is produced.
///
/// ```swift
/// let countdown = StreamingFunction("countdown", parameters: "from") { (from: Int) in
///     AsyncStream { continuation in
///         for i in stride(from: from, through: 0, by: -1) { continuation.yield(i) }
///         continuation.finish()
///     }
/// }
/// for try await n in try await countdown.to(.local)(3) { print(n) }   // 3 2 1 0
/// ```
///
/// Over HTTP the elements arrive as newline-delimited JSON; an error after some elements
/// arrives as a last line `{"error": {…}}`.
public struct StreamingFunction<each Arg: Codable & Sendable, Element: Codable & Sendable>: HoistFunction {
    public let name: String
    public let descriptor: FunctionDescriptor
    let body: @Sendable (repeat each Arg) async throws -> AsyncThrowingStream<Element, any Error>

    /// Declares a streaming function whose body returns any `AsyncSequence` of `Codable` elements.
    public init<S: AsyncSequence & Sendable>(
        _ name: String,
        parameters: String...,
        timeout: Duration? = nil,
        body: @escaping @Sendable (repeat each Arg) async throws -> S
    ) where S.Element == Element {
        self.name = name
        self.body = { (args: repeat each Arg) in
            let sequence = try await body(repeat each args)
            return AsyncThrowingStream { continuation in
                let task = Task {
                    do {
                        for try await element in sequence { continuation.yield(element) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
        var types: [String] = []
        for type in repeat (each Arg).self { types.append(String(describing: type)) }
        var descriptor = FunctionDescriptor(
            name: name,
            parameterNames: parameters,
            types: types,
            result: "AsyncSequence<\(String(describing: Element.self))>",
            timeout: timeout
        )
        descriptor.streams = true
        self.descriptor = descriptor
        if let problem = FunctionTable.problem(withName: name) {
            preconditionFailure("StreamingFunction(\"\(name)\"): \(problem)")
        }
    }

    /// Runs the function in this process.
    public func callAsFunction(_ args: repeat each Arg) async throws -> AsyncThrowingStream<Element, any Error> {
        try await body(repeat each args)
    }

    /// Runs the function and returns all its elements as a JSON array (for callers that want one value).
    public func invoke(json body: Data) async throws -> Data {
        var elements: [Data] = []
        try await stream(json: body) { elements.append($0) }
        return ArgumentCodec.jsonArray(elements)
    }

    public func stream(json body: Data, emit: (Data) async throws -> Void) async throws {
        let args = try ArgumentCodec.decode((repeat each Arg).self, from: body, descriptor: descriptor)
        for try await element in try await self.body(repeat each args) {
            try await emit(try JSONCoding.encoder.encode(element))
        }
    }

    public func encodeArguments(_ args: repeat each Arg) throws -> Data {
        try ArgumentCodec.encode(repeat each args)
    }

    /// ``encodeArguments(_:)`` into the buffer a call is sent in.
    package func encodeArgumentsBuffer(_ args: repeat each Arg) throws -> ByteBuffer {
        try ArgumentCodec.encodeBuffer(repeat each args)
    }

    public func decodeElement(_ data: Data) throws -> Element {
        try JSONCoding.decoder.decode(Element.self, from: data)
    }
}
