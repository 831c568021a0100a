import Foundation
import Testing
@testable import HoistAWS

/// A `hoist lambda serve` of the test's own (`.build/debug/hoist`, built by `swift build`), on a
/// port the kernel picks and a home of its own; stopped by its pid.
final class LocalLambdaServer: Sendable {
    let url: String
    let home: String
    private let process: Process

    static let hoist = TestZip.packageRoot + "/.build/debug/hoist"
    static let testApp = TestZip.packageRoot + "/.build/debug/hoist-test-app"

    init() async throws {
        home = NSTemporaryDirectory() + "hoist-aws-lambda-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.hoist)
        // Its functions are the test app's; a Python is given only when there is a real one (the
        // server refuses a --python that cannot import awslambdaric).
        let python = MotoServer.python == "/usr/bin/env" ? [] : ["--python", MotoServer.python]
        process.arguments = ["lambda", "serve", "--port", "0", "--home", home] + python
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        var port = 0
        for _ in 0..<400 where port == 0 && process.isRunning {
            if let text = try? String(contentsOfFile: home + "/lambda.port", encoding: .utf8) { port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }
            if port == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        url = "http://127.0.0.1:\(port)"
        if port == 0 { stop() }
        try #require(port > 0, "hoist lambda serve did not start (\(Self.hoist))")
    }

    /// A client for this server: any credentials do.
    var lambda: LambdaAPI {
        let credentials = AWSCredentials(accessKeyID: "AKIDLOCAL", secretAccessKey: "local")
        return LambdaAPI(client: AWSClient(config: AWSConfig(credentials: credentials, region: "us-east-1", endpoints: [.lambda: url])))
    }

    /// The test app as a function: a zip whose `bootstrap` runs the debug build.
    static func testAppZip() throws -> Data {
        try TestZip.bootstrap("#!/bin/sh\nexec '\(testApp)'\n")
    }

    /// SIGKILL by pid: a child of the test runner may not see SIGTERM.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: home)
    }

    deinit { stop() }
}
