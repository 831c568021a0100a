import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

@Suite("Crash reports", .serialized)
struct CrashTests {
    /// The line of TestApp.swift that traps for `kind` (marked `// trap: kind` there).
    static func trapLine(_ kind: String) throws -> Int {
        let source = try String(contentsOfFile: Binaries.packageRoot + "/Tests/Fixtures/TestApp/TestApp.swift", encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        return try #require(lines.firstIndex { $0.hasSuffix("// trap: \(kind)") }) + 1
    }

    @Test("each kind of trap reaches the caller at once with its message, file and line, and the next call is served", .serialized,
          arguments: [("overflow", "arithmetic overflow"), ("fatal", "Fatal error: the trap function gave up"),
                      ("nil", "Fatal error: Unexpectedly found nil while unwrapping an Optional value"), ("index", "Fatal error: Index out of range")])
    func trapReported(kind: String, message: String) async throws {
        try await withDaemon { daemon in
            _ = try await daemon.deploy()
            let place = "TestApp.swift:\(try Self.trapLine(kind))"
            let started = ContinuousClock.now
            let error = await #expect(throws: HoistError.self) { _ = try await daemon.call("trap", "\"\(kind)\"") }
            // Not a speed figure (0.3–0.5 s on an idle machine; up to 16 s was seen with every
            // suite running at once on 2 cores): a bound that only catches a report that hangs.
            #expect(ContinuousClock.now - started < .seconds(60), "the crash took \(ContinuousClock.now - started) to report")
            #expect(error?.code == .workerCrashed)
            #expect(error?.message.contains(message) == true, "\(String(describing: error))")
            #expect(error?.message.contains("at \(place)") == true, "no \(place) in \(String(describing: error))")
            #expect(error?.message.contains("SIGILL") == true && error?.message.contains("'trap'") == true)
            // The first frames, from the app's own code on.
            #expect(error?.message.contains("closure #1 in HoistTestApp.trap (\(place))") == true, "\(String(describing: error))")
            #expect(try await daemon.call("add", "[2,3]") == "5")
            // The full report is in the app log.
            let log = try String(contentsOfFile: daemon.home.appLog("testapp"), encoding: .utf8)
            #expect(log.contains("crashed (signal 4, SIGILL): \(message.hasPrefix("Fatal") ? message : "Swift runtime failure: \(message)") at \(place)"), "\(log.suffix(3000))")
            #expect(log.contains("crashed thread:\n  #0 "))
        }
    }

    @Test("a crash report is in the 502 body for HTTP callers and in the run's record")
    func crashReportOverHTTPAndInRuns() async throws {
        try await withDaemon { daemon in
            _ = try await daemon.deploy()
            let place = "TestApp.swift:\(try Self.trapLine("nil"))"
            let answer = try daemon.curl("/testapp/trap", ["-d", #""nil""#])
            #expect(answer.status == 502)
            #expect(answer.body.contains("Unexpectedly found nil") && answer.body.contains(place), "\(answer.body)")
            // With the first frames, as a Swift caller gets them.
            #expect(answer.body.contains("closure #1 in HoistTestApp.trap (\(place))"), "\(answer.body)")
            let key = try await daemon.client.spawn(app: "testapp", function: "trap", body: ByteBuffer(string: #""index""#))
            let record = try await daemon.client.waitForRun(key, timeout: 20)
            #expect(record.status == .failed)
            let indexPlace = "TestApp.swift:\(try Self.trapLine("index"))"
            #expect(record.failure?.message.contains("Index out of range at \(indexPlace)") == true, "\(String(describing: record.failure))")
            #expect(record.failure?.message.contains("closure #1 in HoistTestApp.trap (\(indexPlace))") == true, "\(String(describing: record.failure))")
        }
    }
}
