import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Large payloads through shared memory", .serialized)
struct PayloadRegionTests {
    /// The test app deployed, and a client on the daemon's call socket, as Hoist's own calls are
    /// made, that has had the daemon's hello: it comes with the first call, and a call before it
    /// goes the usual way.
    static func connected(_ daemon: TestDaemon) async throws -> DaemonClient {
        try await daemon.deploy()
        let client = DaemonClient(socketPath: daemon.home.daemonSocket, token: nil, callSocketPath: daemon.home.callSocket)
        _ = try await client.call(app: "testapp", function: "add", body: ByteBuffer(string: "[1,2]"))
        return client
    }

    @Test("a large argument and result pass through shared memory on the daemon's machine, and come to what they come to without it")
    func roundTrips() async throws {
        try await withDaemon { daemon in
            let client = try await Self.connected(daemon)
            let text = String((0..<(3 << 19)).map { _ in "abcdefghij".randomElement()! })
            let json = ByteBuffer(string: "\"\(text)\"")
            let shouted = try await client.call(app: "testapp", function: "shout", body: json, sharedMemory: true)
            #expect(String(buffer: shouted) == "\"\(text.uppercased())\"")
            #expect(client.payloadRegionCalls == 1)
            // A small result comes back in the answer.
            #expect(String(buffer: try await client.call(app: "testapp", function: "size", body: json, sharedMemory: true)) == String(text.utf8.count))
            // Raw bytes, both ways.
            let bytes = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let flipped = try await client.call(app: "testapp", function: "flip", body: ByteBuffer(bytes: bytes), bytes: [.argument, .result], sharedMemory: true)
            #expect(Array(flipped.readableBytesView) == bytes.reversed())
            // A thrown error is the function's, and the next call reuses the region.
            let error = await #expect(throws: RemoteError.self) {
                _ = try await client.call(app: "testapp", function: "refuse", body: json, sharedMemory: true)
            }
            #expect(error?.message.hasPrefix("refused: ") == true, "\(String(describing: error).prefix(300))")
            #expect(String(buffer: try await client.call(app: "testapp", function: "shout", body: json, sharedMemory: true)) == "\"\(text.uppercased())\"")
            #expect(client.payloadRegionCalls == 4)
            // The same calls without shared memory give the same answers.
            #expect(String(buffer: try await client.call(app: "testapp", function: "shout", body: json)) == "\"\(text.uppercased())\"")
            #expect(client.payloadRegionCalls == 4)
        }
    }

    @Test("a call whose worker is killed is retried under its policy and reads its argument again from the region")
    func retriedFromRegion() async throws {
        try await withDaemon { daemon in
            let client = try await Self.connected(daemon)
            let victim = try await daemon.whoami().pid
            let path = daemon.home.root + "/region-handshake"
            let bulk = String(repeating: "r", count: 3 << 20)
            let call = Task {
                try await client.call(app: "testapp", function: "handshakeBulk", body: ByteBuffer(string: "[\"\(path)\", \"\(bulk)\"]"), retry: RetryPolicy(attempts: 3, backoff: .milliseconds(50)), sharedMemory: true)
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while !daemon.appLog.contains("waiting for \(path)"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(victim, SIGKILL)
            FileManager.default.createFile(atPath: path, contents: nil)
            let answer = try JSONDecoder().decode([Int].self, from: Data(String(buffer: try await call.value).utf8))
            #expect(answer.count == 2 && answer[0] != Int(victim))
            #expect(answer.last == bulk.utf8.count)
            #expect(client.payloadRegionCalls == 1)
        }
    }

    @Test("the daemon says who the caller is; a region that is not the caller's, or one for a stream, is refused with a clear failure")
    func refusals() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let socket = try RawCallSocket(path: daemon.home.callSocket)
            defer { socket.close() }
            var header = SocketCallHeader(app: "testapp", function: "size", wantsOutput: false)
            header.region = true
            func reference(pid: Int32, fd: Int32) -> [UInt8] {
                Array(RegionReference(pid: pid, fd: fd, device: 0, inode: 0, offset: 0, length: 4).buffer.readableBytesView)
            }
            socket.send(.call, id: 1, Array(header.encode(allocator: ByteBufferAllocator()).readableBytesView) + reference(pid: getpid() + 1, fd: 3))
            socket.send(.call, id: 2, Array(header.encode(allocator: ByteBufferAllocator()).readableBytesView) + reference(pid: getpid(), fd: 999_999))
            var stream = SocketCallHeader(app: "testapp", function: "countTo", wantsOutput: false)
            stream.region = true
            socket.send(.call, id: 3, Array(stream.encode(allocator: ByteBufferAllocator()).readableBytesView) + reference(pid: getpid(), fd: 3))
            var answers: [UInt64: (kind: WorkerFrame.Kind?, payload: String)] = [:]
            while answers.count < 3, let frame = try await offPool({ socket.read() }) {
                answers[frame.id] = (frame.kind, frame.payload)
            }
            #expect(socket.hello?.callerPID == getpid())
            #expect(socket.hello?.bootID == SocketHello.machineBootID)
            #expect(answers[1]?.kind == .failure && answers[1]?.payload.contains("payloadRegion") == true && answers[1]?.payload.contains("pid \(getpid() + 1)") == true, "\(String(describing: answers[1]))")
            #expect(answers[2]?.kind == .failure && answers[2]?.payload.contains("could not open the caller's payload region") == true, "\(String(describing: answers[2]))")
            #expect(answers[3]?.kind == .failure && answers[3]?.payload.contains("streams its result") == true, "\(String(describing: answers[3]))")
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }
}
