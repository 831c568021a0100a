import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `hoist lambda serve` of the test's own, on a port the kernel picks, with a home of its own;
/// stopped by its pid.
final class TestLambda: @unchecked Sendable {
    let root: String
    let process: Process
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    /// The virtualenv Python with boto3, the AWS CLI and awslambdaric, made by scripts/test.
    static var python: String? {
        let path = ProcessInfo.processInfo.environment["HOIST_TEST_PYTHON"] ?? Binaries.packageRoot + "/.build-testbed/venv/bin/python3"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// `home`: serve from an existing home (one a ``shutdown(keepingHome:)`` kept), as a restart;
    /// `python`: the `--python` to give (default: the tests' virtualenv's, when there is one).
    init(concurrency: Int = 100, keepWarm: Int? = nil, home: String? = nil, python: String? = TestLambda.python) throws {
        root = home ?? NSTemporaryDirectory() + "hoist-lambda-" + UUID().uuidString.prefix(8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.hoist)
        var arguments = ["lambda", "serve", "--port", "0", "--home", root, "--concurrency", String(concurrency)]
        if let python { arguments += ["--python", python] }
        if let keepWarm { arguments += ["--keep-warm", String(keepWarm)] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let log = root + ".log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        var port = 0
        while Date() < deadline {
            if let text = try? String(contentsOfFile: root + "/lambda.port", encoding: .utf8), let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = value
                break
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        self.port = port
        guard port > 0 else {
            // Its log is read before shutdown() removes it.
            let printed = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            shutdown()
            throw TestLambdaError(message: "hoist lambda serve did not start: \(printed)")
        }
    }

    func shutdown(keepingHome: Bool = false) {
        process.stop(grace: 5)
        guard !keepingHome else { return }
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: root + ".log")
    }

    /// A zip whose `bootstrap` runs the debug test app (the packaged, self-contained zip has
    /// tests of its own).
    static let testAppZip: String = {
        let directory = NSTemporaryDirectory() + "hoist-lambda-zip-" + UUID().uuidString.prefix(8)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/bootstrap", contents: Data("#!/bin/sh\nexec '\(Binaries.testApp)' \"$@\"\n".utf8), attributes: [.posixPermissions: 0o755])
        _ = try? Command.run("/usr/bin/zip", ["-q", "-j", directory + "/function.zip", directory + "/bootstrap"])
        return directory + "/function.zip"
    }()

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]) ?? [:] }
        var errorType: String? { headers["x-amzn-errortype"] }
    }

    /// A request with curl: the status, the headers (lower-case names) and the body. curl runs
    /// on a thread of its own, so that concurrent requests do not wait for the test's pool.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String] = []) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try self.requestNow(method, path, body: body, headers: headers) }) }.start()
        }
    }

    private func requestNow(_ method: String, _ path: String, body: String?, headers: [String]) throws -> Answer {
        let headerFile = NSTemporaryDirectory() + "hoist-lambda-headers-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["-X", method, "-D", headerFile, "-w", "\n%{http_code}"]
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["--data-binary", body] }
        let output = try Command.curl(arguments + [url + path])
        var lines = output.stdout.components(separatedBy: "\n")
        let status = Int(lines.removeLast()) ?? -1
        var parsed: [String: String] = [:]
        for line in ((try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "").components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: status, headers: parsed, body: lines.joined(separator: "\n"))
    }

    /// Creates a function of the test app (its handler names the function) from ``testAppZip``.
    @discardableResult
    func create(
        _ name: String, handler: String, timeout: Int = 30, zip: String = TestLambda.testAppZip, runtime: String = "provided.al2023",
        memorySize: Int? = nil, variables: [String: String]? = nil
    ) async throws -> Answer {
        let code = try Data(contentsOf: URL(fileURLWithPath: zip)).base64EncodedString()
        var input: [String: Any] = [
            "FunctionName": name, "Runtime": runtime, "Role": "arn:aws:iam::123456789012:role/test", "Handler": handler,
            "Timeout": timeout, "Code": ["ZipFile": code],
        ]
        if let memorySize { input["MemorySize"] = memorySize }
        if let variables { input["Environment"] = ["Variables": variables] }
        let path = NSTemporaryDirectory() + "hoist-lambda-create-" + UUID().uuidString.prefix(8)
        try JSONSerialization.data(withJSONObject: input).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await request("POST", "/2015-03-31/functions", body: "@" + path, headers: ["Content-Type: application/json"])
    }

    func invoke(_ name: String, _ payload: String, headers: [String] = []) async throws -> Answer {
        try await request("POST", "/2015-03-31/functions/\(name)/invocations", body: payload, headers: headers)
    }

    /// Every line of `function`'s log streams (`logs/aws/lambda/<name>/…`), stream after stream.
    func logLines(_ function: String) -> [String] {
        let group = root + "/logs/aws/lambda/" + function
        let files = (FileManager.default.enumerator(atPath: group)?.allObjects as? [String] ?? []).sorted()
        return files.flatMap { (try? String(contentsOfFile: group + "/" + $0, encoding: .utf8))?.components(separatedBy: "\n") ?? [] }
    }
}

struct TestLambdaError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

func withLambda<T>(concurrency: Int = 100, keepWarm: Int? = nil, _ body: (TestLambda) async throws -> T) async throws -> T {
    let lambda = try TestLambda(concurrency: concurrency, keepWarm: keepWarm)
    defer { lambda.shutdown() }
    return try await body(lambda)
}
