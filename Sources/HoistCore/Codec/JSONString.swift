import Foundation

/// A `String`'s JSON and back without Foundation's coders, for text that needs no escapes — the
/// common large payload. Foundation's coders take about 3 ns a byte here (0.2 s to encode a
/// 64 MB string); a scan and one copy take a fraction of that. Anything else (quotes,
/// backslashes, control characters) goes to the coders as before.
package enum JSONString {
    /// The JSON text of `string`, or `nil` when it holds a character JSON must escape.
    package static func encode(_ string: String) -> Data? {
        var string = string
        return string.withUTF8 { bytes -> Data? in
            guard !needsEscape(UnsafeRawBufferPointer(bytes)) else { return nil }
            var data = Data(count: bytes.count + 2)
            data.withUnsafeMutableBytes { out in
                out[0] = 0x22
                out[bytes.count + 1] = 0x22
                if let base = bytes.baseAddress { (out.baseAddress! + 1).copyMemory(from: base, byteCount: bytes.count) }
            }
            return data
        }
    }

    /// The string a JSON string literal without escapes holds, or `nil` for any other JSON
    /// (escapes, another type, invalid UTF-8): the caller then decodes it as before.
    package static func decode(_ data: Data) -> String? {
        guard data.count >= 2, data.first == 0x22, data.last == 0x22 else { return nil }
        return data.withUnsafeBytes { raw -> String? in
            let inner = UnsafeRawBufferPointer(rebasing: raw[1..<(raw.count - 1)])
            guard !needsEscape(inner) else { return nil }
            return String(validating: inner, as: UTF8.self)
        }
    }

    /// Whether any byte is a quote, a backslash or a control character.
    private static func needsEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var found = false
        for byte in bytes {
            // One branch-free test a byte, so the loop vectorizes.
            found = found || (byte == 0x22) || (byte == 0x5C) || (byte < 0x20)
        }
        return found
    }
}
