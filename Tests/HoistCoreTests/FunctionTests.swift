import Foundation
import HoistCore
import Testing

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

@Suite("Function")
struct FunctionTests {
    @Test("an unbound function runs in this process, with typed arguments and result")
    func inProcess() async throws {
        let summer = Function("summer") { (a: Int, b: Int) in a + b }
        #expect(try await summer(1, 2) == 3)
        let greet = Function("greet") { (name: String) async throws in "hi \(name)" }
        #expect(try await greet("ada") == "hi ada")
    }

    @Test("Void functions return null on the wire and decode back to ()")
    func void() async throws {
        let log = Function("log") { (line: String) in _ = line }
        #expect(String(decoding: try await log.invoke(json: Data(#""x""#.utf8)), as: UTF8.self) == "null")
        try log.decodeResult(Data("null".utf8))
        #expect(log.descriptor.result == "Void")
    }

    @Test("descriptors give names, types and a readable signature")
    func descriptor() {
        let f = Function("move", parameters: "point", "by") { (p: [Double], by: Double) in p.map { $0 + by } }
        #expect(f.descriptor.signature == "move(point: Array<Double>, by: Double) -> Array<Double>")
        #expect(type(of: f).arity == 2)
        let g = Function("g") { () in true }
        #expect(g.descriptor.signature == "g() -> Bool")
    }

    @Test("errors the body throws pass through invoke unchanged")
    func thrownErrors() async throws {
        let f = Function("explode") { () async throws -> Int in throw Boom() }
        await #expect(throws: Boom.self) { _ = try await f.invoke(json: Data()) }
        let failure = CallFailure.from(Boom(), function: "explode")
        #expect(failure.remote == RemoteError(function: "explode", type: "HoistCoreTests.Boom", message: "boom"))
        #expect(failure.httpStatus == 500)
        #expect(failure.error as? RemoteError == failure.remote)
    }

    @Test("results that do not decode are a badResponse error naming the type")
    func badResult() throws {
        let f = Function("n") { () in 1 }
        let error = #expect(throws: HoistError.self) { _ = try f.decodeResult(Data(#""text""#.utf8)) }
        #expect(error?.code == .badResponse)
        #expect(error?.message.contains("Int") == true)
    }
}

@Suite("Function table")
struct FunctionTableTests {
    @Test("duplicate names are refused at start")
    func duplicates() {
        let a = Function("same") { () in 1 }
        let b = Function("same") { (x: Int) in x }
        let error = #expect(throws: HoistError.self) { _ = try FunctionTable([a, b]) }
        #expect(error?.code == .duplicateFunction)
        #expect(error?.message.contains("'same'") == true)
    }

    @Test("finds functions by name", arguments: ["one", "two"])
    func lookup(name: String) throws {
        let table = try FunctionTable([Function("one") { () in 1 }, Function("two") { () in 2 }])
        #expect(table[name]?.name == name)
        #expect(table["three"] == nil)
        #expect(table.names == ["one", "two"])
    }

    @Test("names are kept to URL- and file-safe characters", arguments: ["", "_hidden", "has space", "a/b", String(repeating: "x", count: 65)])
    func badNames(name: String) {
        #expect(FunctionTable.problem(withName: name) != nil)
    }

    @Test("ordinary names pass", arguments: ["add", "summer-v2", "snake_case", "v1.2"])
    func goodNames(name: String) {
        #expect(FunctionTable.problem(withName: name) == nil)
    }
}
