import Foundation
import Testing

/// `.to(.awsLambda)` and `LambdaFunction` end to end: the release-built test app deploys its own
/// functions to a local Lambda (`AWS_ENDPOINT_URL`), which runs them for real.
@Suite("LambdaFunction against the local Lambda")
struct LambdaFunctionTests {
    static let releaseTestApp = Binaries.packageRoot + "/.build-lambda/release/hoist-test-app"

    /// Python handler files: the handler's module imports another file of the zip.
    static func handlerDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "hoist-handlers-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "from util import add\n\ndef my_calc(event, context):\n    return add(event[0], event[1])\n"
            .write(toFile: directory + "/handler.py", atomically: true, encoding: .utf8)
        try "def add(a, b):\n    return int(a) + int(b)\n".write(toFile: directory + "/util.py", atomically: true, encoding: .utf8)
        return directory
    }

    @Test("deploy, an unchanged redeploy, calls, errors, output, a map of 200, streams, an S3 event, logs, Event runs, a Function URL, Python handler files, teardown")
    func endToEnd() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.releaseTestApp), "scripts/test builds \(Self.releaseTestApp) before the tests")
        let python = try #require(TestLambda.python, "the tests' virtualenv (scripts/test) has awslambdaric for Python handlers")
        let lambda = try TestLambda()
        defer { lambda.shutdown() }
        let home = NSTemporaryDirectory() + "hoist-lambda-home-" + UUID().uuidString.prefix(8)
        let handlers = try Self.handlerDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: handlers)
        }
        let output = try await Task.detached {
            try Command.run(Self.releaseTestApp, ["lambda"], environment: [
                "HOIST_HOME": home, "AWS_ENDPOINT_URL": lambda.url, "AWS_ACCESS_KEY_ID": "AKIDLOCALLAMBDA", "AWS_SECRET_ACCESS_KEY": "local-secret",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": home + "/no-aws-config", "AWS_SHARED_CREDENTIALS_FILE": home + "/no-aws-credentials",
                "AWS_PROFILE": "", "HOIST_TEST_HANDLER_DIR": handlers, "HOIST_PYTHON": python,
            ])
        }.value
        let values = output.values
        #expect(output.status == 0, "\(output.stderr)")
        #expect(values["add"] == "5", "\(output.stdout)\n\(output.stderr)")
        #expect(values["addSaved"] == "provided.al2023 add 30 256")
        #expect(values["codeUnchanged"] == "true")
        #expect(values["refuseType"]?.hasSuffix("Refusal") == true, "\(values)")
        #expect(values["refuseMessage"]?.contains("no thanks") == true)
        // What the function printed comes back with the call, prefixed with its name.
        #expect(values["shout"] == "LOUD" && output.stdout.contains("[shout] shouting loud"), "\(output.stdout)")
        #expect(values["mapCount"] == "200")
        #expect(Int(values["mapProcesses"] ?? "") ?? 0 > 1, "a map runs in several environments at once: \(values["mapProcesses"] ?? "")")
        #expect(values["stream"] == "[0, 1, 2]")
        #expect(values["failAfter"]?.hasPrefix("2 then ") == true && values["failAfter"]?.contains("stopped after 2") == true, "\(values["failAfter"] ?? "")")
        #expect(values["s3Keys"] == #"["cats/tom.jpg"]"#)
        #expect(values["chatter"] == "2")
        #expect(values["logsHaveLine"] == "true" && values["logsLaterEmpty"] == "true")
        #expect(values["runStatus"] == "succeeded" && values["runTouched"] == "true", "\(values)")
        #expect(values["failedRun"]?.hasPrefix("failed: ") == true && values["failedRun"]?.contains("queued refusal") == true, "\(values["failedRun"] ?? "")")
        #expect(values["urlScheme"] == "http" && values["urlAnswer"] == "42" && values["urlSaved"] == "true", "\(values)")
        #expect(values["python"] == "[3, 7]", "\(values["python"] ?? "")\n\(output.stderr)")
        #expect(values["pythonError"] == "ValueError with trace", "\(values["pythonError"] ?? "")")
        #expect(values["built"] == "42", "\(values["built"] ?? "")")
        let saved = Set((values["saved"] ?? "").split(separator: ",").map(String.init))
        #expect(saved.isSuperset(of: ["add", "refuse", "shout", "sleepy", "countTo", "failAfter", "s3-keys", "chatter", "touch"]), "\(saved)")
        #expect(!saved.contains("handler") && !saved.contains("add-built"), "torn down: \(saved)")
        #expect(!(values["afterTeardown"] ?? "add").split(separator: ",").contains("add"))
        #expect(values["afterTeardownCall"]?.contains("ResourceNotFoundException") == true, "\(values["afterTeardownCall"] ?? "")")

        // The local Lambda really lost the function, its role and its log group.
        let gone = try await lambda.request("GET", "/2015-03-31/functions/add")
        #expect(gone.status == 404)
    }
}
