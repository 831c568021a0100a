import Foundation
import HoistClient
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

extension TestDaemon {
    func call(_ function: String, _ json: String, deadline: Double) async throws -> String {
        String(buffer: try await client.call(app: "testapp", function: function, body: ByteBuffer(string: json), deadline: deadline))
    }
}

@Suite("Timeouts and cancellation, enforced by the daemon", .serialized)
struct TimeoutTests {
    @Test("a cooperative function is cancelled at its deadline and the worker carries on")
    func cooperative() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            let started = ContinuousClock.now
            let error = await #expect(throws: HoistError.self) {
                _ = try await daemon.call("sleepy", "60000", deadline: 0.3)
            }
            #expect(error?.code == .timedOut)
            #expect(error?.message.contains("'sleepy'") == true)
            #expect(error?.message.contains("0.3 s") == true)
            // Answered at the deadline, not when the function would have finished (60 s): the
            // bound only tells the two apart, on a machine loaded by the rest of the suite.
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(try await daemon.whoami().pid == pid)
            #expect(try await daemon.call("add", "[1,2]", deadline: 5) == "3")
        }
    }

    @Test("a call queued behind a call that is cancelled on the same worker runs, not cancelled with it")
    func queuedBehindCancelled() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            // The first call waits for a file that never comes, and is cancelled at its deadline;
            // the second is sent once the first is running, so it waits behind it in the worker.
            let first = await daemon.callRunning("handshake", "\"\(daemon.home.root)/never\"", deadline: 3)
            let second = try await daemon.call("sleepy", "300")
            #expect(second == String(pid))
            let error = await #expect(throws: HoistError.self) { _ = try await first.value }
            #expect(error?.code == .timedOut)
            #expect(try await daemon.whoami().pid == pid)
        }
    }

    @Test("a deadline counts from when the worker starts the call, not while it waits behind another")
    func deadlineFromStart() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            let release = daemon.home.root + "/release"
            let first = await daemon.callRunning("handshake", "\"\(release)\"")
            // Both wait behind the first for 2 s on the one worker. The second then runs 0.1 s of
            // its 1.5 s; the third runs past its 1 s and times out a second after it started.
            let second = Task { try await daemon.call("sleepy", "100", deadline: 1.5) }
            let sent = ContinuousClock.now
            let third = Task { try await daemon.call("sleepy", "5000", deadline: 1) }
            try await Task.sleep(for: .seconds(2))
            FileManager.default.createFile(atPath: release, contents: nil)
            #expect(try await first.value == "true")
            #expect(try await second.value == String(pid))
            let error = await #expect(throws: HoistError.self) { _ = try await third.value }
            #expect(error?.code == .timedOut)
            #expect(ContinuousClock.now - sent > .seconds(2.5))
            #expect(try await daemon.whoami().pid == pid)
        }
    }

    @Test("a call cancelled while it waits behind another on the same worker answers at once; the running call goes on and its worker is not killed")
    func cancelledWhileQueued() async throws {
        try await withDaemon(extraEnvironment: ["HOIST_CANCEL_GRACE_MS": "300"]) { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            let release = daemon.home.root + "/release"
            let first = await daemon.callRunning("handshake", "\"\(release)\"")
            // The second waits behind the first in the worker until it is cancelled. On a loaded
            // machine the cancel can reach the daemon before the call does: the call is then
            // refused as cancelled before it started, and is sent again under a new id.
            var cancelled: CurlResult?
            for attempt in 1...5 {
                let key = "queued-\(attempt)"
                let answered = NIOLockedValueBox(false)
                let second = Task {
                    defer { answered.withLockedValue { $0 = true } }
                    return try await offPool { try daemon.curl("/testapp/handshake", ["-H", "Hoist-Call-Id: \(key)", "-d", "\"\(release)\""]) }
                }
                for _ in 0..<100 {
                    try await Task.sleep(for: .milliseconds(100))
                    cancelled = try daemon.curl("/_hoist/calls/\(key)/cancel", ["-X", "POST"])
                    if cancelled?.status == 200 || answered.withLockedValue({ $0 }) { break }
                }
                let answer = try await second.value
                #expect(answer.status == 499, "\(answer.body)")
                if cancelled?.status == 200 { break }
                #expect(answer.body.contains("before it started"), "\(answer.body)")
            }
            #expect(cancelled?.status == 200, "\(cancelled?.body ?? "")")
            // Past the grace period: a worker that never answered for the queued call would be
            // taken for stuck and killed, and the first call with it.
            try await Task.sleep(for: .seconds(1))
            FileManager.default.createFile(atPath: release, contents: nil)
            #expect(try await first.value == "true")
            #expect(try await daemon.whoami().pid == pid)
            #expect(!daemon.appLog.contains("did not stop"), "\(daemon.appLog)")
        }
    }

    @Test("a busy loop that ignores cancellation gets its worker killed and replaced after the grace period")
    func nonCooperative() async throws {
        try await withDaemon(extraEnvironment: ["HOIST_CANCEL_GRACE_MS": "300"]) { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            let error = await #expect(throws: HoistError.self) {
                _ = try await daemon.call("spin", "20000", deadline: 0.3)
            }
            #expect(error?.code == .timedOut)
            let replacement = try await daemon.whoami()
            #expect(replacement.pid != pid)
            #expect(daemon.appLog.contains("did not stop 'spin'"))
        }
    }

    @Test("a function's default timeout applies when the caller gives none")
    func functionDefault() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            #expect(try await daemon.call("bounded", "10") == "10")
            let error = await #expect(throws: HoistError.self) { _ = try await daemon.call("bounded", "5000") }
            #expect(error?.code == .timedOut)
            // A caller's deadline overrides the default.
            #expect(try await daemon.call("bounded", "600", deadline: 5) == "600")
        }
    }

    @Test("over HTTP: 504 at the deadline, 400 for a deadline that is not a positive number")
    func http() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let timedOut = try daemon.curl("/testapp/sleepy", ["-H", "Hoist-Timeout: 0.2", "-d", "5000"])
            #expect(timedOut.status == 504)
            #expect(timedOut.body.contains("timedOut"))
            for bad in ["0", "-1", "soon"] {
                let result = try daemon.curl("/testapp/add", ["-H", "Hoist-Timeout: \(bad)", "-d", "[1,2]"])
                #expect(result.status == 400, "\(bad)")
                #expect(result.body.contains("positive number of seconds"))
            }
            let cli = try daemon.hoist(["call", "testapp", "sleepy", "5000", "--timeout", "0.2", "--port", String(daemon.port)])
            #expect(cli.status == 4)
            #expect(cli.stderr.contains("did not finish within 0.2 s"))
        }
    }

    @Test("a call sent with an id is cancelled by `hoist cancel` (HTTP 499 to its caller); unknown ids are 404")
    func cancelByID() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let key = "cancel-me-\(UUID().uuidString.prefix(8))"
            let call = Task {
                try daemon.curl("/testapp/sleepy", ["-H", "Hoist-Call-Id: \(key)", "-d", "20000"])
            }
            var cancelled = Command.Output(status: -1, stdout: "", stderr: "")
            // Up to 15 s: a starved curl may reach the daemon late; the 20 s call still tells a
            // cancelled call from one that ran.
            for _ in 0..<150 {
                try await Task.sleep(for: .milliseconds(100))
                cancelled = try daemon.hoist(["cancel", key, "--port", String(daemon.port)])
                if cancelled.status == 0 { break }
            }
            let answer = try await call.value
            // A cancel that came before the call registered is remembered and stops it on arrival.
            #expect(cancelled.status == 0 || answer.body.contains("cancelled before it started"), "\(cancelled.stderr)")
            #expect(answer.status == 499)
            #expect(answer.body.contains("cancelled"))
            let again = try daemon.hoist(["cancel", key, "--port", String(daemon.port)])
            #expect(again.status == 2)
            #expect(again.stderr.contains("no call with id"))
            let bad = try daemon.curl("/testapp/add", ["-H", "Hoist-Call-Id: has space", "-d", "[1,2]"])
            #expect(bad.status == 400)
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("a cancel that arrives before its call (a caller cancelled while sending) stops the call when it arrives")
    func earlyCancel() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let key = "early-\(UUID().uuidString.prefix(8))"
            let cancel = try daemon.hoist(["cancel", key, "--port", String(daemon.port)])
            #expect(cancel.status == 2, "nothing is in flight yet, and the caller is told so")
            let start = ContinuousClock.now
            let answer = try daemon.curl("/testapp/sleepy", ["-H", "Hoist-Call-Id: \(key)", "-d", "20000"])
            #expect(answer.status == 499)
            #expect(answer.body.contains("cancelled before it started"), "\(answer.body)")
            #expect(ContinuousClock.now - start < .seconds(15), "the call ran instead of being cancelled")
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }
}
