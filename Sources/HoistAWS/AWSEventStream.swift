import Foundation
import HoistCore

/// One message of AWS's event-stream framing (`application/vnd.amazon.eventstream`).
struct AWSEventStreamMessage: Sendable, Equatable {
    /// String-valued headers (`:event-type`, `:message-type`, `:content-type`…); headers of
    /// other types are skipped.
    var headers: [String: String]
    var payload: [UInt8]
}

/// Reads event-stream messages from bytes that arrive in pieces: each message is a 12-byte
/// prelude (total length, headers length, CRC32 of those 8 bytes), the headers, the payload and
/// a CRC32 of everything before it. Both checksums are checked: a corrupt stream is an error,
/// never a wrong payload.
struct AWSEventStreamDecoder {
    private var buffer: [UInt8] = []
    /// Messages larger than this are refused (AWS's limit is 16 MB).
    static let maxMessageBytes = 16 << 20

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Adds bytes and returns the messages now complete.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [AWSEventStreamMessage] {
        buffer.append(contentsOf: bytes)
        var messages: [AWSEventStreamMessage] = []
        while buffer.count >= 12 {
            let total = Int(Self.uint32(buffer, 0))
            let headersLength = Int(Self.uint32(buffer, 4))
            guard Self.uint32(buffer, 8) == Self.crc32(buffer[0..<8]) else { throw Malformed(description: "event stream: prelude CRC mismatch") }
            guard total >= 16 + headersLength, total <= Self.maxMessageBytes else { throw Malformed(description: "event stream: bad message length \(total)") }
            guard buffer.count >= total else { break }
            guard Self.uint32(buffer, total - 4) == Self.crc32(buffer[0..<(total - 4)]) else { throw Malformed(description: "event stream: message CRC mismatch") }
            let headers = try Self.headers(buffer[12..<(12 + headersLength)])
            messages.append(AWSEventStreamMessage(headers: headers, payload: Array(buffer[(12 + headersLength)..<(total - 4)])))
            buffer.removeFirst(total)
        }
        return messages
    }

    /// Whether bytes of an unfinished message are left.
    var hasPartialMessage: Bool { !buffer.isEmpty }

    private static func headers(_ bytes: ArraySlice<UInt8>) throws -> [String: String] {
        var headers: [String: String] = [:]
        var index = bytes.startIndex
        func need(_ count: Int) throws {
            guard bytes.endIndex - index >= count else { throw Malformed(description: "event stream: truncated header") }
        }
        while index < bytes.endIndex {
            try need(1)
            let nameLength = Int(bytes[index])
            index += 1
            try need(nameLength + 1)
            let name = String(decoding: bytes[index..<(index + nameLength)], as: UTF8.self)
            index += nameLength
            let type = bytes[index]
            index += 1
            // Sizes of the fixed-width types: true, false, byte, short, int, long, -, -, timestamp, uuid.
            let fixed: [UInt8: Int] = [0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16]
            if let size = fixed[type] {
                try need(size)
                index += size
            } else if type == 6 || type == 7 {  // bytes, string: a 16-bit length first
                try need(2)
                let length = Int(bytes[index]) << 8 | Int(bytes[index + 1])
                index += 2
                try need(length)
                if type == 7 { headers[name] = String(decoding: bytes[index..<(index + length)], as: UTF8.self) }
                index += length
            } else {
                throw Malformed(description: "event stream: unknown header type \(type)")
            }
        }
        return headers
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 { CRC32.checksum(bytes) }
}
