import Foundation
import HoistClient
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("Output streaming", .serialized)
struct OutputTests {
    /// Collects what a call printed, by stream.
    final class Collected: Sendable {
        let chunks = NIOLockedValueBox<(out: String, err: String, count: Int)>(("", "", 0))
        var handler: DaemonClient.OutputHandler {
            { kind, bytes in
                self.chunks.withLockedValue {
                    if kind == .stderr { $0.err += String(buffer: bytes) } else { $0.out += String(buffer: bytes) }
                    $0.count += 1
                }
            }
        }
        var out: String { chunks.withLockedValue { $0.out } }
        var err: String { chunks.withLockedValue { $0.err } }
    }

    @Test("two concurrent callers each get exactly their own lines", arguments: [1, 2])
    func noCrossTalk(replicas: Int) async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: replicas))
            let a = Collected()
            let b = Collected()
            async let first = daemon.call("chatter", #"["A", 20]"#, output: a.handler)
            async let second = daemon.call("chatter", #"["B", 20]"#, output: b.handler)
            #expect(try await first == "20")
            #expect(try await second == "20")
            let expectedA = (0..<20).map { "A line \($0)\n" }.joined()
            let expectedB = (0..<20).map { "B line \($0)\n" }.joined()
            #expect(a.out == expectedA)
            #expect(b.out == expectedB)
            #expect(a.err == (0..<20).map { "A err \($0)\n" }.joined())
            #expect(b.err == (0..<20).map { "B err \($0)\n" }.joined())
        }
    }

    @Test("output arrives while the call is still running")
    func streamsDuringCall() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            // The function waits for this file; the caller creates it when the function's first
            // line arrives. A result of true proves the line came while the call ran.
            let path = daemon.home.root + "/handshake"
            let handler: DaemonClient.OutputHandler = { kind, bytes in
                if kind == .stdout, String(buffer: bytes).contains("waiting for") {
                    _ = FileManager.default.createFile(atPath: path, contents: nil)
                }
            }
            #expect(try await daemon.call("handshake", "\"\(path)\"", output: handler) == "true")
        }
    }

    @Test("callers that do not ask for output get none, and it goes to the app log")
    func quietCalls() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            #expect(try await daemon.call("shout", #""quietly""#) == #""QUIETLY""#)
            let log = try await daemon.client.logs(app: "testapp")
            #expect(log.contains("shouting quietly"))
        }
    }

    @Test("a quiet call's output reaches the app log while the call still runs")
    func quietOutputStreamsToLog() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            // Standard output is buffered in the worker: this line reaches the log only through
            // the periodic flush, and the function returns true only once the test has seen it.
            let path = daemon.home.root + "/handshake-quiet"
            let watcher = Task {
                for _ in 0..<6000 {
                    let log = (try? String(contentsOfFile: daemon.home.appLog("testapp"), encoding: .utf8)) ?? ""
                    if log.contains("waiting for \(path)") {
                        _ = FileManager.default.createFile(atPath: path, contents: nil)
                        return true
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                return false
            }
            #expect(try await daemon.call("handshake", "\"\(path)\"") == "true")
            #expect(try await watcher.value)
        }
    }

    @Test("a print larger than the capture pipe reaches the caller whole")
    func printLargerThanPipe() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let collected = Collected()
            let bytes = 3 << 20
            #expect(try await daemon.call("loud", String(bytes), output: collected.handler) == String(bytes))
            let out = collected.out
            #expect(out.utf8.count == bytes + 1)
            #expect(out.utf8.allSatisfy { $0 == UInt8(ascii: "y") || $0 == 10 })
            // And the worker still serves.
            #expect(try await daemon.call("shout", #""after""#, output: collected.handler) == #""AFTER""#)
            #expect(collected.out.hasSuffix("shouting after\n"))
        }
    }

    @Test("a line printed outside any call reaches the app log while the worker is idle")
    func printedOutsideCalls() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            // The line comes 1.5 s after the call, past the second in which the worker flushes on
            // its short timer: its idle timer (250 ms) takes it to the log.
            #expect(try await daemon.call("lateLine", "1500") == "true")
            let deadline = ContinuousClock.now + .seconds(10)
            while !daemon.appLog.contains("a line printed 1500 ms after its call"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(daemon.appLog.contains("a line printed 1500 ms after its call"), "\(daemon.appLog.suffix(2000))")
        }
    }

    @Test("a line printed outside any call and still buffered reaches the app log when the worker is stopped")
    func printedOutsideCallsBeforeStop() async throws {
        try await withDaemon { daemon in
            // An idle flush once a minute: the line waits in the worker's buffer until it stops.
            try await daemon.deploy(env: Env(environment: [HoistEnvironment.idleFlushMilliseconds: "60000"]))
            #expect(try await daemon.call("lateLine", "3000") == "true")
            try await Task.sleep(for: .milliseconds(4000))
            #expect(!daemon.appLog.contains("a line printed 3000 ms after its call"))
            daemon.stop()
            let log = try String(contentsOfFile: daemon.home.appLog("testapp"), encoding: .utf8)
            #expect(log.contains("a line printed 3000 ms after its call"), "\(log.suffix(2000))")
        }
    }

    @Test("a line printed just before a crash is in the app log")
    func printedBeforeCrash() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let error = await #expect(throws: HoistError.self) { _ = try await daemon.call("trap", #""printed""#, output: Collected().handler) }
            #expect(error?.code == .workerCrashed)
            #expect(error?.message.contains("the trap came after a print") == true, "\(String(describing: error))")
            let log = try String(contentsOfFile: daemon.home.appLog("testapp"), encoding: .utf8)
            #expect(log.contains("last words before the trap"), "\(log.suffix(2000))")
        }
    }
}
