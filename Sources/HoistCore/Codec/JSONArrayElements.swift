import NIOCore

/// Splits a JSON array into its elements' bytes without decoding them: a map's inputs reach the
/// workers exactly as their caller wrote them, and the daemon never builds a value tree.
package enum JSONArrayElements {
    /// The elements of the JSON array in `buffer`, as slices of it (no copies), each trimmed of
    /// the whitespace around it. Throws ``HoistError/Code/badArguments`` saying where, for
    /// anything but one complete array: elements are checked for balance and string syntax
    /// only, and the worker reports an element that is not valid JSON like any bad call.
    package static func split(_ buffer: ByteBuffer) throws -> [ByteBuffer] {
        let bytes = buffer.readableBytesView
        let base = bytes.startIndex
        var index = base
        let end = bytes.endIndex

        func skipSpace() {
            while index < end, isSpace(bytes[index]) { index += 1 }
        }
        func fail(_ what: String) -> HoistError {
            HoistError(.badArguments, "the body of a map must be a JSON array of inputs, each what a call of the function takes (`[[1,2],[3,4]]` for two arguments, `[1,2,3]` for one): \(what) at byte \(index - base)")
        }

        skipSpace()
        guard index < end, bytes[index] == UInt8(ascii: "[") else { throw fail("expected '['") }
        index += 1
        var elements: [ByteBuffer] = []
        skipSpace()
        if index < end, bytes[index] == UInt8(ascii: "]") {
            index += 1
            skipSpace()
            guard index == end else { throw fail("unexpected bytes after the array") }
            return []
        }
        while true {
            skipSpace()
            let start = index
            var depth = 0
            // One element: up to the comma or bracket that closes it at depth zero.
            scan: while index < end {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    while index < end, bytes[index] != UInt8(ascii: "\"") {
                        if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                        index += 1
                    }
                    guard index < end else { throw fail("an unterminated string") }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if depth == 0 { break scan }
                    depth -= 1
                case UInt8(ascii: ","):
                    if depth == 0 { break scan }
                default:
                    break
                }
                index += 1
            }
            guard index < end else { throw fail("the array is not closed") }
            var last = index
            while last > start, isSpace(bytes[last - 1]) { last -= 1 }
            guard last > start else { throw fail("an empty element") }
            elements.append(buffer.getSlice(at: buffer.readerIndex + (start - base), length: last - start)!)
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                skipSpace()
                guard index == end else { throw fail("unexpected bytes after the array") }
                return elements
            }
            guard bytes[index] == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
            index += 1
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
