import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Retries", .serialized)
struct RetryTests {
    /// Calls `function` (one that prints "waiting for PATH" and waits for PATH) under a retry
    /// policy, kills its worker once that line is in the app log, then creates PATH: only the
    /// retry on the replacement can finish the call. Returns its answer and the killed pid.
    static func killedWhileWaiting(_ daemon: TestDaemon, _ function: String, _ json: String, path: String) async throws -> (answer: String, victim: Int32) {
        let victim = try await daemon.whoami().pid
        let call = Task {
            try await daemon.client.call(app: "testapp", function: function, body: ByteBuffer(string: json), retry: RetryPolicy(attempts: 3, backoff: .milliseconds(50)))
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while !daemon.appLog.contains("waiting for \(path)"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(victim, SIGKILL)
        FileManager.default.createFile(atPath: path, contents: nil)
        return (String(buffer: try await call.value), victim)
    }

    @Test("a call whose worker is killed is retried under the policy and succeeds on the replacement")
    func crashedWorkerRetried() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let path = daemon.home.root + "/retry-handshake"
            let (answer, victim) = try await Self.killedWhileWaiting(daemon, "handshakePid", "\"\(path)\"", path: path)
            let pid = try #require(Int32(answer))
            #expect(pid != victim)
            #expect(daemon.appLog.contains("attempt 1 of 'handshakePid' failed"))
        }
    }

    @Test("a large argument is kept for the retry: the daemon lets go of large bodies once sent only without a policy")
    func largeBodyRetried() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let path = daemon.home.root + "/retry-bulk"
            let bulk = String(repeating: "b", count: 1 << 20)
            let (text, victim) = try await Self.killedWhileWaiting(daemon, "handshakeBulk", "[\"\(path)\", \"\(bulk)\"]", path: path)
            let answer = try JSONDecoder().decode([Int].self, from: Data(text.utf8))
            #expect(answer.count == 2 && answer[0] != Int(victim))
            #expect(answer.last == bulk.utf8.count)
            #expect(daemon.appLog.contains("attempt 1 of 'handshakeBulk' failed"))
        }
    }

    @Test("errors the function throws are retried only when the policy asks")
    func thrownErrors() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            await #expect(throws: RemoteError.self) {
                _ = try await daemon.client.call(app: "testapp", function: "flaky", body: ByteBuffer(string: #""a""#), retry: RetryPolicy(attempts: 3))
            }
            let retried = try await daemon.client.call(
                app: "testapp", function: "flaky", body: ByteBuffer(string: #""b""#),
                retry: RetryPolicy(attempts: 3, backoff: .zero, retryThrownErrors: true)
            )
            #expect(String(buffer: retried) == "2")
        }
    }

    @Test("a call cancelled while it waits out a retry pause ends then, and is not tried again")
    func cancelledDuringPause() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            // A pause longer than the daemon's memory of cancels that find no call (5 s): only a
            // cancel that reaches the pause itself can stop the second attempt.
            let policy = RetryPolicy(attempts: 2, backoff: .seconds(7), retryThrownErrors: true)
            let call = Task {
                try await daemon.client.call(app: "testapp", function: "flaky", body: ByteBuffer(string: #""paused""#), key: "paused-1", retry: policy)
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while !daemon.appLog.contains("attempt 1 of 'flaky' failed"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let failedAt = ContinuousClock.now
            let cancelled = try daemon.curl("/_hoist/calls/paused-1/cancel", ["-X", "POST"])
            #expect(cancelled.status == 200, "\(cancelled.body)")
            let error = await #expect(throws: HoistError.self) { _ = try await call.value }
            #expect(error?.code == .cancelled, "\(String(describing: error))")
            // Past the pause: had the second attempt run, `flaky` would have counted 2 for this
            // tag and this call would count 3.
            try await Task.sleep(until: failedAt + .seconds(8))
            #expect(String(buffer: try await daemon.client.call(app: "testapp", function: "flaky", body: ByteBuffer(string: #""paused""#))) == "2")
            #expect(daemon.appLog.contains("'flaky' was cancelled before attempt 2"))
        }
    }

    @Test("a bad retry header is a 400 that says what is expected")
    func badHeader() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            for value in ["attempts=0", "attempts=x", "tries=3", "attempts=2;backoff=-1"] {
                let result = try daemon.curl("/testapp/add", ["-H", "Hoist-Retry: \(value)", "-d", "[1,2]"])
                #expect(result.status == 400, "\(value)")
                #expect(result.body.contains("Hoist-Retry") || result.body.contains("attempts"), "\(value): \(result.body)")
            }
            #expect(throws: HoistError.self) { try RetryPolicy(attempts: 0).validate() }
        }
    }
}
