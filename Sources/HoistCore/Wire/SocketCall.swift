import Foundation
import NIOCore

/// A call on the daemon's call socket (``HoistHome/callSocket``), where Hoist's own callers on
/// the daemon's machine send calls as ``WorkerFrame``s instead of HTTP requests: no HTTP to
/// write or parse on either side, and many calls in flight on one connection.
///
/// Caller → daemon: a `.call` frame with a call id of the caller's choosing (unique on its
/// connection), this header, then the body; `.cancel` with a call's id stops that call.
/// Daemon → caller, under the call's id: `.stdout`, `.stderr` and `.item` frames as they come,
/// then `.result` (the result's bytes: JSON, or raw bytes when asked for and the function returns
/// them) or `.failure` (JSON ``CallFailure``). A connection that closes cancels the calls on it
/// that carry a key.
///
/// On connecting, the daemon first sends a `.hello` frame: its machine's boot id and the
/// caller's pid as the daemon sees it. A caller that finds both its own shares memory with the
/// daemon's workers, and may send a large argument as a ``RegionReference`` (``region``).
package struct SocketCallHeader: Sendable, Equatable {
    package static let version: UInt8 = 1

    package var app: String
    package var function: String
    /// Whether the caller wants the function's output as it is printed.
    package var wantsOutput: Bool
    /// The same flags as ``RawBytes``: the body is raw bytes; the result is wanted as raw bytes.
    package var bytes: RawBytes
    /// ``CallTimeout/header``'s text, or `nil` for the function's default.
    package var timeout: String?
    /// ``CallKey/header``.
    package var key: String?
    /// ``RetryPolicy/header``'s text.
    package var retry: String?
    /// ``NestedCall/header``.
    package var caller: String?
    /// The body is a ``RegionReference`` to the argument in the caller's shared memory, and the
    /// result comes back as a ``RegionReference/Answer``.
    package var region = false

    /// The flag bit of ``region`` (beside those of `wantsOutput` and ``RawBytes``).
    package static let regionFlag: UInt8 = 1 << 3

    package init(app: String, function: String, wantsOutput: Bool, bytes: RawBytes = [], timeout: String? = nil, key: String? = nil, retry: String? = nil, caller: String? = nil) {
        self.app = app
        self.function = function
        self.wantsOutput = wantsOutput
        self.bytes = bytes
        self.timeout = timeout
        self.key = key
        self.retry = retry
        self.caller = caller
    }

    package func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        let texts = [app, function, timeout ?? "", key ?? "", retry ?? "", caller ?? ""]
        var buffer = allocator.buffer(capacity: 2 + texts.reduce(0) { $0 + 2 + $1.utf8.count })
        buffer.writeInteger(Self.version)
        buffer.writeInteger(UInt8(wantsOutput ? 1 : 0) | bytes.rawValue | (region ? Self.regionFlag : 0))
        for text in texts {
            buffer.writeInteger(UInt16(truncatingIfNeeded: text.utf8.count))
            buffer.writeString(text)
        }
        return buffer
    }

    /// Reads a header from the front of `buffer`, leaving the body.
    package init(decoding buffer: inout ByteBuffer) throws {
        guard let version = buffer.readInteger(as: UInt8.self), let flags = buffer.readInteger(as: UInt8.self) else {
            throw HoistError(.badArguments, "a call frame on the call socket is shorter than its header")
        }
        guard version == Self.version else {
            throw HoistError(.protocolMismatch, "a call frame of version \(version) reached a daemon that reads version \(Self.version); use a Hoist of the daemon's version, or call over HTTP")
        }
        var texts: [String] = []
        for _ in 0..<6 {
            guard let length = buffer.readInteger(as: UInt16.self), let text = buffer.readString(length: Int(length)) else {
                throw HoistError(.badArguments, "a call frame on the call socket is shorter than its header")
            }
            texts.append(text)
        }
        let optional = { (text: String) in text.isEmpty ? nil : text }
        self.init(
            app: texts[0], function: texts[1], wantsOutput: flags & 1 != 0,
            bytes: RawBytes(rawValue: flags).intersection([.argument, .result]),
            timeout: optional(texts[2]), key: optional(texts[3]), retry: optional(texts[4]), caller: optional(texts[5])
        )
        region = flags & Self.regionFlag != 0
    }
}

/// The call socket's first frame (``WorkerFrame/Kind/hello``, daemon → caller).
package struct SocketHello: Sendable, Equatable {
    /// `/proc/sys/kernel/random/boot_id`: the same on both ends only on one machine.
    package var bootID: String
    /// The caller's pid as the daemon sees it (`SO_PEERCRED`): the caller's own only in one pid namespace.
    package var callerPID: Int32

    package init(bootID: String, callerPID: Int32) {
        self.bootID = bootID
        self.callerPID = callerPID
    }

    /// This machine's boot id, or `nil` where the kernel does not say.
    package static let machineBootID: String? = {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    package func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(callerPID)
        buffer.writeString(bootID)
        return buffer
    }

    package init?(decoding buffer: ByteBuffer) {
        var buffer = buffer
        guard let pid = buffer.readInteger(as: Int32.self), let text = buffer.readString(length: buffer.readableBytes) else { return nil }
        self.init(bootID: text, callerPID: pid)
    }

    /// Whether a caller that got this hello shares the daemon's machine and pid namespace.
    package var sharesMemory: Bool {
        guard let own = Self.machineBootID, !bootID.isEmpty else { return false }
        return own == bootID && callerPID == getpid()
    }
}
