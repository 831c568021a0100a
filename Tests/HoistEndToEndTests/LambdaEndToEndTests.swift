import Foundation
import HoistLambdaPackage
import Testing

@Suite("Lambda zips in the local Lambda")
struct LambdaEndToEndTests {
    @Test("the self-contained zip of the release-built app is created and invoked through the local Lambda")
    func packagedSwiftApp() async throws {
        let binary = Binaries.packageRoot + "/.build-lambda/release/hoist-test-app"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "scripts/test builds \(binary) (static stdlib, release) before the tests")
        let scratch = NSTemporaryDirectory() + "hoist-lambda-e2e-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let package = try await LambdaPackager.package(executable: binary, options: LambdaPackageOptions(outputDirectory: scratch, name: "testapp"))
        #expect(package.manifest.method == .bundledLoader)
        try await withLambda { lambda in
            let created = try await lambda.create("packaged", handler: "add", zip: package.zipPath)
            #expect(created.status == 201, "\(created.status) \(created.body.prefix(500))")
            let sum = try await lambda.invoke("packaged", "[40,2]", headers: ["X-Amz-Log-Type: Tail"])
            #expect(sum.status == 200 && sum.body == "42", "\(sum)")
            let tail = String(decoding: Data(base64Encoded: sum.headers["x-amz-log-result"] ?? "") ?? Data(), as: UTF8.self)
            #expect(tail.contains("Init Duration: "), "\(tail)")
        }
    }

    @Test("a packaged Python handler with its requirements runs through awslambdaric")
    func packagedPythonHandler() async throws {
        let python = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        let scratch = NSTemporaryDirectory() + "hoist-lambda-py-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createDirectory(atPath: scratch + "/src", withIntermediateDirectories: true)
        try "import six\n\ndef handle(event, context):\n    return {\"text\": six.text_type(event[\"n\"] * 2), \"six\": six.__file__}\n".write(toFile: scratch + "/src/app.py", atomically: true, encoding: .utf8)
        try "six\n".write(toFile: scratch + "/src/requirements.txt", atomically: true, encoding: .utf8)
        let package = try await LambdaPackager.package(handler: "app.handle", runtime: .python3_11, files: [scratch + "/src/app.py"],
                                                       options: LambdaPackageOptions(directory: scratch + "/src", outputDirectory: scratch, python: python))
        try await withLambda { lambda in
            let created = try await lambda.create("py", handler: "app.handle", zip: package.zipPath, runtime: "python3.11")
            #expect(created.status == 201, "\(created.body)")
            let answer = try await lambda.invoke("py", #"{"n": 21}"#)
            #expect(answer.json["text"] as? String == "42", "\(answer)")
            // six came from the zip, installed at package time, not from the machine's Python.
            #expect((answer.json["six"] as? String)?.hasPrefix(lambda.root + "/functions/py/") == true, "\(answer.body)")
        }
    }
}
