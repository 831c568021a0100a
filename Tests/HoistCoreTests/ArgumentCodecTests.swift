import Foundation
import HoistCore
import Testing

@Suite("Argument codec")
struct ArgumentCodecTests {
    let add = Function("add", parameters: "a", "b") { (a: Int, b: Int) in a + b }
    let unnamed = Function("pair") { (a: String, b: Double) in "\(a)\(b)" }
    let none = Function("none") { () in 7 }
    let single = Function("single", parameters: "values") { (values: [Int]) in values.count }

    func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test("encodes none as an empty body, one as its value, several as an array")
    func encoding() throws {
        #expect(try ArgumentCodec.encode() == Data())
        #expect(text(try ArgumentCodec.encode("hi")) == #""hi""#)
        #expect(text(try ArgumentCodec.encode([1, 2])) == "[1,2]")
        #expect(text(try ArgumentCodec.encode(1, "two", true)) == #"[1,"two",true]"#)
    }

    @Test("decodes what it encodes, through invoke")
    func roundTrip() async throws {
        #expect(text(try await add.invoke(json: try add.encodeArguments(2, 3))) == "5")
        #expect(text(try await none.invoke(json: try none.encodeArguments())) == "7")
        #expect(text(try await single.invoke(json: try single.encodeArguments([4, 5, 6]))) == "3")
        #expect(text(try await unnamed.invoke(json: try unnamed.encodeArguments("x", 1.5))) == #""x1.5""#)
    }

    @Test("accepts an object keyed by the declared names, in any order")
    func named() async throws {
        #expect(text(try await add.invoke(json: Data(#"{"b": 10, "a": 1}"#.utf8))) == "11")
        #expect(text(try await single.invoke(json: Data(#"{"values": [1]}"#.utf8))) == "1")
    }

    @Test("zero-argument functions take an empty body, [] or {}", arguments: ["", "[]", "{}", "  \n"])
    func zeroArguments(body: String) async throws {
        #expect(text(try await none.invoke(json: Data(body.utf8))) == "7")
    }

    @Test("bad bodies are ArgumentDecodingErrors that name the function, its signature and the problem", arguments: [
        ("[1]", "expected 2 arguments, got 1"),
        ("[1,2,3]", "expected 2 arguments, got 3"),
        (#"[1,"x"]"#, "argument 2 (b: Int): expected Int"),
        ("[1,", "not valid JSON"),
        ("", "the body is empty"),
        ("7", "expected a JSON array of 2 arguments"),
        (#"{"a":1}"#, "missing key 'b'"),
        (#"{"a":1,"b":2,"z":0}"#, "unknown argument name 'z'"),
    ])
    func badBodies(body: String, fragment: String) async throws {
        let error = await #expect(throws: ArgumentDecodingError.self) {
            _ = try await add.invoke(json: Data(body.utf8))
        }
        #expect(error?.function == "add")
        #expect(error?.signature == "add(a: Int, b: Int) -> Int")
        #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "") lacks \(fragment)")
    }

    @Test("objects need declared names")
    func objectWithoutNames() async throws {
        let error = await #expect(throws: ArgumentDecodingError.self) {
            _ = try await unnamed.invoke(json: Data(#"{"a":"x","b":1}"#.utf8))
        }
        #expect(error?.reason.contains("declares none") == true)
    }

    @Test("a zero-argument function refuses arguments")
    func zeroRefusesArguments() async throws {
        await #expect(throws: ArgumentDecodingError.self) { _ = try await none.invoke(json: Data("[1]".utf8)) }
    }
}
