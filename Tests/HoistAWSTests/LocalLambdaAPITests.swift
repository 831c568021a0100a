import Foundation
import Testing
@testable import HoistAWS

/// LambdaAPI's invocations against the local Lambda, where the test app really runs.
@Suite("LambdaAPI against hoist lambda serve")
struct LocalLambdaAPITests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func create(_ lambda: LambdaAPI, _ name: String, handler: String, timeout: Int = 30) async throws {
        let settings = LambdaFunctionSettings(role: "arn:aws:iam::123456789012:role/test", runtime: "provided.al2023", handler: handler, timeout: timeout)
        _ = try await lambda.createFunction(name: name, zip: try LocalLambdaServer.testAppZip(), settings: settings)
        try await lambda.waitUntilReady(name, maxWait: .seconds(10), pollInterval: .milliseconds(100))
    }

    @Test("invoke: a value with its log tail; a function error decoded; Event is 202 and DryRun 204")
    func invoke() async throws {
        let server = try await LocalLambdaServer()
        defer { server.stop() }
        let lambda = server.lambda
        try await Self.create(lambda, "add", handler: "add")
        let sum = try await lambda.invoke("add", payload: Array("[20,22]".utf8), logTail: true, functionTimeout: .seconds(30))
        #expect(sum.statusCode == 200 && Self.text(sum.payload) == "42")
        #expect(sum.logTail?.contains("START RequestId:") == true && sum.logTail?.contains("REPORT RequestId:") == true, "\(sum.logTail ?? "no tail")")

        // By ARN too: the client percent-encodes its colons, as botocore does.
        let arn = try #require(try await lambda.getFunction("add").functionArn)
        #expect(Self.text(try await lambda.invoke(arn, payload: Array("[1,2]".utf8)).payload) == "3")

        try await Self.create(lambda, "refuse", handler: "refuse")
        let error = await #expect(throws: LambdaFunctionError.self) {
            try await lambda.invoke("refuse", payload: Array(#""not today""#.utf8), logTail: true)
        }
        #expect(error?.kind == "Unhandled")
        #expect(error?.errorType?.contains("Refusal") == true, "\(error?.payload ?? "")")
        #expect(error?.errorMessage?.contains("not today") == true, "\(error?.payload ?? "")")
        #expect(error?.logTail != nil)

        let event = try await lambda.invoke("add", payload: Array("[1,2]".utf8), type: .event)
        #expect(event.statusCode == 202 && event.payload.isEmpty)
        let dryRun = try await lambda.invoke("add", payload: Array("[1,2]".utf8), type: .dryRun)
        #expect(dryRun.statusCode == 204)
        let missing = await #expect(throws: AWSError.self) { try await lambda.invoke("missing", payload: Array("{}".utf8)) }
        #expect(missing?.code == "ResourceNotFoundException")
    }

    @Test("a synchronous call lasts as long as the function may run; one past the function's timeout is Sandbox.Timedout")
    func functionTimeout() async throws {
        let server = try await LocalLambdaServer()
        defer { server.stop() }
        let lambda = LambdaAPI(client: server.lambda.client, invokeMargin: .seconds(5))
        try await Self.create(lambda, "sleepy", handler: "sleepy", timeout: 1)
        // The function's timeout raised from 1 s to 2 s: 1.5 s of work now completes.
        _ = try await lambda.updateFunctionConfiguration("sleepy", settings: .init(timeout: 2))
        try await lambda.waitUntilReady("sleepy", maxWait: .seconds(10), pollInterval: .milliseconds(100))
        let slow = try await lambda.invoke("sleepy", payload: Array("1500".utf8), functionTimeout: .seconds(2))
        #expect(Int(Self.text(slow.payload)) != nil)
        let error = await #expect(throws: LambdaFunctionError.self) {
            try await lambda.invoke("sleepy", payload: Array("4000".utf8), functionTimeout: .seconds(2))
        }
        #expect(error?.errorType == "Sandbox.Timedout" && error?.errorMessage?.contains("Task timed out after 2.00 seconds") == true, "\(error?.payload ?? "")")
    }

    @Test("invokeWithResponseStream: countTo's elements as they come; failAfter's elements, then its error")
    func responseStream() async throws {
        let server = try await LocalLambdaServer()
        defer { server.stop() }
        let lambda = server.lambda
        try await Self.create(lambda, "count", handler: "countTo")
        var received: [UInt8] = []
        for try await piece in try await lambda.invokeWithResponseStream("count", payload: Array("[3,10]".utf8)) { received += piece }
        #expect(Self.text(received).split(separator: "\n") == ["0", "1", "2"])

        try await Self.create(lambda, "fail", handler: "failAfter")
        var before: [UInt8] = []
        let error = await #expect(throws: LambdaStreamError.self) {
            for try await piece in try await lambda.invokeWithResponseStream("fail", payload: Array("2".utf8), logTail: true) { before += piece }
        }
        #expect(Self.text(before).contains("element 0") && Self.text(before).contains("element 1"), "\(Self.text(before))")
        #expect(error?.errorDetails.contains("stopped after 2") == true, "\(String(describing: error))")
        #expect(error?.errorCode.isEmpty == false)
        #expect(error?.logTail?.contains("REPORT RequestId:") == true, "\(error?.logTail ?? "no log tail")")
    }

    @Test("a Function URL config created (AWS_IAM by default) and fetched; concurrency put and deleted")
    func functionURLAndConcurrency() async throws {
        let server = try await LocalLambdaServer()
        defer { server.stop() }
        let lambda = server.lambda
        try await Self.create(lambda, "add", handler: "add")
        let created = try await lambda.createFunctionURLConfig("add")
        #expect(created.authType == "AWS_IAM" && created.functionUrl.hasPrefix("http://127.0.0.1:"))
        let fetched = try await lambda.getFunctionURLConfig("add")
        #expect(fetched.functionUrl == created.functionUrl && fetched.invokeMode == "BUFFERED")
        try await lambda.deleteFunctionURLConfig("add")
        let gone = await #expect(throws: AWSError.self) { try await lambda.getFunctionURLConfig("add") }
        #expect(gone?.code == "ResourceNotFoundException")

        #expect(try await lambda.getFunctionConcurrency("add") == nil)
        try await lambda.putFunctionConcurrency("add", reserved: 0)
        #expect(try await lambda.getFunctionConcurrency("add") == 0)
        let throttled = await #expect(throws: AWSError.self) { try await lambda.invoke("add", payload: Array("[1,2]".utf8)) }
        #expect(throttled?.statusCode == 429)
        try await lambda.deleteFunctionConcurrency("add")
        #expect(Self.text(try await lambda.invoke("add", payload: Array("[1,2]".utf8)).payload) == "3")
        try await lambda.deleteFunction("add")
    }
}
