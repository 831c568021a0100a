import Foundation
import NIOCore

/// Which of a call's payloads travel as raw bytes instead of JSON. A function whose one
/// argument is `Data` or `[UInt8]` can take its argument as the body itself, with
/// `Content-Type: application/octet-stream`; one that returns `Data` or `[UInt8]` answers
/// with the bytes themselves when the request's `Accept` names `application/octet-stream`.
/// Anything else is JSON, where `Data` is a base64 string and `[UInt8]` an array of numbers.
///
/// ```sh
/// curl --unix-socket ~/.hoist/daemon.sock --data-binary @photo.jpg \
///      -H 'Content-Type: application/octet-stream' -H 'Accept: application/octet-stream' \
///      http://localhost/demo/thumbnail > thumbnail.jpg
/// ```
public struct RawBytes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The body is the raw bytes of the function's one argument.
    public static let argument = RawBytes(rawValue: 1 << 1)
    /// The result is wanted as its raw bytes.
    public static let result = RawBytes(rawValue: 1 << 2)

    /// The media type of a raw payload.
    public static let mediaType = "application/octet-stream"

    /// Swift types (as ``FunctionDescriptor`` spells them) that may travel as raw bytes.
    public static let types: Set<String> = ["Data", "Array<UInt8>"]

    /// What a function with this signature can send as raw bytes: its one argument, its result.
    public static func supported(by descriptor: FunctionDescriptor) -> RawBytes {
        guard descriptor.streams != true else { return [] }
        var bytes: RawBytes = []
        if descriptor.parameters.count == 1, types.contains(descriptor.parameters[0].type) { bytes.insert(.argument) }
        if types.contains(descriptor.result) { bytes.insert(.result) }
        return bytes
    }

    /// A `Data` or `[UInt8]` value's bytes in a buffer; `nil` for any other value.
    package static func encode(_ value: some Any) -> ByteBuffer? {
        if let data = value as? Data { return filled(count: data.count) { $0.writeBytes(data) } }
        if let bytes = value as? [UInt8] { return filled(count: bytes.count) { $0.writeBytes(bytes) } }
        return nil
    }

    private static func filled(count: Int, _ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.adviseHugePages()
        write(&buffer)
        return buffer
    }

    /// `bytes` as a value of type `T` when `T` is `Data` (sharing the buffer's storage) or
    /// `[UInt8]`; `nil` for any other type.
    package static func decode<T>(_ bytes: ByteBuffer, as type: T.Type) -> T? {
        if T.self == Data.self { return bytes.dataView as? T }
        if T.self == [UInt8].self { return Array(bytes.readableBytesView) as? T }
        return nil
    }
}
