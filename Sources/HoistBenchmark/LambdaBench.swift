import AsyncHTTPClient
import Foundation
import Hoist
import HoistClient
import HoistLambda
import HoistLambdaPackage
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Sleeps `milliseconds`: the function of the concurrency figure.
let pause = Function("pause") { (milliseconds: Int) async throws -> Int in
    try await Task.sleep(for: .milliseconds(milliseconds))
    return milliseconds
}

/// `hoist-bench --lambda`: the local Lambda's figures. It runs `hoist lambda serve` in this
/// process on a port of its own, with this benchmark as the Swift function's bootstrap (a
/// one-line `exec` script, as the tests do) and a Python handler through awslambdaric.
enum LambdaBench {
    static func run(_ options: Options) async throws {
        let root = NSTemporaryDirectory() + "hoist-bench-lambda-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let python = options.lambdaPython ?? LocalLambdaSettings.findPython()
        let settings = LocalLambdaSettings(root: root, port: 0, concurrency: 200, python: python)
        let lambda = try LocalLambda(settings: settings)
        let server = Task { try await lambda.run() }
        defer { server.cancel() }
        var port = 0
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: settings.portFile, encoding: .utf8), let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) { port = value; break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard port > 0 else { throw HoistError(.daemonUnavailable, "the local Lambda did not start") }
        let base = "http://127.0.0.1:\(port)"
        let http = DaemonClient.sharedHTTPClient
        print("")
        print("Local Lambda (hoist lambda serve, in this process)")

        let work = root + "/zip"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: work + "/bootstrap", contents: Data("#!/bin/sh\nexec '\(ProcessSupport.executablePath)'\n".utf8), attributes: [.posixPermissions: 0o755])
        let swiftZip = try zip(work, files: ["bootstrap"])

        let createStart = ContinuousClock.now
        try await create(http, base, name: "add", runtime: "provided.al2023", handler: "add", zip: swiftZip)
        let first = try await invoke(http, base, name: "add", payload: "[1,2]", tail: true)
        let cold = ContinuousClock.now - createStart
        print(HoistBench.row("cold start: create, then the first answer", HoistBench.ms(cold)))
        if let initLine = first.log.split(separator: "\t").first(where: { $0.hasPrefix("Init Duration: ") }) {
            print(HoistBench.row("Swift bootstrap init (exec to its first /next)", String(initLine.dropFirst("Init Duration: ".count))))
        }
        try await warm(http, base, name: "add", payload: "[1,2]", expect: "3", calls: options.lambdaCalls, label: "Swift")

        if let python {
            try "def add(event, context):\n    return event[0] + event[1]\n".write(toFile: work + "/handler.py", atomically: true, encoding: .utf8)
            let pythonZip = try zip(work, files: ["handler.py"])
            try await create(http, base, name: "pyadd", runtime: "python3.11", handler: "handler.add", zip: pythonZip)
            try await warm(http, base, name: "pyadd", payload: "[1,2]", expect: "3", calls: options.lambdaCalls, label: "Python (awslambdaric)")
            let script = packageRoot + "/scripts/bench/lambda_boto3.py"
            if FileManager.default.fileExists(atPath: script) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = [script, base, "add", String(min(options.lambdaCalls, 2000))]
                let pipe = Pipe()
                process.standardOutput = pipe
                try process.run()
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                print(HoistBench.row("warm invoke through boto3, Swift function, p50 / p99", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
            }
        } else {
            print("  (no Python with awslambdaric: the Python rows are left out; --lambda-python PATH)")
        }

        try await create(http, base, name: "pause", runtime: "provided.al2023", handler: "pause", zip: swiftZip)
        for phase in ["cold", "warm"] {
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<32 {
                    group.addTask { _ = try await invoke(http, base, name: "pause", payload: "1000", tail: false) }
                }
                try await group.waitForAll()
            }
            print(HoistBench.row("32 concurrent invocations of a 1 s function (\(phase))", HoistBench.ms(ContinuousClock.now - start)))
        }
        try await zipSizes(root: root)
        try await throughHoist(base: base, root: root, options: options)
    }

    /// The sizes of the zip a Hoist app becomes: this benchmark's own binary, packaged as
    /// `hoist lambda package --executable` packages one (stripped; its loader and libraries
    /// bundled when it is dynamically linked). Figures only, no time.
    static func zipSizes(root: String) async throws {
        let options = LambdaPackageOptions(outputDirectory: root + "/package", name: "hoist-bench")
        do {
            let package = try await LambdaPackager.package(executable: ProcessSupport.executablePath, options: options)
            let sizes = LambdaLimits.format(package.zippedSize) + " zipped, " + LambdaLimits.format(package.unzippedSize) + " unzipped"
            print(HoistBench.row("Lambda zip of this binary (\(package.manifest.method.rawValue))", sizes))
            try? FileManager.default.removeItem(atPath: package.zipPath)
        } catch {
            print("  (the Lambda zip's sizes are left out: \(error))")
        }
    }

    /// `.to(.awsLambda)` against this local Lambda: what a user of Hoist's Lambda system sees,
    /// beside the raw Invoke figures above.
    static func throughHoist(base: String, root: String, options: Options) async throws {
        // Everything of Hoist's Lambda system goes to the local Lambda; saved functions and the
        // packaged zip live in a home of the benchmark's own.
        setenv("AWS_ENDPOINT_URL", base, 1)
        setenv("AWS_ACCESS_KEY_ID", "AKIDHOISTBENCH", 1)
        setenv("AWS_SECRET_ACCESS_KEY", "hoist-bench", 1)
        setenv("HOIST_HOME", root + "/home", 1)
        let system = System.awsLambda(options: LambdaOptions(timeout: .seconds(30), retentionDays: nil))
        // The raw rows made an "add" of their own: this deploy is a first one.
        try await LambdaAPI(client: AWSClient(config: try AWSConfig.load())).deleteFunction("add")
        let firstStart = ContinuousClock.now
        let remote = try await add.to(system)
        print(HoistBench.row(".to(.awsLambda): first deploy (package, create)", HoistBench.ms(ContinuousClock.now - firstStart)))
        var redeploys: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = try await add.to(system)
            redeploys.append(ContinuousClock.now - start)
        }
        redeploys.sort()
        print(HoistBench.row(".to(.awsLambda): unchanged redeploy, p50", HoistBench.ms(redeploys[redeploys.count / 2])))
        let quiet = remote.quiet()
        for _ in 0..<100 { _ = try await quiet(1, 2) }
        var times: [Duration] = []
        for _ in 0..<options.lambdaCalls {
            let start = ContinuousClock.now
            let sum = try await quiet(1, 2)
            times.append(ContinuousClock.now - start)
            precondition(sum == 3)
        }
        times.sort()
        print(HoistBench.row("warm call, RemoteFunction on Lambda, p50/p99", HoistBench.ms(times[times.count / 2]) + " / " + HoistBench.ms(times[times.count * 99 / 100])))
        for (count, inFlight) in [(1000, 64), (10_000, 64), (10_000, 16)] {
            let inputs = (0..<count).map { ($0, 1) }
            let start = ContinuousClock.now
            let sums = try await quiet.starmap(inputs, maxInFlight: inFlight)
            precondition(sums.count == count && sums[count - 1] == count)
            print(HoistBench.row("Lambda map, \(count) inputs, \(inFlight) in flight", HoistBench.ms(ContinuousClock.now - start)))
        }
        try? await LambdaFunction.named("add").teardown()
    }

    static var packageRoot: String {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        return root.path
    }

    static func warm(_ http: HTTPClient, _ base: String, name: String, payload: String, expect: String, calls: Int, label: String) async throws {
        for _ in 0..<100 { _ = try await invoke(http, base, name: name, payload: payload, tail: false) }
        var times: [Duration] = []
        for _ in 0..<calls {
            let start = ContinuousClock.now
            let answer = try await invoke(http, base, name: name, payload: payload, tail: false)
            times.append(ContinuousClock.now - start)
            precondition(answer.body == expect, "\(name) answered \(answer.body)")
        }
        times.sort()
        print(HoistBench.row("warm invoke, \(label), p50 / p99", HoistBench.ms(times[times.count / 2]) + " / " + HoistBench.ms(times[times.count * 99 / 100])))
    }

    static func zip(_ directory: String, files: [String]) throws -> String {
        let path = directory + "/\(files[0]).zip"
        try? FileManager.default.removeItem(atPath: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/zip")
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.arguments = ["-q", path] + files
        try process.run()
        process.waitUntilExit()
        return path
    }

    static func create(_ http: HTTPClient, _ base: String, name: String, runtime: String, handler: String, zip: String) async throws {
        let code = try Data(contentsOf: URL(fileURLWithPath: zip)).base64EncodedString()
        var request = HTTPClientRequest(url: base + "/2015-03-31/functions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"FunctionName":"\#(name)","Runtime":"\#(runtime)","Role":"arn:aws:iam::123456789012:role/bench","Handler":"\#(handler)","Timeout":30,"Code":{"ZipFile":"\#(code)"}}"#))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created else { throw HoistError(.badResponse, "create \(name): \(response.status) \(String(buffer: body))") }
    }

    static func invoke(_ http: HTTPClient, _ base: String, name: String, payload: String, tail: Bool) async throws -> (body: String, log: String) {
        var request = HTTPClientRequest(url: base + "/2015-03-31/functions/\(name)/invocations")
        request.method = .POST
        if tail { request.headers.add(name: "X-Amz-Log-Type", value: "Tail") }
        request.body = .bytes(ByteBuffer(string: payload))
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 8 << 20)
        let log = response.headers.first(name: "X-Amz-Log-Result").flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return (String(buffer: body), log)
    }
}
