import Foundation
import HoistCore
import NIOCore
import NIOEmbedded
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

    @Test("call-socket headers round-trip with the body after them; a short or unknown-version header is refused")
    func socketCallHeader() throws {
        let headers = [
            SocketCallHeader(app: "demo", function: "summer", wantsOutput: false),
            SocketCallHeader(app: "démo", function: "f", wantsOutput: true, bytes: [.argument, .result], timeout: "2.5", key: "k-1", retry: "3;0.2;crashed", caller: "d/demo/v1/2"),
        ]
        for header in headers {
            var buffer = header.encode(allocator: ByteBufferAllocator())
            buffer.writeString("[1,2]")
            let decoded = try SocketCallHeader(decoding: &buffer)
            #expect(decoded == header)
            #expect(String(buffer: buffer) == "[1,2]")
        }
        var short = headers[1].encode(allocator: ByteBufferAllocator())
        short.moveWriterIndex(to: short.writerIndex - 3)
        #expect(throws: HoistError.self) { _ = try SocketCallHeader(decoding: &short) }
        var future = ByteBuffer(bytes: [SocketCallHeader.version + 1, 0])
        let error = try #require(throws: HoistError.self) { _ = try SocketCallHeader(decoding: &future) }
        #expect(error.code == .protocolMismatch)
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

@Suite("Worker frames on a channel")
struct WorkerFrameChannelTests {
    /// Frames written by the writer and read back by the decoder, through an embedded channel.
    func roundTrip(_ frames: [WorkerFrame]) throws -> [WorkerFrame] {
        let writer = EmbeddedChannel(handler: WorkerFrameWriter())
        for frame in frames { try writer.writeOutbound(frame) }
        var bytes = ByteBuffer()
        while var part = try writer.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        let reader = EmbeddedChannel(handler: ByteToMessageHandler(WorkerFrameDecoder()))
        // In small pieces, as a socket delivers a large frame.
        while bytes.readableBytes > 0 {
            try reader.writeInbound(bytes.readSlice(length: min(7_000, bytes.readableBytes))!)
        }
        var decoded: [WorkerFrame] = []
        while let frame = try reader.readInbound(as: WorkerFrame.self) { decoded.append(frame) }
        return decoded
    }

    @Test("a head, a payload and a tail of any size arrive as one frame whose payload is both", arguments: [0, 10, 16_383, 16_384, 100_000, 1 << 20])
    func tails(size: Int) throws {
        let body = ByteBuffer(repeating: 0x61, count: size)
        let request = CallRequest(function: "echo", wantsOutput: true, body: body)
        let frames = [
            WorkerFrame(kind: .call, callID: 7, payload: request.header(allocator: ByteBufferAllocator()), tail: body),
            WorkerFrame(kind: .result, callID: 8, payload: body),
            WorkerFrame(kind: .cancel, callID: 9, payload: ByteBuffer()),
        ]
        let decoded = try roundTrip(frames)
        #expect(decoded.map(\.kind) == [.call, .result, .cancel])
        #expect(decoded.map(\.callID) == [7, 8, 9])
        let call = try CallRequest(decoding: decoded[0].payload)
        #expect(call.function == "echo" && call.wantsOutput && call.body == body)
        #expect(decoded[1].payload == body)
        #expect(decoded[2].payload.readableBytes == 0)
    }
}
