import Foundation
import HoistCore
import NIOCore

/// AWS's event-stream framing (`application/vnd.amazon.eventstream`), as
/// `InvokeWithResponseStream` answers: each message is its total and header lengths, a CRC32 of
/// those, string headers, the payload, and a CRC32 of it all. boto3 reads it as
/// `PayloadChunk` and `InvokeComplete` events.
enum EventStream {
    static func message(eventType: String, contentType: String, payload: ByteBuffer) -> ByteBuffer {
        var headers = ByteBuffer()
        for (name, value) in [(":event-type", eventType), (":content-type", contentType), (":message-type", "event")] {
            headers.writeInteger(UInt8(name.utf8.count))
            headers.writeString(name)
            headers.writeInteger(UInt8(7))  // string
            headers.writeInteger(UInt16(value.utf8.count))
            headers.writeString(value)
        }
        let total = 12 + headers.readableBytes + payload.readableBytes + 4
        var message = ByteBuffer()
        message.writeInteger(UInt32(total))
        message.writeInteger(UInt32(headers.readableBytes))
        message.writeInteger(crc32(message.readableBytesView))
        var headers2 = headers
        message.writeBuffer(&headers2)
        var payload2 = payload
        message.writeBuffer(&payload2)
        message.writeInteger(crc32(message.readableBytesView))
        return message
    }

    static func chunk(_ bytes: ByteBuffer) -> ByteBuffer {
        message(eventType: "PayloadChunk", contentType: "application/octet-stream", payload: bytes)
    }

    /// The last event: how the invocation ended (an error's code and details) and its log tail.
    static func complete(errorCode: String?, errorDetails: String?, logResult: String?) -> ByteBuffer {
        var fields: [String: String] = [:]
        if let errorCode { fields["ErrorCode"] = errorCode }
        if let errorDetails { fields["ErrorDetails"] = errorDetails }
        if let logResult { fields["LogResult"] = logResult }
        let json = "{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(quoted($0.value))" }.joined(separator: ",") + "}"
        return message(eventType: "InvokeComplete", contentType: "application/json", payload: ByteBuffer(string: json))
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 { CRC32.checksum(bytes) }
}
