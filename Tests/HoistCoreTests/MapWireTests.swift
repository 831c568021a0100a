import Foundation
import HoistCore
import NIOCore
import Testing

@Suite("Map batches on the wire")
struct MapWireTests {
    @Test("a JSON array splits into its elements' bytes, whatever they hold")
    func splits() throws {
        let text = #" [ 1 , [2,3], {"a":[4,{"b":"]"}]}, "x,\"y]\\" ,null,-2.5e3,"}{" ] "#
        let elements = try JSONArrayElements.split(ByteBuffer(string: text)).map { String(buffer: $0) }
        #expect(elements == ["1", "[2,3]", #"{"a":[4,{"b":"]"}]}"#, #""x,\"y]\\""#, "null", "-2.5e3", #""}{""#])
        #expect(try JSONArrayElements.split(ByteBuffer(string: "[]")).isEmpty)
        #expect(try JSONArrayElements.split(ByteBuffer(string: " [ \n ] ")).isEmpty)
        // Each element parses as JSON on its own: what the worker gets is a call's body.
        for element in elements {
            #expect((try? JSONSerialization.jsonObject(with: Data(element.utf8), options: .fragmentsAllowed)) != nil, "\(element)")
        }
    }

    @Test("anything but one complete array is a bad-arguments error saying where", arguments: [
        ("", "expected '['"), ("{}", "expected '['"), ("[1,2", "not closed"), ("[1,]", "empty element"),
        ("[,1]", "empty element"), ("[1] 2", "after the array"), (#"["abc]"#, "unterminated string"), ("[1 2}", "expected ',' or ']'"),
    ])
    func rejects(text: String, fragment: String) {
        do {
            _ = try JSONArrayElements.split(ByteBuffer(string: text))
            Issue.record("\(text) was accepted")
        } catch let error as HoistError {
            #expect(error.code == .badArguments)
            #expect(error.message.contains(fragment), "\(text): \(error.message)")
            #expect(error.message.contains("[[1,2],[3,4]]"), "the message shows the expected shape")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }

    @Test("map outcome records carry their input's index")
    func outcomeRecords() throws {
        var stream = ByteBuffer()
        CallStream.write(.mapResult, index: 7, ByteBuffer(string: "49"), into: &stream)
        CallStream.write(.mapFailure, index: 70_000, ByteBuffer(string: #"{"kind":"threw"}"#), into: &stream)
        var parser = CallStream.Parser()
        let records = try parser.append(stream)
        #expect(records.map(\.kind) == [.mapResult, .mapFailure])
        var first = records[0].bytes
        #expect(first.readInteger(as: UInt32.self) == 7)
        #expect(String(buffer: first) == "49")
        var second = records[1].bytes
        #expect(second.readInteger(as: UInt32.self) == 70_000)
        #expect(String(buffer: second) == #"{"kind":"threw"}"#)
    }
}
