import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

@Suite("Streaming results", .serialized)
struct StreamTests {
    @Test("elements arrive as produced, in order; an error arrives after the elements; breaking off cancels")
    func driver() async throws {
        try expectScenario("stream", prints: [
            "streamCount=100", "streamOrdered=true", "firstEarly=true",
            "streamError=3,refused: stopped after 3", "afterBreak=2,3,true", "local=[0, 1, 2]",
        ])
    }

    @Test("over HTTP a streaming function answers newline-delimited JSON, with an error as the last line")
    func ndjson() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let count = try daemon.curl("/testapp/countTo", ["-d", "[5,0]"])
            #expect(count.status == 200)
            #expect(count.body == "0\n1\n2\n3\n4\n")
            let failing = try daemon.curl("/testapp/failAfter", ["-d", "2"])
            let lines = failing.body.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines.prefix(2) == ["\"element 0\"", "\"element 1\""])
            #expect(lines.last?.contains("stopped after 2") == true)
            // As a run, the elements become the result: a JSON array.
            let runResult = try await daemon.client.getOrCall(app: "testapp", function: "countTo", body: .init(string: "[3,0]"), name: "streamed")
            #expect(String(buffer: runResult) == "[0,1,2]")
        }
    }
}
