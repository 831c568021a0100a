import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking connection to the daemon's call socket that sends frames as given, including those
/// Hoist's client never sends.
final class RawCallSocket: @unchecked Sendable {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw HoistError(.daemonUnavailable, "cannot connect to \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends a frame: length, kind, call id, payload.
    func send(_ kind: WorkerFrame.Kind, id: UInt64, _ payload: [UInt8]) {
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(9 + payload.count))
        frame.writeInteger(kind.rawValue)
        frame.writeInteger(id)
        frame.writeBytes(payload)
        let bytes = Array(frame.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { return }
            sent += written
        }
    }

    /// Sends a call: the header Hoist's client writes, then `body`.
    func call(id: UInt64, _ header: SocketCallHeader, body: String) {
        send(.call, id: id, Array(header.encode(allocator: ByteBufferAllocator()).readableBytesView) + Array(body.utf8))
    }

    /// The daemon's first frame, once read.
    private(set) var hello: SocketHello?

    /// The next frame after the daemon's hello, or `nil` when the daemon closed the connection
    /// (or 30 s passed).
    func read() -> (kind: WorkerFrame.Kind?, id: UInt64, payload: String)? {
        guard let frame = readFrame() else { return nil }
        if hello == nil, frame.kind == .hello {
            hello = SocketHello(decoding: ByteBuffer(bytes: frame.payload))
            return read()
        }
        return (frame.kind, frame.id, String(decoding: frame.payload, as: UTF8.self))
    }

    private func readFrame() -> (kind: WorkerFrame.Kind?, id: UInt64, payload: [UInt8])? {
        guard let head = read(exactly: 13) else { return nil }
        var buffer = ByteBuffer(bytes: head)
        let length = Int(buffer.readInteger(as: UInt32.self)!)
        let kind = WorkerFrame.Kind(rawValue: buffer.readInteger(as: UInt8.self)!)
        let id = buffer.readInteger(as: UInt64.self)!
        guard let payload = read(exactly: length - 9) else { return nil }
        return (kind, id, payload)
    }

    private func read(exactly count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes[got...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            got += n
        }
        return bytes
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

/// What a call came to, for comparing two ways of making it.
private struct Outcome: Equatable, CustomStringConvertible {
    var answer: String
    var output: [String]
    var description: String { "\(answer) with output \(output)" }
}

private func outcome(_ client: DaemonClient, _ function: String, _ body: String, deadline: Double? = nil, bytes: RawBytes = [], wantsOutput: Bool = false, app: String = "testapp") async -> Outcome {
    let output = OutputLines()
    var handler: DaemonClient.OutputHandler?
    if wantsOutput {
        handler = { kind, bytes in output.append(kind, String(buffer: bytes)) }
    }
    do {
        let result = try await client.call(app: app, function: function, body: ByteBuffer(string: body), deadline: deadline, bytes: bytes, output: handler)
        return Outcome(answer: "result \(String(buffer: result))", output: output.byStream)
    } catch let error as RemoteError {
        return Outcome(answer: "remote \(error)", output: output.byStream)
    } catch {
        // Which worker served the call depends on which was free, not on the way it came.
        return Outcome(answer: "error \(error)".replacing(/worker \d+ \(pid \d+\)/, with: "a worker"), output: output.byStream)
    }
}

private final class OutputLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String: String] = [:]
    func append(_ kind: CallStream.Kind, _ text: String) { lock.withLock { stored["\(kind)", default: ""] += text } }
    /// Each stream's text, in stream order: standard output and standard error are two pipes,
    /// with no order between them.
    var byStream: [String] { lock.withLock { stored.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" } } }
}

@Suite("Calls on the daemon's call socket", .serialized)
struct CallSocketTests {
    @Test("Hoist's client calls on the call socket (0600, beside the HTTP socket), and over HTTP where there is none")
    func clientUsesTheCallSocket() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let home = daemon.home
            #expect(DaemonClient.isSocket(home.callSocket))
            let mode = try #require((try FileManager.default.attributesOfItem(atPath: home.callSocket)[.posixPermissions] as? NSNumber)?.intValue)
            #expect(mode == 0o600)
            // With no HTTP socket to reach, only the call socket can answer.
            let framesOnly = DaemonClient(socketPath: home.root + "/no-such.sock", token: nil, callSocketPath: home.callSocket)
            #expect(String(buffer: try await framesOnly.call(app: "testapp", function: "add", body: ByteBuffer(string: "[1,2]"))) == "3")
            // A daemon without one (an older Hoist) is called over HTTP.
            let httpOnly = DaemonClient(socketPath: home.daemonSocket, token: nil, callSocketPath: home.root + "/no-such-calls.sock")
            #expect(String(buffer: try await httpOnly.call(app: "testapp", function: "add", body: ByteBuffer(string: "[2,3]"))) == "5")
            // The local client uses it.
            let local = DaemonClient.local(port: daemon.port, home: home)
            #expect(String(buffer: try await local.call(app: "testapp", function: "add", body: ByteBuffer(string: "[3,4]"))) == "7")
        }
    }

