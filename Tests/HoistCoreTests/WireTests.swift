import Foundation
import HoistCore
import NIOCore
import Testing

@Suite("Wire formats")
struct WireTests {
    @Test("call requests round-trip")
    func callRequest() throws {
        let request = CallRequest(function: "add", wantsOutput: true, body: ByteBuffer(string: "[1,2]"))
        let decoded = try CallRequest(decoding: request.encode(allocator: ByteBufferAllocator()))
        #expect(decoded.function == "add")
        #expect(decoded.wantsOutput)
        #expect(String(buffer: decoded.body) == "[1,2]")
        #expect(throws: HoistError.self) { _ = try CallRequest(decoding: ByteBuffer(bytes: [0, 9, 65])) }
    }

    @Test("call-stream records survive any split into chunks", arguments: [1, 2, 3, 7, 64])
    func callStream(chunkSize: Int) throws {
        var stream = ByteBuffer()
        CallStream.write(.stdout, ByteBuffer(string: "line one\n"), into: &stream)
        CallStream.write(.stderr, ByteBuffer(string: "warn\n"), into: &stream)
        CallStream.write(.stdout, ByteBuffer(), into: &stream)
        CallStream.write(.result, ByteBuffer(string: "42"), into: &stream)
        var parser = CallStream.Parser()
        var records: [CallStream.Record] = []
        while stream.readableBytes > 0 {
            let chunk = stream.readSlice(length: min(chunkSize, stream.readableBytes))!
            records += try parser.append(chunk)
        }
        #expect(records.map(\.kind) == [.stdout, .stderr, .stdout, .result])
        #expect(records.map { String(buffer: $0.bytes) } == ["line one\n", "warn\n", "", "42"])
        #expect(!parser.hasPartialRecord)
    }

    @Test("an unknown record kind is an error, not a hang")
    func unknownKind() {
        var parser = CallStream.Parser()
        #expect(throws: HoistError.self) { _ = try parser.append(ByteBuffer(bytes: [0x51, 0, 0, 0, 0])) }
    }

    @Test("failures map to HTTP statuses", arguments: [
        (HoistError.Code.badArguments, 400), (.unknownApp, 404), (.unknownFunction, 404),
        (.bodyTooLarge, 413), (.workerCrashed, 502), (.noWorkers, 503), (.deployFailed, 500),
    ])
    func statuses(code: HoistError.Code, status: Int) throws {
        let failure = CallFailure(HoistError(code, "m"))
        #expect(failure.httpStatus == status)
        let decoded = try JSONDecoder().decode(CallFailure.self, from: JSONEncoder().encode(failure))
        #expect((decoded.error as? HoistError)?.code == code)
    }
}

@Suite("Env")
struct EnvTests {
    @Test("valid envs pass")
    func valid() throws {
        try Env(name: "prod", environment: ["MODE": "fast", "_X1": ""], secrets: ["API_TOKEN"], workingDirectory: "/srv", replicas: 4).validate()
    }

    @Test("bad settings are clear errors", arguments: [
        (Env(replicas: 0), "replicas"),
        (Env(replicas: 1000), "replicas"),
        (Env(environment: ["1BAD": "x"]), "1BAD"),
        (Env(environment: ["A-B": "x"]), "A-B"),
        (Env(secrets: ["has space"]), "has space"),
        (Env(workingDirectory: "relative/dir"), "absolute"),
    ])
    func invalid(env: Env, fragment: String) {
        let error = #expect(throws: HoistError.self) { try env.validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(fragment) == true)
    }
}

@Suite("Tokens")
struct TokenTests {
    @Test("constant-time comparison agrees with ==", arguments: [("abc", "abc"), ("abc", "abd"), ("abc", "ab"), ("", ""), ("", "x"), ("x", "")])
    func equality(a: String, b: String) {
        #expect(ConstantTime.equal(a, b) == (a == b))
    }
}
