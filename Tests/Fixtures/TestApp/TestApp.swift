import Foundation
import Hoist

#if canImport(Glibc)
import Glibc
#endif

// Functions the end-to-end tests deploy. Each one exercises a part of the call path.

struct Point: Codable, Sendable, Equatable {
    var x: Double
    var y: Double
}

struct WorkerInfo: Codable, Sendable {
    var pid: Int32
    var version: String
    var mode: String?
    var secretLength: Int?
    var directory: String
}

struct Refusal: Error, CustomStringConvertible {
    var reason: String
    var description: String { "refused: \(reason)" }
}

let add = Function("add", parameters: "a", "b") { (a: Int, b: Int) in a + b }
let zero = Function("zero") { () in "nothing needed" }
let shout = Function("shout", parameters: "text") { (text: String) in
    print("shouting \(text)")
    return text.uppercased()
}
let note = Function("note", parameters: "text") { (text: String) in
    print("noted \(text)")
}
let mirror = Function("mirror", parameters: "point") { (p: Point) in Point(x: -p.x, y: -p.y) }
let refuse = Function("refuse", parameters: "reason") { (reason: String) async throws -> Int in
    throw Refusal(reason: reason)
}
/// Prints `count` lines tagged with `tag`, pausing between them so that concurrent calls interleave.
let chatter = Function("chatter", parameters: "tag", "count") { (tag: String, count: Int) async throws -> Int in
    for i in 0..<count {
        print("\(tag) line \(i)")
        FileHandle.standardError.write(Data("\(tag) err \(i)\n".utf8))
        try await Task.sleep(for: .milliseconds(5))
    }
    return count
}
let sleepy = Function("sleepy", parameters: "milliseconds") { (ms: Int) async throws -> Int32 in
    try await Task.sleep(for: .milliseconds(ms))
    return getpid()
}
let whoami = Function("whoami") { () in
    let environment = ProcessInfo.processInfo.environment
    return WorkerInfo(
        pid: getpid(),
        version: environment["HOIST_APP_VERSION"] ?? "",
        mode: environment["MODE"],
        secretLength: environment["HOIST_TEST_SECRET"]?.count,
        directory: FileManager.default.currentDirectoryPath
    )
}
let size = Function("size", parameters: "data") { (data: String) in data.utf8.count }
let sum = Function("sum", parameters: "values") { (values: [Int]) in values.reduce(0, +) }

@main
struct TestApp: HoistApp {
    static let name = "testapp"
    static let functions: [any HoistFunction] = [add, zero, shout, note, mirror, refuse, chatter, sleepy, whoami, size, sum]

    /// As a driver, exercises the public API against the local daemon and prints what it saw,
    /// one `key=value` line each, for the end-to-end tests to check.
    static func run() async throws {
        let remoteAdd = try await add.to(.local)
        print("add=\(try await remoteAdd(2, 3))")
        print("endpoint=\(remoteAdd.endpoint)")
        let remoteShout = try await shout.to(.local)
        print("shout=\(try await remoteShout("loud"))")
        print("quiet=\(try await remoteShout.quiet()("soft"))")
        let remoteNote = try await note.to(.local)
        try await remoteNote("void")
        print("void=ok")
        print("zero=\(try await zero.to(.local)())")
        let mirrored = try await mirror.to(.local)(Point(x: 1, y: -2))
        print("mirror=\(mirrored.x),\(mirrored.y)")
        do {
            _ = try await refuse.to(.local)("not today")
            print("refuse=returned")
        } catch let error as RemoteError {
            print("refuse=\(error.type)|\(error.message)")
        }
        let stray = Function("stray") { () in 1 }
        do {
            _ = try await stray.to(.local)
            print("stray=deployed")
        } catch let error as HoistError {
            print("stray=\(error.code)")
        }
        do {
            _ = try await add.to(.local, env: Env(replicas: 0))
        } catch let error as HoistError {
            print("replicas=\(error.code)")
        }
    }
}
