import Foundation
import HoistCore
import Testing

/// `Int`, `Bool` and plain `String` arguments and results skip Foundation's coders
/// (`JSONScalars`); whatever they are given, calls must come out as the coders would have them.
@Suite("Scalars without the coders")
struct JSONScalarsTests {
    let add = Function("add", parameters: "a", "b") { (a: Int, b: Int) in a + b }
    let label = Function("label", parameters: "flag", "name") { (flag: Bool, name: String) in "\(flag)-\(name)" }
    let negate = Function("negate", parameters: "n") { (n: Int) in -n }

    /// Two Ints the way the coders read a call's array: exactly two elements.
    struct TwoInts: Decodable {
        var sum: Int
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            guard container.count == 2 else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "count")) }
            sum = try container.decode(Int.self) + container.decode(Int.self)
        }
    }

    struct FlagAndName: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            guard container.count == 2 else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "count")) }
            text = "\(try container.decode(Bool.self))-\(try container.decode(String.self))"
        }
    }

    @Test("Int arguments agree with JSONDecoder, including the literals it refuses or reads its own way", arguments: [
        "[1,2]", "[ -7 , 12 ]", " [0,-0] ", "[9223372036854775807,0]", "[-9223372036854775808,0]", "[9223372036854775808,0]",
        "[1.0,2]", "[1e2,1]", "[01,2]", "[-,2]", "[1,2,]", "[1 2]", "[true,1]", #"["1",2]"#, "[1]", "[1,2,3]", "[]", "[1,null]",
        "[+1,2]", "[1,2]x", "[[1],2]",
    ])
    func ints(body: String) async throws {
        let expected = (try? JSONDecoder().decode(TwoInts.self, from: Data(body.utf8))).map { String($0.sum) }
        let got = try? await add.invoke(json: Data(body.utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == expected, "\(body)")
    }

    @Test("Bool and String arguments agree with JSONDecoder", arguments: [
        #"[true,"x"]"#, #"[false , "héllo ✓"]"#, #"[true,"a\"b"]"#, #"[tru,"x"]"#, #"[1,"x"]"#, #"[true,x]"#, #"[true,"x"#, #"[null,"x"]"#,
    ])
    func boolAndString(body: String) async throws {
        let expected = (try? JSONDecoder().decode(FlagAndName.self, from: Data(body.utf8))).map { #"""# + $0.text.replacingOccurrences(of: "\"", with: "\\\"") + #"""# }
        let got = try? await label.invoke(json: Data(body.utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == expected, "\(body)")
    }

    @Test("one Int argument and an Int result: the value alone, as the coders read and write it", arguments: ["5", " -12 ", "0", "1.5", "05", "\"5\"", "[5]"])
    func single(body: String) async throws {
        let expected = (try? JSONDecoder().decode(Int.self, from: Data(body.utf8))).map { String(-$0) }
        let got = try? await negate.invoke(json: Data(body.utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == expected, "\(body)")
    }

    @Test("Ints and Bools are written as JSONEncoder writes them, and read back", arguments: [0, 1, -1, 42, Int.max, Int.min])
    func encoding(value: Int) throws {
        let encoded = try ArgumentCodec.encode(value, true, false)
        let reference = try JSONEncoder().encode([value])
        #expect(String(decoding: encoded, as: UTF8.self) == "[\(String(decoding: reference.dropFirst().dropLast(), as: UTF8.self)),true,false]")
        let result = try negate.decodeResult(Data(String(value).utf8))
        #expect(result == value)
    }
}
