import NIOCore

/// The response format a caller asks for with `Accept: application/vnd.hoist.call-stream`:
/// the call's output while it runs, then its result or failure, as a sequence of records
/// (1-byte kind, 4-byte big-endian length, bytes). Plain HTTP callers get the result's JSON.
public enum CallStream {
    public static let mediaType = "application/vnd.hoist.call-stream"

    public enum Kind: UInt8, Sendable {
        case stdout = 0x6F  // "o"
        case stderr = 0x65  // "e"
        case result = 0x72  // "r"
        case item = 0x69  // "i"
        case failure = 0x78  // "x"
        /// One input's result in a map: a 4-byte big-endian input index, then the result's JSON.
        case mapResult = 0x52  // "R"
        /// One input's failure in a map: a 4-byte big-endian input index, then a ``CallFailure``'s JSON.
        case mapFailure = 0x58  // "X"
    }

    public struct Record: Sendable {
        public var kind: Kind
        public var bytes: ByteBuffer
        public init(kind: Kind, bytes: ByteBuffer) {
            self.kind = kind
            self.bytes = bytes
        }
    }

    public static func write(_ kind: Kind, _ bytes: ByteBuffer, into out: inout ByteBuffer) {
        out.writeInteger(kind.rawValue)
        out.writeInteger(UInt32(bytes.readableBytes))
        var bytes = bytes
        out.writeBuffer(&bytes)
    }

    /// Writes one map input's outcome record (``Kind/mapResult`` or ``Kind/mapFailure``).
    public static func write(_ kind: Kind, index: Int, _ bytes: ByteBuffer, into out: inout ByteBuffer) {
        out.writeInteger(kind.rawValue)
        out.writeInteger(UInt32(4 + bytes.readableBytes))
        out.writeInteger(UInt32(index))
        var bytes = bytes
        out.writeBuffer(&bytes)
    }

    /// Reassembles records from chunks as they arrive.
    public struct Parser: Sendable {
        private var pending: ByteBuffer

        public init() { pending = ByteBuffer() }

        public mutating func append(_ chunk: ByteBuffer) throws -> [Record] {
            var chunk = chunk
            pending.writeBuffer(&chunk)
            var records: [Record] = []
            while pending.readableBytes >= 5 {
                let rawKind = pending.getInteger(at: pending.readerIndex, as: UInt8.self)!
                let length = Int(pending.getInteger(at: pending.readerIndex + 1, as: UInt32.self)!)
                guard pending.readableBytes >= 5 + length else { break }
                guard let kind = Kind(rawValue: rawKind) else {
                    throw HoistError(.badResponse, "the daemon sent a call-stream record of unknown kind \(rawKind)")
                }
                pending.moveReaderIndex(forwardBy: 5)
                records.append(Record(kind: kind, bytes: pending.readSlice(length: length)!))
            }
            if pending.readableBytes == 0 { pending.clear() } else { pending.discardReadBytes() }
            return records
        }

        public var hasPartialRecord: Bool { pending.readableBytes > 0 }
    }
}
