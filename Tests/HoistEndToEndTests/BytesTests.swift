import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

@Suite("Data and [UInt8] as raw bytes", .serialized)
struct BytesTests {
    @Test("a driver's Data and [UInt8] arguments and results round-trip: raw alone, base64 beside other arguments, in runs")
    func throughRemoteFunction() throws {
        try expectScenario("bytes", prints: ["flip=true", "flipQuiet=true", "flipBytes=true", "measure=\((1 << 20) + 4)", "empty=0", "run=[3, 2, 1]", "shoutBig=true", "regionCalls=true"])
    }

    @Test("over HTTP an octet-stream body and Accept carry raw bytes; JSON carries base64 or numbers; other functions refuse raw bodies")
    func overHTTP() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let all = Data((0...255).map { UInt8($0) })
            let input = daemon.home.root + "/all-bytes"
            let output = daemon.home.root + "/answer"
            try all.write(to: URL(fileURLWithPath: input))
            let raw = ["--data-binary", "@\(input)", "-H", "Content-Type: \(RawBytes.mediaType)"]

            // Raw both ways: the answer is the bytes themselves, typed as such.
            let headers = daemon.home.root + "/headers"
            let both = try daemon.curl("/testapp/flip", raw + ["-H", "Accept: \(RawBytes.mediaType)", "-o", output, "-D", headers])
            #expect(both.status == 200)
            let head = try String(contentsOfFile: headers, encoding: .utf8).lowercased()
            #expect(head.contains("content-type: \(RawBytes.mediaType)"), "\(head)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(all.reversed()))
            let bytes = try daemon.curl("/testapp/flipBytes", raw + ["-H", "Accept: \(RawBytes.mediaType)", "-o", output])
            #expect(bytes.status == 200)
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(all.reversed()))

            // Raw in, JSON out for a caller that did not ask for bytes.
            let base64 = try daemon.curl("/testapp/flip", raw)
            #expect(base64.body == "\"\(Data(all.reversed()).base64EncodedString())\"")
            let numbers = try daemon.curl("/testapp/flipBytes", raw)
            #expect(numbers.body == "[" + (0...255).reversed().map(String.init).joined(separator: ",") + "]")

            // JSON in (base64), raw out.
            _ = try daemon.curl("/testapp/flip", ["-d", #""AAEC""#, "-H", "Accept: \(RawBytes.mediaType)", "-o", output])
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data([2, 1, 0]))
            #expect(try daemon.curl("/testapp/measure", ["-d", #"["AAEC", 10]"#]).body == "13")

            // A raw body is only for a function's one Data or [UInt8] argument.
            for function in ["add", "measure", "countTo"] {
                let refused = try daemon.curl("/testapp/\(function)", raw)
                #expect(refused.status == 400, "\(function): \(refused)")
                #expect(refused.body.contains("send JSON"), "\(function): \(refused.body)")
            }
            // Accept alone does not turn a JSON result into bytes.
            #expect(try daemon.curl("/testapp/add", ["-d", "[1,2]", "-H", "Accept: \(RawBytes.mediaType)"]).body == "3")
        }
    }

    @Test("Hoist's client sends and receives raw bytes, also with output streamed")
    func throughTheClient() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let payload = ByteBuffer(bytes: (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
            let expected = Array(payload.readableBytesView.reversed())
            let plain = try await daemon.client.call(app: "testapp", function: "flip", body: payload, bytes: [.argument, .result])
            #expect(Array(plain.readableBytesView) == expected)
            let streamed = try await daemon.client.call(app: "testapp", function: "flip", body: payload, bytes: [.argument, .result], output: { _, _ in })
            #expect(Array(streamed.readableBytesView) == expected)
            // Bytes out only: the argument as JSON.
            let jsonIn = try await daemon.client.call(app: "testapp", function: "flipBytes", body: ByteBuffer(string: "[1,2,3]"), bytes: .result)
            #expect(Array(jsonIn.readableBytesView) == [3, 2, 1])
        }
    }
}
