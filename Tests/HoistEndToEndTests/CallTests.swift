import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

@Suite("Calls through a real daemon and worker", .serialized)
struct CallTests {
    @Test("results for zero, one and several arguments, Void, structs and names")
    func arities() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            #expect(try await daemon.call("zero", "") == #""nothing needed""#)
            #expect(try await daemon.call("zero", "[]") == #""nothing needed""#)
            #expect(try await daemon.call("shout", #""hi""#) == #""HI""#)
            #expect(try await daemon.call("shout", #"{"text":"by name"}"#) == #""BY NAME""#)
            #expect(try await daemon.call("add", "[2,40]") == "42")
            #expect(try await daemon.call("add", #"{"b":40,"a":3}"#) == "43")
            #expect(try await daemon.call("note", #""x""#) == "null")
            let mirrored = try await daemon.call("mirror", #"{"x":1.5,"y":-2}"#)
            #expect(mirrored.contains(#""x":-1.5"#) && mirrored.contains(#""y":2"#))
            #expect(try await daemon.call("sum", "[1,2,3,4]") == "10")
        }
    }

    @Test("an error the function throws arrives typed, with its type and message")
    func thrownError() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let error = await #expect(throws: RemoteError.self) {
                _ = try await daemon.call("refuse", #""no thanks""#)
            }
            #expect(error?.function == "refuse")
            #expect(error?.type == "HoistTestApp.Refusal")
            #expect(error?.message == "refused: no thanks")
            // The worker survives: the next call works.
            #expect(try await daemon.call("add", "[1,1]") == "2")
        }
    }

    @Test("200 concurrent calls all get their own result")
    func concurrentCalls() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<200 {
                    group.addTask { (i, try await daemon.call("add", "[\(i),\(i * 1000)]")) }
                }
                var results: [Int: String] = [:]
                for try await (i, result) in group { results[i] = result }
                return results
            }
            #expect(results.count == 200)
            for i in 0..<200 { #expect(results[i] == String(i + i * 1000)) }
        }
    }

    @Test("a 16 MiB argument travels and is counted exactly")
    func largeArgument() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let text = String(repeating: "abcdefgh", count: 2 << 20)
            let json = String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
            #expect(try await daemon.call("size", json) == String(text.utf8.count))
        }
    }
}
