import Foundation
import HoistCore
import NIOCore
import Testing

@Suite("Strings without Foundation's coders")
struct JSONStringTests {
    let echo = Function("echo", parameters: "text") { (text: String) in text }
    let maybe = Function("maybe") { (text: String?) in text ?? "none" }
    let count = Function("count") { (n: Int) in n }

    func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test("plain text round-trips, and agrees with JSONDecoder", arguments: ["", "hello", "héllo wörld ✓ 🚀", String(repeating: "ab/c", count: 10_000)])
    func plain(value: String) throws {
        let json = try #require(JSONString.encode(value))
        #expect(try JSONDecoder().decode(String.self, from: json) == value)
        #expect(JSONString.decode(json) == value)
    }

    @Test("text that needs escapes is left to the coders", arguments: ["say \"hi\"", "back\\slash", "line\nbreak", "tab\t", "\u{01}"])
    func escaped(value: String) throws {
        #expect(JSONString.encode(value) == nil)
        let json = try JSONEncoder().encode(value)
        #expect(JSONString.decode(json) == nil)
    }

    @Test("anything but a plain string literal is not decoded here", arguments: ["42", "null", "[\"a\"]", "\"unterminated", "\"", "{\"text\":\"a\"}"])
    func notStrings(json: String) {
        #expect(JSONString.decode(Data(json.utf8)) == nil)
    }

    @Test("invalid UTF-8 is refused, not decoded into replacement characters")
    func invalidUTF8() {
        #expect(JSONString.decode(Data([0x22, 0xFF, 0xFE, 0x22])) == nil)
    }

    @Test("a string over the huge-page size decodes the same: ASCII, other UTF-8, and invalid UTF-8 refused")
    func large() throws {
        let size = HugePages.threshold + 33
        let ascii = String(repeating: "a", count: size)
        let asciiBack = JSONString.decode(try #require(JSONString.encode(ascii))) == ascii
        #expect(asciiBack)
        let accented = String(repeating: "é", count: size / 2)
        let accentedBack = JSONString.decode(try #require(JSONString.encode(accented))) == accented
        #expect(accentedBack)
        // Invalid sequences, among them one a repair would replace by a character of the same
        // length (a cut-off F0 9F 98 becomes one U+FFFD, also three bytes), anywhere in the string.
        for invalid: [UInt8] in [[0xFF], [0xE0, 0x80, 0x80], [0xF0, 0x9F, 0x98]] {
            for position in [0, size / 2, size - invalid.count] {
                var bytes = [UInt8](repeating: 0x61, count: size)
                bytes.replaceSubrange(position..<(position + invalid.count), with: invalid)
                // A Bool, so that a failure does not print megabytes.
                let refused = JSONString.decode(Data([0x22] + bytes + [0x22])) == nil
                #expect(refused, "\(invalid) at \(position)")
            }
        }
    }

    @Test("ASCII is told apart from other bytes anywhere, in the same pass", arguments: [1, 31, 32, 33, 4097])
    func scanFindsASCII(length: Int) {
        let plain = [UInt8](repeating: 0x61, count: length)
        plain.withUnsafeBytes { #expect(JSONString.scan($0) == (false, true)) }
        for position in Set([0, length / 2, length - 1]) {
            var bytes = plain
            bytes[position] = 0x80
            bytes.withUnsafeBytes { #expect(JSONString.scan($0) == (false, false), "0x80 at \(position) of \(length)") }
        }
    }

    @Test("an escape is found anywhere: inside the vectors, at their edges, in the tail", arguments: [1, 31, 32, 33, 64, 4095, 4096, 4097, 10_000])
    func scanFindsEveryPosition(length: Int) {
        let plain = [UInt8](repeating: 0x61, count: length)
        plain.withUnsafeBytes { #expect(!JSONString.needsEscape($0)) }
        let positions = Set([0, length / 2, length - 1] + [31, 32, 4095, 4096, 4127].filter { $0 < length })
        for position in positions {
            for byte: UInt8 in [0x22, 0x5C, 0x0A, 0x00, 0x1F] {
                var bytes = plain
                bytes[position] = byte
                bytes.withUnsafeBytes { #expect(JSONString.needsEscape($0), "byte \(byte) at \(position) of \(length)") }
            }
            // Space, DEL and bytes of multi-byte characters need no escape.
            for byte: UInt8 in [0x20, 0x7F, 0xC3, 0xFF] {
                var bytes = plain
                bytes[position] = byte
                bytes.withUnsafeBytes { #expect(!JSONString.needsEscape($0), "byte \(byte) at \(position) of \(length)") }
            }
        }
    }

    @Test("into a ByteBuffer as into Data; a buffer read as Data without a copy outlives the buffer")
    func buffers() throws {
        for value in ["", "plain", String(repeating: "héllo ", count: 5_000)] {
            var buffer = ByteBuffer(string: "x")
            #expect(JSONString.encode(value, into: &buffer))
            #expect(Data(buffer.readableBytesView.dropFirst()) == JSONString.encode(value))
        }
        var untouched = ByteBuffer(string: "x")
        #expect(!JSONString.encode("a \"quote\"", into: &untouched))
        #expect(untouched.readableBytes == 1)

        let data: Data
        do {
            var buffer = ByteBufferAllocator().buffer(capacity: 100_000)
            buffer.writeString("skip")
            buffer.moveReaderIndex(forwardBy: 4)
            buffer.writeString(String(repeating: "z", count: 100_000))
            data = buffer.dataView
            #expect(data.withUnsafeBytes { $0.baseAddress } == buffer.withUnsafeReadableBytes { $0.baseAddress })
        }
        #expect(data.count == 100_000 && data.allSatisfy { $0 == UInt8(ascii: "z") })
        #expect(ByteBuffer().dataView.isEmpty)
    }

    @Test("calls take and give strings the fast way and the slow way alike")
    func throughInvoke() async throws {
        #expect(text(try await echo.invoke(json: Data(#""plain""#.utf8))) == #""plain""#)
        #expect(text(try await echo.invoke(json: Data(#""with \"quotes\"""#.utf8))) == #""with \"quotes\"""#)
        #expect(text(try await echo.invoke(json: Data(#"{"text":"named"}"#.utf8))) == #""named""#)
        #expect(text(try await maybe.invoke(json: Data(#""some""#.utf8))) == #""some""#)
        #expect(text(try await maybe.invoke(json: Data("null".utf8))) == #""none""#)
        // A string where an Int is expected is still the argument error it was.
        await #expect(throws: ArgumentDecodingError.self) { _ = try await count.invoke(json: Data(#""5""#.utf8)) }
        #expect(try echo.decodeResult(Data(#""back""#.utf8)) == "back")
        #expect(try echo.decodeResult(Data(#""a\nb""#.utf8)) == "a\nb")
    }
}
