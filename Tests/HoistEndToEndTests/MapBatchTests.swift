import Foundation
import HoistClient
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// One line of a map's newline-delimited answer.
private struct Line: Decodable {
    struct Failure: Decodable {
        var kind: String
        var message: String
    }
    var index: Int
    var result: Int?
    var error: Failure?
}

private func lines(_ body: String) throws -> [Line] {
    try body.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
}

@Suite("Maps as batches: POST /{app}/{function}/map", .serialized)
struct MapBatchTests {
    @Test("one line per input in input order; a failing input fails alone; bad batches get 400/404")
    func ndjson() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            let squares = try daemon.curl("/testapp/square/map", ["-d", "[" + (1...30).map(String.init).joined(separator: ",") + "]"])
            #expect(squares.status == 200)
            let answered = try lines(squares.body)
            #expect(answered.map(\.index) == Array(0..<30))
            for (line, n) in zip(answered, 1...30) {
                if n % 7 == 0 {
                    #expect(line.error?.kind == "threw" && line.error?.message.contains("\(n) is") == true, "\(n): \(squares.body)")
                } else {
                    #expect(line.result == n * n)
                }
            }
            // Inputs as a call takes them: arrays, objects by name; one bad input fails alone.
            let mixed = try lines(try daemon.curl("/testapp/add/map", ["-d", #"[[1,2], {"a":3,"b":4}, [1], [5,6]]"#]).body)
            #expect(mixed.map(\.result) == [3, 7, nil, 11])
            #expect(mixed[2].error?.kind == "badArguments")
            #expect(try daemon.curl("/testapp/add/map", ["-d", "[]"]).body.isEmpty)

            let cases: [(String, String, Int, String)] = [
                ("/testapp/add/map", "[[1,2]", 400, "the body of a map must be a JSON array"),
                ("/testapp/add/map", #"{"a":1}"#, 400, "expected '['"),
                ("/testapp/nosuch/map", "[1]", 404, "no function 'nosuch'"),
                ("/nosuchapp/add/map", "[1]", 404, "no app named 'nosuchapp'"),
                ("/testapp/countTo/map", "[[1,0]]", 400, "streams its results"),
            ]
            for (path, body, status, fragment) in cases {
                let answer = try daemon.curl(path, ["-d", body])
                #expect(answer.status == status, "\(path) \(body): \(answer.body)")
                #expect(answer.body.contains(fragment), "\(path) \(body): \(answer.body)")
            }
            let window = try daemon.curl("/testapp/add/map", ["-H", "\(MapWire.inFlightHeader): 0", "-d", "[[1,2]]"])
            #expect(window.status == 400 && window.body.contains(MapWire.inFlightHeader))
            // The route is behind the same gate as calls: no token, no map.
            let anonymous = try curl(daemon.baseURL + "/testapp/add/map", ["-d", "[[1,2]]"])
            #expect(anonymous.status == 401)
            #expect(try daemon.curl("/openapi.json").body.contains("/testapp/add/map"))
        }
    }

    @Test("each input keeps its deadline; a crash fails its input alone and the rest run, also inside a chunk")
    func deadlinesAndCrashes() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            // The slow input passes its deadline; the quick ones after it do not wait behind it.
            let timed = try lines(try daemon.curl("/testapp/sleepy/map", ["-H", "\(CallTimeout.header): 3", "-d", "[10, 20000, 10, 10, 10, 10]"]).body)
            #expect(timed.map(\.index) == Array(0..<6))
            #expect(timed[1].error?.kind == "timedOut", "\(timed)")
            #expect([timed[0], timed[2], timed[3], timed[4], timed[5]].allSatisfy { $0.result != nil }, "\(timed)")
            // Forty inputs with a deadline go in chunks of five (two a worker at a time): input 12
            // passes its deadline, and the inputs queued behind it in its chunk wait 2.5 s for it
            // and still have their whole deadline, which counts from each input's own start.
            let sleeps = (0..<40).map { $0 == 12 ? "20000" : "10" }
            let chunkTimed = try lines(try daemon.curl("/testapp/sleepy/map", ["-H", "\(CallTimeout.header): 2.5", "-d", "[" + sleeps.joined(separator: ",") + "]"]).body)
            #expect(chunkTimed.map(\.index) == Array(0..<40))
            #expect(chunkTimed[12].error?.kind == "timedOut", "\(chunkTimed[12])")
            #expect(chunkTimed.enumerated().allSatisfy { $0.offset == 12 || $0.element.result != nil }, "\(chunkTimed)")

            let crashed = try lines(try daemon.curl("/testapp/trap/map", ["-d", #"["none", "fatal", "none", "none", "none"]"#]).body)
            #expect(crashed.map(\.result) == [0, nil, 0, 0, 0])
            #expect(crashed[1].error?.kind == "workerCrashed")
            #expect(crashed[1].error?.message.contains("the trap function gave up") == true, "\(crashed[1])")
            // Forty inputs go in chunks of five: the inputs after the crash in its chunk, and the
            // chunk queued behind it on that worker, never started and run on a worker that lives.
            let kinds = (0..<40).map { $0 == 12 ? #""fatal""# : #""none""# }
            let chunked = try lines(try daemon.curl("/testapp/trap/map", ["-d", "[" + kinds.joined(separator: ",") + "]"]).body)
            #expect(chunked.map(\.index) == Array(0..<40))
            #expect(chunked[12].error?.kind == "workerCrashed", "\(chunked[12])")
            #expect(chunked.enumerated().allSatisfy { $0.offset == 12 || $0.element.result == 0 }, "\(chunked)")
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("inputs keep their retry policy in chunks: an input the policy retries is tried again on its own, the rest once")
    func retriesInChunks() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            func attempts(_ function: String) -> Int {
                daemon.appLog.components(separatedBy: "attempt 1 of '\(function)' failed").count - 1
            }
            // Each input throws on its first attempt: retried when the policy asks, and only then.
            let tags = (0..<20).map { "\"m\($0)\"" }.joined(separator: ",")
            let retried = try lines(try daemon.curl("/testapp/flaky/map", ["-H", "\(RetryPolicy.header): attempts=3;backoff=0;thrown=1", "-d", "[\(tags)]"]).body)
            #expect(retried.map(\.index) == Array(0..<20))
            #expect(retried.allSatisfy { $0.result == 2 }, "\(retried)")
            #expect(attempts("flaky") == 20)
            let others = (0..<10).map { "\"n\($0)\"" }.joined(separator: ",")
            let thrown = try lines(try daemon.curl("/testapp/flaky/map", ["-H", "\(RetryPolicy.header): attempts=3;backoff=0", "-d", "[\(others)]"]).body)
            #expect(thrown.allSatisfy { $0.error?.kind == "threw" }, "\(thrown)")
            #expect(attempts("flaky") == 20)
            // A crash is retried (by default), as a call of its own; it crashes again and fails
            // alone. The inputs after it in its chunk never started and run elsewhere, once.
            let kinds = (0..<40).map { $0 == 12 ? #""fatal""# : #""none""# }
            let crashed = try lines(try daemon.curl("/testapp/trap/map", ["-H", "\(RetryPolicy.header): attempts=2;backoff=0", "-d", "[" + kinds.joined(separator: ",") + "]"]).body)
            #expect(crashed.map(\.index) == Array(0..<40))
            #expect(crashed[12].error?.kind == "workerCrashed", "\(crashed[12])")
            #expect(crashed.enumerated().allSatisfy { $0.offset == 12 || $0.element.result == 0 }, "\(crashed)")
            #expect(attempts("trap") == 1)
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("cancelling a map by its Hoist-Call-Id cancels its inputs in flight and those not started")
    func cancelByKey() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            let started = ContinuousClock.now
            // Each input waits 10 s for a file that never appears, saying so in the app log.
            let never = daemon.home.root + "/never"
            let map = Task {
                try await offPool { try daemon.curl("/testapp/handshake/map", ["-H", "\(CallKey.header): batch-1", "-d", "[" + Array(repeating: "\"\(never)\"", count: 10).joined(separator: ",") + "]"]) }
            }
            // Cancel once the map runs (a cancel that came first would refuse the map instead).
            let deadline = ContinuousClock.now + .seconds(30)
            while !daemon.appLog.contains("waiting for \(never)") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let cancel = try daemon.curl("/_hoist/calls/batch-1/cancel", ["-X", "POST"])
            #expect(cancel.status == 200, "\(cancel.body)")
            let answered = try lines(try await map.value.body)
            // Ten 10 s inputs on two workers would take 50 s; the bound only tells cancelled from run.
            // Eight were sent to the workers (4 a worker), two not yet: both kinds answer cancelled.
            #expect(ContinuousClock.now - started < .seconds(25))
            #expect(answered.count == 10)
            #expect(answered.allSatisfy { $0.error?.kind == "cancelled" }, "\(answered)")
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("cancelling a map whose inputs wait out a retry pause ends them then; none is tried again")
    func cancelDuringRetryPause() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            // Each input throws on its first attempt; the pause before its second (7 s) outlasts
            // the daemon's memory of cancels that find no call (5 s).
            let tags = (0..<4).map { "\"p\($0)\"" }.joined(separator: ",")
            let map = Task {
                try await offPool { try daemon.curl("/testapp/flaky/map", ["-H", "\(CallKey.header): paused-map", "-H", "\(RetryPolicy.header): attempts=2;backoff=7;thrown=1", "-d", "[\(tags)]"]) }
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while daemon.appLog.components(separatedBy: "attempt 1 of 'flaky' failed").count - 1 < 4, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let failedAt = ContinuousClock.now
            let cancel = try daemon.curl("/_hoist/calls/paused-map/cancel", ["-X", "POST"])
            #expect(cancel.status == 200, "\(cancel.body)")
            let answered = try lines(try await map.value.body)
            #expect(answered.map(\.index) == Array(0..<4))
            #expect(answered.allSatisfy { $0.error?.kind == "cancelled" }, "\(answered)")
            // Past the pause: an input tried again would have counted 2 for its tag, and this
            // call would count 3.
            try await Task.sleep(until: failedAt + .seconds(8))
            #expect(try await daemon.call("flaky", "\"p2\"") == "2")
            #expect(daemon.appLog.components(separatedBy: "'flaky' was cancelled before attempt 2").count - 1 == 4, "\(daemon.appLog)")
        }
    }

    @Test("a caller that hangs up mid-map or mid-call has its inputs and its call cancelled, and the workers serve the next call at once")
    func hangUp() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            // Each input waits 10 s for a file that never appears; curl gives up after 2 s and
            // closes its connection, sending nothing else: the daemon learns it only from the close.
            // Had the work run on, the next call would wait behind it for 8 s or more; the bound
            // only tells cancelled from run.
            let never = daemon.home.root + "/never"
            let map = try await offPool { try daemon.curl("/testapp/handshake/map", ["--max-time", "2", "-d", "[" + Array(repeating: "\"\(never)\"", count: 6).joined(separator: ",") + "]"]) }
            #expect(!map.body.contains("\"result\""), "\(map.body)")
            var hungUp = ContinuousClock.now
            #expect(try await daemon.call("add", "[1,2]") == "3")
            #expect(try await daemon.call("add", "[3,4]") == "7")
            #expect(ContinuousClock.now - hungUp < .seconds(5), "after the map")

            // Two calls, one a worker.
            async let first = offPool { try daemon.curl("/testapp/handshake", ["--max-time", "2", "-d", "\"\(never)\""]) }
            async let second = offPool { try daemon.curl("/testapp/handshake", ["--max-time", "2", "-d", "\"\(never)\""]) }
            let calls = try await [first, second]
            #expect(calls.map(\.status) == [0, 0], "\(calls.map(\.body))")
            hungUp = ContinuousClock.now
            #expect(try await daemon.call("add", "[1,2]") == "3")
            #expect(try await daemon.call("add", "[3,4]") == "7")
            #expect(ContinuousClock.now - hungUp < .seconds(5), "after the call")

            // The same for calls whose output streams back as call-stream records.
            let streamed = ["--max-time", "2", "-H", "Accept: \(CallStream.mediaType)", "-d", "\"\(never)\""]
            async let third = offPool { try daemon.curl("/testapp/handshake", streamed) }
            async let fourth = offPool { try daemon.curl("/testapp/handshake", streamed) }
            let streamedCalls = try await [third, fourth]
            #expect(streamedCalls.allSatisfy { !$0.body.contains("result") }, "\(streamedCalls.map(\.body))")
            hungUp = ContinuousClock.now
            #expect(try await daemon.call("add", "[1,2]") == "3")
            #expect(try await daemon.call("add", "[3,4]") == "7")
            #expect(ContinuousClock.now - hungUp < .seconds(5), "after the streamed call")
        }
    }

    @Test("an input's outcome is answered once the inputs before it have theirs, not when its chunk ends")
    func outcomesStream() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 1))
            // 8 inputs on one worker go in chunks of 2 (in whichever order they reach it). The
            // second waits (up to 10 s) for a file this test makes only when the first's outcome
            // has come; the others return at once. Held for its chunk, the first outcome would
            // wait for the second input, which would give up and answer false.
            let ready = daemon.home.root + "/ready", release = daemon.home.root + "/release"
            FileManager.default.createFile(atPath: ready, contents: nil)
            let inputs = [ready, release] + Array(repeating: ready, count: 6)
            let answered = NIOLockedValueBox([Int: String]())
            try await daemon.client.map(app: "testapp", function: "handshake", inputs: inputs.map { Data("\"\($0)\"".utf8) }) { index, outcome in
                let text = try String(buffer: outcome.get())
                answered.withLockedValue { $0[index] = text }
                if index == 0 { FileManager.default.createFile(atPath: release, contents: nil) }
            }
            #expect(answered.withLockedValue { $0 } == Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, "true") }))
        }
    }