    @Test("a call on the call socket comes to what it comes to over HTTP: results, thrown errors, unknown names, bad arguments, raw bytes, output, elements, deadlines")
    func sameAsHTTP() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            let frames = DaemonClient(socketPath: daemon.home.root + "/no-such.sock", token: nil, callSocketPath: daemon.home.callSocket)
            let http = DaemonClient(socketPath: daemon.home.daemonSocket, token: nil)
            let cases: [(function: String, body: String, deadline: Double?, bytes: RawBytes, output: Bool, app: String)] = [
                ("add", "[1,2]", nil, [], false, "testapp"),
                ("refuse", #""not today""#, nil, [], false, "testapp"),
                ("nosuch", "[]", nil, [], false, "testapp"),
                ("add", "[]", nil, [], false, "nosuchapp"),
                ("add", #"["x",2]"#, nil, [], false, "testapp"),
                ("add", "[1]", nil, [], false, "testapp"),
                ("flip", "abc", nil, [.argument, .result], false, "testapp"),
                ("add", "abc", nil, [.argument], false, "testapp"),
                ("chatter", #"["t",3]"#, nil, [], true, "testapp"),
                ("countTo", "[3,0]", nil, [], false, "testapp"),
                ("countTo", "[3,0]", nil, [], true, "testapp"),
                ("failAfter", "2", nil, [], true, "testapp"),
                ("sleepy", "20000", 0.3, [], false, "testapp"),
            ]
            for call in cases {
                let viaFrames = await outcome(frames, call.function, call.body, deadline: call.deadline, bytes: call.bytes, wantsOutput: call.output, app: call.app)
                let viaHTTP = await outcome(http, call.function, call.body, deadline: call.deadline, bytes: call.bytes, wantsOutput: call.output, app: call.app)
                #expect(viaFrames == viaHTTP, "\(call.app)/\(call.function) \(call.body)")
            }
            // And what they come to is right, so that agreeing means something.
            #expect(await outcome(frames, "add", "[1,2]").answer == "result 3")
            #expect(await outcome(frames, "refuse", #""not today""#).answer.hasPrefix("remote "))
            #expect(await outcome(frames, "nosuch", "[]").answer.contains("has no function 'nosuch'"))
            #expect(await outcome(frames, "flip", "abc", bytes: [.argument, .result]).answer == "result cba")
            #expect(await outcome(frames, "chatter", #"["t",3]"#, wantsOutput: true).output == ["stderr: t err 0\nt err 1\nt err 2\n", "stdout: t line 0\nt line 1\nt line 2\n"])
            #expect(await outcome(frames, "countTo", "[3,0]").answer == "result 0\n1\n2\n")
            #expect(await outcome(frames, "countTo", "[3,0]", wantsOutput: true).output == ["item: 012"])
            #expect(await outcome(frames, "sleepy", "20000", deadline: 0.3).answer.contains("[timedOut]"))
        }
    }

    @Test("a caller whose connection closes has its keyed calls cancelled, and a cancel frame cancels one")
    func closeCancels() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            for (index, way) in ["closed connection", "cancel frame"].enumerated() {
                let marker = daemon.home.root + "/cancelled-\(index)"
                let socket = try RawCallSocket(path: daemon.home.callSocket)
                socket.call(id: 7, SocketCallHeader(app: "testapp", function: "awaitCancel", wantsOutput: true, key: "raw-\(index)"), body: "\"\(marker)\"")
                // Its output says it runs.
                let printed = try await offPool { socket.read() }
                #expect(printed?.kind == .stdout && printed?.payload.contains("waiting to be cancelled") == true, "\(way): \(String(describing: printed))")
                if index == 0 {
                    socket.close()
                } else {
                    socket.send(.cancel, id: 7, [])
                    let answer = try await offPool { socket.read() }
                    #expect(answer?.kind == .failure && answer?.payload.contains("cancelled") == true, "\(way): \(String(describing: answer))")
                    socket.close()
                }
                var reached = false
                for _ in 0..<300 where !reached {
                    reached = FileManager.default.fileExists(atPath: marker)
                    if !reached { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(reached, "\(way): the call was not cancelled")
            }
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("a call over the body limit or with a bad header is refused with a clear failure, and the connection serves on")
    func refusalsKeepTheConnection() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.maxBodySize: "1000"]) { daemon in
            try await daemon.deploy()
            let socket = try RawCallSocket(path: daemon.home.callSocket)
            defer { socket.close() }
            socket.call(id: 1, SocketCallHeader(app: "testapp", function: "size", wantsOutput: false), body: "\"" + String(repeating: "x", count: 5000) + "\"")
            socket.send(.call, id: 2, [9, 0])
            socket.send(.call, id: 3, [SocketCallHeader.version, 0, 0])
            socket.call(id: 4, SocketCallHeader(app: "testapp", function: "add", wantsOutput: false, timeout: "soon"), body: "[1,2]")
            socket.call(id: 5, SocketCallHeader(app: "testapp", function: "add", wantsOutput: false), body: "[1,2]")
            var answers: [UInt64: (kind: WorkerFrame.Kind?, payload: String)] = [:]
            while answers.count < 5, let frame = try await offPool({ socket.read() }) {
                answers[frame.id] = (frame.kind, frame.payload)
            }
            #expect(answers[1]?.kind == .failure && answers[1]?.payload.contains("over the daemon's limit of 1000 bytes") == true, "\(String(describing: answers[1]))")
            #expect(answers[2]?.kind == .failure && answers[2]?.payload.contains("version 9") == true, "\(String(describing: answers[2]))")
            #expect(answers[3]?.kind == .failure && answers[3]?.payload.contains("shorter than its header") == true, "\(String(describing: answers[3]))")
            #expect(answers[4]?.kind == .failure && answers[4]?.payload.contains("Hoist-Timeout must be a positive number") == true, "\(String(describing: answers[4]))")
            #expect(answers[5]?.kind == .result && answers[5]?.payload == "3", "\(String(describing: answers[5]))")
        }
    }
}
