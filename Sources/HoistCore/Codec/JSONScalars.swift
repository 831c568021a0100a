import NIOCore

/// `Int`, `Bool` and escape-free `String` values read from and written to JSON text without
/// Foundation's coders, which cost microseconds a value — the most of a small call's coding
/// (`add(1, 2)`: two arguments in, one result out). Anything else (other types, fractions,
/// exponents, escapes, malformed text) is left to the coders, which decide as before.
package enum JSONScalars {
    /// Whether values of `type` can take the fast path.
    package static func supports(_ type: Any.Type) -> Bool {
        type == Int.self || type == Bool.self || type == String.self
    }

    /// Writes `value`'s JSON and returns true when it is an `Int` or a `Bool`.
    package static func encode<T>(_ value: T, into buffer: inout ByteBuffer) -> Bool {
        if T.self == Int.self {
            // A small string: no allocation.
            buffer.writeString(String(unsafeBitCast(value, to: Int.self)))
            return true
        }
        if T.self == Bool.self {
            buffer.writeString(unsafeBitCast(value, to: Bool.self) ? "true" : "false")
            return true
        }
        return false
    }

    /// The value of the JSON text `bytes` (without surrounding whitespace) as a `T`, when `T` is
    /// `Int`, `Bool` or `String` and the text is a plain literal of it; `nil` otherwise.
    package static func decode<T>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer) -> T? {
        if T.self == Int.self {
            guard let value = int(bytes) else { return nil }
            return unsafeBitCast(value, to: T.self)
        }
        if T.self == Bool.self {
            if equals(bytes, "true") { return unsafeBitCast(true, to: T.self) }
            if equals(bytes, "false") { return unsafeBitCast(false, to: T.self) }
            return nil
        }
        if T.self == String.self {
            guard let text = JSONString.decode(bytes) else { return nil }
            return unsafeBitCast(text, to: T.self)
        }
        return nil
    }

    /// The elements of a JSON array whose elements are all numbers, `true`/`false` or strings
    /// without escapes, as ranges of `bytes` trimmed of whitespace; `nil` for any other text.
    package static func elements(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>]? {
        var index = 0
        let end = bytes.count
        func skipSpace() {
            while index < end, isSpace(bytes[index]) { index += 1 }
        }
        skipSpace()
        guard index < end, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        skipSpace()
        var ranges: [Range<Int>] = []
        if index < end, bytes[index] == UInt8(ascii: "]") {
            index += 1
            skipSpace()
            return index == end ? ranges : nil
        }
        while true {
            skipSpace()
            guard index < end else { return nil }
            let start = index
            if bytes[index] == 0x22 {
                index += 1
                while index < end, bytes[index] != 0x22 {
                    if bytes[index] == 0x5C { return nil }
                    index += 1
                }
                guard index < end else { return nil }
                index += 1
            } else {
                while index < end, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "]") {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") || byte == 0x22 { return nil }
                    index += 1
                }
                guard index > start else { return nil }
            }
            ranges.append(start..<index)
            skipSpace()
            guard index < end else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { return nil }
            index += 1
            skipSpace()
            return index == end ? ranges : nil
        }
    }

    /// A JSON integer literal (no fraction, no exponent, no leading zeros) that fits in `Int`.
    static func int(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        let digits = bytes.count - index
        guard digits > 0, digits <= 19 else { return nil }
        if digits > 1, bytes[index] == UInt8(ascii: "0") { return nil }
        var value = 0
        while index < bytes.count {
            let digit = Int(bytes[index]) - 48
            guard digit >= 0, digit <= 9 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            let (sum, overflowed) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflowed else { return nil }
            value = sum
            index += 1
        }
        return value
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let other = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        return bytes.elementsEqual(other)
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
