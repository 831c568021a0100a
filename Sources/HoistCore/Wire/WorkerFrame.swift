import Foundation
import NIOCore

/// One message on the Unix-socket channel between the daemon and a worker.
///
/// On the wire: a 4-byte big-endian length of what follows, the kind (1 byte), the call id
/// (8 bytes), then the payload. Many calls are in flight on one channel; the call id ties
/// output and results to their call.
public struct WorkerFrame: Sendable {
    public enum Kind: UInt8, Sendable {
        /// Worker → daemon, first frame: JSON ``WorkerHello``. On the call socket, daemon → caller,
        /// first frame: ``SocketHello``.
        case hello = 1
        /// Daemon → worker: a ``CallRequest``.
        case call = 2
        /// Worker → daemon: the result's JSON.
        case result = 3
        /// Worker → daemon: JSON ``CallFailure``.
        case failure = 4
        /// Worker → daemon: bytes the function wrote to standard output during the call.
        case stdout = 5
        /// Worker → daemon: bytes the function wrote to standard error during the call.
        case stderr = 6
        /// Daemon → worker: finish the calls you have and exit.
        case shutdown = 7
        /// Daemon → worker: stop the call with this id (its deadline passed).
        case cancel = 8
        /// Worker → daemon: one element of a streaming function's result, as JSON.
        case item = 9
        /// Daemon → worker: a ``CallBatch``, many calls of one function in one frame. The frame's
        /// call id is the first call's; the others follow it. Each is answered as if it had come
        /// in a frame of its own, in order.
        case batch = 10
    }

    public var kind: Kind
    public var callID: UInt64
    public var payload: ByteBuffer
    /// Bytes that follow `payload` in the same frame, written as they are rather than copied in
    /// (a call's arguments after its header); the receiver sees them as the end of `payload`.
    public var tail: ByteBuffer?

    public init(kind: Kind, callID: UInt64, payload: ByteBuffer, tail: ByteBuffer? = nil) {
        self.kind = kind
        self.callID = callID
        self.payload = payload
        self.tail = tail
    }

    /// The largest frame accepted; it bounds memory on a corrupt stream.
    public static let maximumLength = 1 << 30
}

/// A call as sent to a worker: the function's name and the request body.
public struct CallRequest: Sendable {
    public var function: String
    /// Whether the caller wants the function's output; when not, output goes only to the app log.
    public var wantsOutput: Bool
    /// Whether the body is the raw bytes of the one argument, and whether the result is wanted
    /// as raw bytes (``RawBytes``).
    public var bytes: RawBytes
    public var body: ByteBuffer
    /// The body when the daemon holds it only until it is sent (``SentOnceBody``); `body` is
    /// then empty.
    package var sentOnce: SentOnceBody?
    /// The body is a ``RegionReference`` to the argument in the caller's shared memory; the
    /// worker answers with a ``RegionReference/Answer``.
    package var region = false

    public init(function: String, wantsOutput: Bool, bytes: RawBytes = [], body: ByteBuffer) {
        self.function = function
        self.wantsOutput = wantsOutput
        self.bytes = bytes
        self.body = body
    }

    public func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = header(allocator: allocator)
        var body = body
        buffer.writeBuffer(&body)
        return buffer
    }

    /// What precedes the body in a call frame; send the body as the frame's tail, uncopied.
    public func header(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 3 + function.utf8.count)
        buffer.writeInteger(UInt16(function.utf8.count))
        buffer.writeString(function)
        buffer.writeInteger(UInt8(wantsOutput ? 1 : 0) | bytes.rawValue | (region ? SocketCallHeader.regionFlag : 0))
        return buffer
    }

    public init(decoding buffer: ByteBuffer) throws {
        var buffer = buffer
        guard let length = buffer.readInteger(as: UInt16.self),
              let name = buffer.readString(length: Int(length)),
              let flags = buffer.readInteger(as: UInt8.self)
        else { throw HoistError(.badResponse, "a call frame is truncated") }
        self.function = name
        self.wantsOutput = flags & 1 != 0
        self.bytes = RawBytes(rawValue: flags).intersection([.argument, .result])
        self.body = buffer
        self.region = flags & SocketCallHeader.regionFlag != 0
    }
}

/// A large call body the daemon lets go of as soon as it is written to a worker that starts
/// the call at once, so that a large argument and its result are not both held: the worker,
/// not the daemon, has it then. Every copy of a ``CallRequest`` shares the one box.
package final class SentOnceBody: @unchecked Sendable {
    /// Bodies from this size on are held this way (smaller ones cost more in the box than they
    /// would in memory).
    package static let threshold = 256 << 10

    private let lock = NSLock()
    private var buffer: ByteBuffer?
    /// The body's size, kept for messages after it is gone.
    package let byteCount: Int

    package init(_ buffer: consuming ByteBuffer) {
        byteCount = buffer.readableBytes
        self.buffer = buffer
    }

    /// The body, left in the box (a worker busy with other calls may die before starting this
    /// one, which is then sent again elsewhere); `nil` once taken.
    package func peek() -> ByteBuffer? {
        lock.withLock { buffer }
    }

    /// The body, taken out of the box: nobody else holds it once the caller lets it go.
    package func take() -> ByteBuffer? {
        lock.withLock {
            defer { buffer = nil }
            return buffer
        }
    }

    package var wasTaken: Bool {
        lock.withLock { buffer == nil }
    }
}

