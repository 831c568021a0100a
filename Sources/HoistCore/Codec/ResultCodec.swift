import Foundation
import NIOCore

/// Encodes and decodes a function's result; `Void` travels as JSON `null`.
struct ResultCodec<Result: Sendable>: Sendable {
    let encode: @Sendable (Result) throws -> Data
    /// The same JSON, written into the buffer a worker sends: a large `String` result is copied
    /// once, straight from its storage.
    let encodeBuffer: @Sendable (Result) throws -> ByteBuffer
    let decode: @Sendable (Data) throws -> Result

    static var void: ResultCodec<Result> {
        ResultCodec(
            encode: { _ in Data("null".utf8) },
            encodeBuffer: { _ in ByteBuffer(string: "null") },
            decode: { _ in () as! Result }  // only built where Result == Void
        )
    }
}

extension ResultCodec where Result: Codable {
    static var codable: ResultCodec<Result> {
        // One implementation of the result's JSON: `encode` is `encodeBuffer`'s bytes, shared.
        let encodeBuffer: @Sendable (Result) throws -> ByteBuffer = { result in
            if Result.self == String.self {
                let text = unsafeBitCast(result, to: String.self)
                var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count + 2)
                if JSONString.encode(text, into: &buffer) { return buffer }
            }
            var buffer = ByteBuffer()
            if JSONScalars.encode(result, into: &buffer) { return buffer }
            return ByteBuffer(bytes: try JSONCoding.encoder.encode(result))
        }
        return ResultCodec(
            encode: { try encodeBuffer($0).dataView },
            encodeBuffer: encodeBuffer,
            decode: { data in
                if JSONScalars.supports(Result.self), let value = data.withUnsafeBytes({ JSONScalars.decode(Result.self, $0) }) { return value }
                do {
                    return try JSONCoding.decoder.decode(Result.self, from: data)
                } catch {
                    throw HoistError(
                        .badResponse,
                        "the result could not be decoded as \(Result.self): \(ArgumentCodec.describe(error))"
                    )
                }
            }
        )
    }
}

/// Shared coders. JSONEncoder and JSONDecoder are thread-safe for encode and decode calls.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()
    static let decoder = JSONDecoder()
}