    @Test("Hoist's client gets indexed outcomes and the functions' output as it comes")
    func client() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))
            let outcomes = NIOLockedValueBox([Int: String]())
            let printed = NIOLockedValueBox(ByteBuffer())
            let inputs = (0..<20).map { Data(#"["t\#($0)", 2]"#.utf8) }
            try await daemon.client.map(app: "testapp", function: "chatter", inputs: inputs, output: { _, bytes in
                printed.withLockedValue { var bytes = bytes; $0.writeBuffer(&bytes) }
            }) { index, outcome in
                outcomes.withLockedValue { $0[index] = (try? outcome.get()).map { String(buffer: $0) } ?? "failed" }
            }
            #expect(outcomes.withLockedValue { $0 } == Dictionary(uniqueKeysWithValues: (0..<20).map { ($0, "2") }))
            let text = printed.withLockedValue { String(buffer: $0) }
            for tag in 0..<20 {
                #expect(text.contains("t\(tag) line 1") && text.contains("t\(tag) err 1"), "output of input \(tag) missing")
            }
            // Quiet: the output stays in the app log.
            let quiet = NIOLockedValueBox(0)
            try await daemon.client.map(app: "testapp", function: "chatter", inputs: [Data(#"["hushed", 1]"#.utf8)], output: nil) { _, outcome in
                _ = try outcome.get()
                quiet.withLockedValue { $0 += 1 }
            }
            #expect(quiet.withLockedValue { $0 } == 1)
            #expect(daemon.appLog.contains("hushed line 0"))
        }
    }
}