/// Many calls of one function, as a map sends them to a worker: one frame instead of one a call.
public struct CallBatch: Sendable {
    public var function: String
    public var wantsOutput: Bool
    public var bodies: [ByteBuffer]

    public init(function: String, wantsOutput: Bool, bodies: [ByteBuffer]) {
        self.function = function
        self.wantsOutput = wantsOutput
        self.bodies = bodies
    }

    public func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 7 + function.utf8.count + bodies.reduce(0) { $0 + 4 + $1.readableBytes })
        buffer.writeInteger(UInt16(function.utf8.count))
        buffer.writeString(function)
        buffer.writeInteger(UInt8(wantsOutput ? 1 : 0))
        buffer.writeInteger(UInt32(bodies.count))
        for var body in bodies {
            buffer.writeInteger(UInt32(body.readableBytes))
            buffer.writeBuffer(&body)
        }
        return buffer
    }

    public init(decoding buffer: ByteBuffer) throws {
        var buffer = buffer
        guard let length = buffer.readInteger(as: UInt16.self),
              let name = buffer.readString(length: Int(length)),
              let flags = buffer.readInteger(as: UInt8.self),
              let count = buffer.readInteger(as: UInt32.self)
        else { throw HoistError(.badResponse, "a batch frame is truncated") }
        var bodies: [ByteBuffer] = []
        bodies.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let size = buffer.readInteger(as: UInt32.self), let body = buffer.readSlice(length: Int(size)) else {
                throw HoistError(.badResponse, "a batch frame is truncated")
            }
            bodies.append(body)
        }
        self.function = name
        self.wantsOutput = flags & 1 != 0
        self.bodies = bodies
    }
}

/// The first thing a worker says: who it is and what it serves.
public struct WorkerHello: Codable, Sendable {
    public var protocolVersion: Int
    public var token: String
    public var pid: Int32
    public var functions: [FunctionDescriptor]

    public init(protocolVersion: Int, token: String, pid: Int32, functions: [FunctionDescriptor]) {
        self.protocolVersion = protocolVersion
        self.token = token
        self.pid = pid
        self.functions = functions
    }
}

/// Splits the byte stream into ``WorkerFrame``s.
public struct WorkerFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = WorkerFrame

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.nextFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    /// The frame at the front of `buffer`, read off it, or `nil` until all of it has arrived.
    package static func nextFrame(from buffer: inout ByteBuffer) throws -> WorkerFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= 9, Int(length) <= WorkerFrame.maximumLength else {
            throw HoistError(.badResponse, "a worker channel frame has an invalid length \(length)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            // Room for the whole frame at once: a large one then arrives in one buffer instead of
            // one that doubles (and is copied) a dozen times on the way.
            if Int(length) > 1 << 16, buffer.writableBytes < 4 + Int(length) - buffer.readableBytes {
                buffer.reserveCapacity(minimumWritableBytes: 4 + Int(length) - buffer.readableBytes)
                buffer.adviseHugePages()
            }
            return nil
        }
        buffer.moveReaderIndex(forwardBy: 4)
        let rawKind = buffer.readInteger(as: UInt8.self)!
        let callID = buffer.readInteger(as: UInt64.self)!
        let payload = buffer.readSlice(length: Int(length) - 9)!
        guard let kind = WorkerFrame.Kind(rawValue: rawKind) else {
            throw HoistError(.badResponse, "a worker channel frame has an unknown kind \(rawKind)")
        }
        return WorkerFrame(kind: kind, callID: callID, payload: payload)
    }
}

/// Writes ``WorkerFrame``s as length-prefixed bytes. A large payload or tail is written as its
/// own buffer after the frame's head, not copied into one buffer with it.
public final class WorkerFrameWriter: ChannelOutboundHandler, Sendable {
    public typealias OutboundIn = WorkerFrame
    public typealias OutboundOut = ByteBuffer

    /// Below this, a part is copied after the head: one write beats two for small frames.
    static let copyBelow = 1 << 14

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        let tailBytes = frame.tail?.readableBytes ?? 0
        var head = context.channel.allocator.buffer(capacity: 13 + min(frame.payload.readableBytes, Self.copyBelow))
        head.writeInteger(UInt32(9 + frame.payload.readableBytes + tailBytes))
        head.writeInteger(frame.kind.rawValue)
        head.writeInteger(frame.callID)
        var parts: [ByteBuffer] = []
        for part in [frame.payload, frame.tail].compactMap({ $0 }) where part.readableBytes > 0 {
            if part.readableBytes < Self.copyBelow && parts.isEmpty {
                head.writeImmutableBuffer(part)
            } else {
                parts.append(part)
            }
        }
        guard !parts.isEmpty else {
            context.write(wrapOutboundOut(head), promise: promise)
            return
        }
        context.write(wrapOutboundOut(head), promise: nil)
        for (index, part) in parts.enumerated() {
            context.write(wrapOutboundOut(part), promise: index == parts.count - 1 ? promise : nil)
        }
    }
}
