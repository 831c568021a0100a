import Foundation
import Testing

@Suite("The local Lambda (hoist lambda serve)")
struct LambdaServeTests {
    @Test("a Hoist app's functions run as bootstraps: values, an S3 event, thrown errors, the log tail")
    func values() async throws {
        try await withLambda { lambda in
            let created = try await lambda.create("add", handler: "add")
            #expect(created.status == 201, "\(created.body)")
            #expect(created.json["State"] as? String == "Active" && created.json["Version"] as? String == "$LATEST")
            #expect((created.json["CodeSha256"] as? String)?.isEmpty == false && created.json["CodeSize"] as? Int ?? 0 > 0)
            let sum = try await lambda.invoke("add", "[20,22]")
            #expect(sum.status == 200 && sum.body == "42", "\(sum)")
            #expect(sum.headers["x-amz-executed-version"] == "$LATEST")
            #expect(sum.headers["x-amz-function-error"] == nil)
            // By name, as the daemon's payload rules allow.
            #expect(try await lambda.invoke("add", #"{"a":1,"b":2}"#).body == "3")

            // A one-argument function gets the event itself.
            try await lambda.create("s3", handler: "s3Keys")
            let event = #"{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"photos/cat.jpg","size":1}}}]}"#
            let keys = try await lambda.invoke("s3", event)
            #expect(keys.body == #"["photos\/cat.jpg"]"# || keys.body == #"["photos/cat.jpg"]"#, "\(keys)")

            // A thrown error: 200, Unhandled, its type and message.
            try await lambda.create("refuse", handler: "refuse")
            let refused = try await lambda.invoke("refuse", #""no thanks""#)
            #expect(refused.status == 200)
            #expect(refused.headers["x-amz-function-error"] == "Unhandled")
            #expect((refused.json["errorType"] as? String)?.hasSuffix("Refusal") == true, "\(refused.body)")
            #expect(refused.json["errorMessage"] as? String == "refused: no thanks")

            // The invocation's request id, ARN, deadline and trace, as Lambda's context gives them.
            try await lambda.create("info", handler: "invocationInfo")
            let info = try await lambda.invoke("info", "[]")
            let fields = (try? JSONSerialization.jsonObject(with: Data(info.body.utf8))) as? [String] ?? []
            #expect(fields.count == 4 && fields[0] == info.headers["x-amzn-requestid"], "\(info)")
            #expect(fields.count == 4 && fields[1] == "arn:aws:lambda:us-east-1:123456789012:function:info" && fields[2] == "true" && fields[3].hasPrefix("Root=1-"), "\(fields)")

            // The log tail: what the function printed, between START and REPORT.
            try await lambda.create("shout", handler: "shout")
            let shouted = try await lambda.invoke("shout", #""tail""#, headers: ["X-Amz-Log-Type: Tail"])
            #expect(shouted.body == #""TAIL""#)
            let tail = String(decoding: Data(base64Encoded: shouted.headers["x-amz-log-result"] ?? "") ?? Data(), as: UTF8.self)
            #expect(tail.contains("START RequestId: ") && tail.contains("shouting tail") && tail.contains("END RequestId: ") && tail.contains("REPORT RequestId: "), "\(tail)")
            #expect(tail.contains("Init Duration: "), "the first invocation reports the init: \(tail)")
            // The log is kept in the function's log group folder.
            let group = lambda.root + "/logs/aws/lambda/shout"
            #expect(FileManager.default.fileExists(atPath: group))
        }
    }

    @Test("a timeout answers Sandbox.Timedout and the next invocation works; an exit is Runtime.ExitError; warm environments are reused")
    func failuresAndReuse() async throws {
        try await withLambda { lambda in
            try await lambda.create("slow", handler: "sleepy", timeout: 1)
            let late = try await lambda.invoke("slow", "3000", headers: ["X-Amz-Log-Type: Tail"])
            #expect(late.status == 200 && late.headers["x-amz-function-error"] == "Unhandled")
            #expect(late.json["errorType"] as? String == "Sandbox.Timedout")
            let message = late.json["errorMessage"] as? String ?? ""
            #expect(message.hasPrefix("RequestId: ") && message.hasSuffix("Error: Task timed out after 1.00 seconds"), "\(message)")
            // Killed at its timeout (1 s), not when the function would have ended (3 s).
            let tail = String(decoding: Data(base64Encoded: late.headers["x-amz-log-result"] ?? "") ?? Data(), as: UTF8.self)
            let duration = tail.components(separatedBy: "\tDuration: ").dropFirst().first.flatMap { Double($0.prefix { $0 != " " }) } ?? 0
            #expect(duration >= 1000 && duration < 2900, "\(tail)")
            #expect(try await lambda.invoke("slow", "10").status == 200)

            try await lambda.create("exit", handler: "exitNow")
            let exited = try await lambda.invoke("exit", "3")
            #expect(exited.json["errorType"] as? String == "Runtime.ExitError")
            #expect((exited.json["errorMessage"] as? String)?.hasSuffix("Runtime exited with error: exit status 3") == true, "\(exited.body)")
            // The environment starts its bootstrap again: the next invocation of the function is answered.
            let again = try await lambda.invoke("exit", "-1")
            #expect(again.status == 200 && again.headers["x-amz-function-error"] == nil && Int32(again.body) ?? 0 > 0, "\(again)")

            try await lambda.create("count", handler: "counter")
            let counts = try await [lambda.invoke("count", "[]").body, lambda.invoke("count", "[]").body, lambda.invoke("count", "[]").body]
            let pids = Set(counts.map { $0.split(separator: ":").first ?? "" })
            #expect(pids.count == 1, "one warm environment served all three: \(counts)")
            #expect(counts.last?.hasSuffix(#":3""#) == true, "\(counts)")
        }
    }

    @Test("update-function-code: an invocation in flight finishes in the old environment, the next runs the new code")
    func updateKeepsCallsInFlight() async throws {
        try await withLambda { lambda in
            // handshakePid answers its process id once a file exists: the update comes once the
            // call is known to have reached its environment, however slowly a loaded machine
            // gets it there.
            try await lambda.create("swap", handler: "handshakePid")
            let ready = lambda.root + "/swap-ready"
            let hold = lambda.root + "/swap-hold"
            #expect(FileManager.default.createFile(atPath: ready, contents: nil))
            let before = try await lambda.invoke("swap", "\"\(ready)\"")
            let inFlight = Task { try await lambda.invoke("swap", "\"\(hold)\"") }
            let deadline = ContinuousClock.now + .seconds(60)
            // Its START line: the local Lambda has handed it to the warm environment.
            while lambda.logLines("swap").filter({ $0.hasPrefix("START RequestId:") }).count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let code = try Data(contentsOf: URL(fileURLWithPath: TestLambda.testAppZip)).base64EncodedString()
            let updated = try await lambda.request("PUT", "/2015-03-31/functions/swap/code", body: #"{"ZipFile":"\#(code)"}"#)
            #expect(updated.status == 200, "\(updated)")
            #expect(FileManager.default.createFile(atPath: hold, contents: nil))
            let slow = try await inFlight.value
            #expect(slow.status == 200 && slow.headers["x-amz-function-error"] == nil, "\(slow)")
            // The in-flight call kept its environment, the next invocation gets a new one of the
            // new revision.
            #expect(slow.body == before.body, "\(before.body) \(slow.body)")
            let after = try await lambda.invoke("swap", "\"\(ready)\"")
            #expect(after.status == 200 && after.body != before.body, "\(before.body) \(after.body)")
        }
    }

    @Test("an environment idle longer than --keep-warm is stopped; the next invocation starts cold")
    func idleEnvironmentsReaped() async throws {
        try await withLambda(keepWarm: 1) { lambda in
            try await lambda.create("count", handler: "counter")
            let first = try await lambda.invoke("count", "[]")
            let pid = try #require(Int32(first.body.dropFirst().split(separator: ":").first ?? ""), "\(first.body)")
            var gone = false
            for _ in 0..<100 where !gone {
                try await Task.sleep(for: .milliseconds(100))
                gone = kill(pid, 0) != 0
            }
            #expect(gone, "the idle environment (pid \(pid)) still runs")
            let next = try await lambda.invoke("count", "[]", headers: ["X-Amz-Log-Type: Tail"])
            #expect(next.body.hasSuffix(#":1""#), "a new environment counts from 1: \(next.body)")
            let tail = String(decoding: Data(base64Encoded: next.headers["x-amz-log-result"] ?? "") ?? Data(), as: UTF8.self)
            #expect(tail.contains("Init Duration: "), "\(tail)")
        }
    }

    @Test("32 concurrent one-second invocations each get an environment and finish together")
    func concurrency() async throws {
        try await withLambda { lambda in
            try await lambda.create("sleep", handler: "sleepy")
            let started = Date()
            let answers = try await withThrowingTaskGroup(of: TestLambda.Answer.self) { group in
                for _ in 0..<32 { group.addTask { try await lambda.invoke("sleep", "1000") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(answers.allSatisfy { $0.status == 200 && $0.headers["x-amz-function-error"] == nil }, "\(answers.filter { $0.status != 200 })")
            // Each answer is the pid of the process that slept: 32 of them.
            #expect(Set(answers.map(\.body)).count == 32)
            // One after another they would take 32 s; a loaded machine starts 32 processes slowly.
            #expect(elapsed < 24, "32 one-second calls took \(elapsed) s")
        }
    }

    @Test("reserved concurrency throttles with 429; Event runs in the background; DryRun checks only")
    func throttleEventDryRun() async throws {
        try await withLambda { lambda in
            try await lambda.create("one", handler: "sleepy")
            let reserved = try await lambda.request("PUT", "/2017-10-31/functions/one/concurrency", body: #"{"ReservedConcurrentExecutions":1}"#)
            #expect(reserved.status == 200 && reserved.json["ReservedConcurrentExecutions"] as? Int == 1)
            // Two invocations at once, each sleeping 3 s: whichever arrives second finds the one
            // reserved environment busy. Which one that is depends on scheduling, not on the test.
            let answers = try await withThrowingTaskGroup(of: TestLambda.Answer.self) { group in
                for _ in 0..<2 { group.addTask { try await lambda.invoke("one", "3000") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == 200 }.count == 1, "\(answers)")
            let throttled = answers.first { $0.status != 200 }
            #expect(throttled?.status == 429 && throttled?.errorType == "TooManyRequestsException", "\(answers)")
            #expect(throttled?.json["Reason"] as? String == "ReservedFunctionConcurrentInvocationLimitExceeded")

            try await lambda.create("touch", handler: "touch")
            let marker = NSTemporaryDirectory() + "hoist-event-" + UUID().uuidString.prefix(8)
            defer { try? FileManager.default.removeItem(atPath: marker) }
            let queued = try await lambda.invoke("touch", #""\#(marker)""#, headers: ["X-Amz-Invocation-Type: Event"])
            #expect(queued.status == 202 && queued.body.isEmpty)
            let deadline = Date().addingTimeInterval(10)
            while !FileManager.default.fileExists(atPath: marker) && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(FileManager.default.fileExists(atPath: marker))

            let dry = try await lambda.invoke("touch", #""/nonexistent/never""#, headers: ["X-Amz-Invocation-Type: DryRun"])
            #expect(dry.status == 204)
        }
    }

    @Test("a failing Event invocation is tried three times in all, under the request id the caller got; a succeeding one once")
    func eventRetries() async throws {
        try await withLambda { lambda in
            try await lambda.create("refuse", handler: "refuse")
            try await lambda.create("touch", handler: "touch")
            let failing = try await lambda.invoke("refuse", #""every time""#, headers: ["X-Amz-Invocation-Type: Event"])
            #expect(failing.status == 202)
            let failingID = try #require(failing.headers["x-amzn-requestid"])
            let marker = NSTemporaryDirectory() + "hoist-event-" + UUID().uuidString.prefix(8)
            defer { try? FileManager.default.removeItem(atPath: marker) }
            let succeeding = try await lambda.invoke("touch", #""\#(marker)""#, headers: ["X-Amz-Invocation-Type: Event"])
            let succeedingID = try #require(succeeding.headers["x-amzn-requestid"])
            // Each try starts with Lambda's START line, under the same request id. The retries
            // come 1 s and 2 s after a failure: given 30 s.
            func starts(_ function: String, _ requestID: String) -> Int {
                lambda.logLines(function).filter { $0.hasPrefix("START RequestId: \(requestID) ") }.count
            }
            let deadline = Date().addingTimeInterval(30)
            while starts("refuse", failingID) < 3 && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            // A fourth try would come 3 s after the third failure: none may.
            try await Task.sleep(for: .seconds(4))
            #expect(starts("refuse", failingID) == 3, "\(lambda.logLines("refuse"))")
            #expect(lambda.logLines("refuse").filter { $0.hasPrefix("END RequestId: \(failingID)") }.count == 3)
            #expect(FileManager.default.fileExists(atPath: marker))
            #expect(starts("touch", succeedingID) == 1, "\(lambda.logLines("touch"))")
        }
    }

    @Test("the server's --concurrency limit throttles invocations of every function with 429 and its Reason")
    func serverConcurrencyLimit() async throws {
        try await withLambda(concurrency: 1) { lambda in
            try await lambda.create("first", handler: "sleepy")
            try await lambda.create("second", handler: "sleepy")
            // One invocation of each function at once, each sleeping 3 s: whichever arrives second
            // finds the server's one environment busy, though its own function has none running.
            let answers = try await withThrowingTaskGroup(of: TestLambda.Answer.self) { group in
                for name in ["first", "second"] { group.addTask { try await lambda.invoke(name, "3000") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == 200 }.count == 1, "\(answers)")
            let throttled = answers.first { $0.status != 200 }
            #expect(throttled?.status == 429 && throttled?.errorType == "TooManyRequestsException", "\(answers)")
            #expect(throttled?.json["Reason"] as? String == "ConcurrentInvocationLimitExceeded", "\(answers)")
            #expect(throttled?.json["message"] as? String == "Rate Exceeded." && throttled?.headers["retry-after"] == "1")
            // The limit counts environments busy now: once the call has ended, both functions run.
            // (The environment is handed back just after its answer: a retry or two may be needed.)
            for name in ["second", "first"] {
                var status = 0
                for _ in 0..<20 where status != 200 {
                    status = try await lambda.invoke(name, "10").status
                    if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(status == 200, "\(name)")
            }
            // No function may reserve more than the server runs.
            let over = try await lambda.request("PUT", "/2017-10-31/functions/first/concurrency", body: #"{"ReservedConcurrentExecutions":2}"#)
            #expect(over.status == 400 && over.errorType == "InvalidParameterValueException", "\(over)")
        }
    }

    @Test("bad requests get AWS's error codes, statuses and messages")
    func badRequests() async throws {
        try await withLambda { lambda in
            try await lambda.create("add", handler: "add")
            let missing = try await lambda.invoke("nope", "{}")
            #expect(missing.status == 404 && missing.errorType == "ResourceNotFoundException")
            #expect(missing.json["message"] as? String == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope")
            let notJSON = try await lambda.invoke("add", "{not json")
            #expect(notJSON.status == 400 && notJSON.errorType == "InvalidRequestContentException", "\(notJSON)")
            #expect(try await lambda.create("add", handler: "add").errorType == "ResourceConflictException")
            let badTimeout = try await lambda.create("late", handler: "add", timeout: 901)
            #expect(badTimeout.status == 400 && badTimeout.errorType == "InvalidParameterValueException")
            #expect((badTimeout.json["message"] as? String)?.contains("1 to 900") == true)
            // A zip without a bootstrap cannot run: refused at create.
            let directory = NSTemporaryDirectory() + "hoist-lambda-empty-" + UUID().uuidString.prefix(8)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "x".write(toFile: directory + "/readme.txt", atomically: true, encoding: .utf8)
            _ = try Command.run("/usr/bin/zip", ["-q", "-j", directory + "/f.zip", directory + "/readme.txt"])
            let noBootstrap = try await lambda.create("empty", handler: "add", zip: directory + "/f.zip")
            #expect(noBootstrap.status == 400 && (noBootstrap.json["message"] as? String)?.contains("no 'bootstrap'") == true, "\(noBootstrap)")
            // A Python zip without the handler's file neither: AWS's error shape, and no function.
            let noHandler = try await lambda.create("pyempty", handler: "handler.my_calc", zip: directory + "/f.zip", runtime: "python3.11")
            #expect(noHandler.status == 400 && noHandler.errorType == "InvalidParameterValueException", "\(noHandler)")
            #expect(noHandler.json["Type"] as? String == "User", "\(noHandler)")
            #expect((noHandler.json["message"] as? String)?.contains("no handler.py for handler 'handler.my_calc'") == true, "\(noHandler)")
            #expect(try await lambda.request("GET", "/2015-03-31/functions/pyempty").status == 404)
            // Names, partial and full ARNs, percent-encoded, and qualifiers.
            #expect(try await lambda.invoke("123456789012%3Afunction%3Aadd", "[1,1]").body == "2")
            #expect(try await lambda.invoke("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aadd%3A%24LATEST", "[1,2]").body == "3")
            let version = try await lambda.invoke("add:7", "[1,2]")
            #expect(version.status == 404 && (version.json["message"] as? String)?.hasSuffix("function:add:7") == true)
            // Lambda's size limits: 6 MB answers, 6 MB requests (1 MB for Event).
            try await lambda.create("big", handler: "big")
            #expect(try await lambda.invoke("big", "1000").body.count == 1002)
            let huge = try await lambda.invoke("big", "7000000")
            #expect(huge.status == 200 && huge.json["errorType"] as? String == "Function.ResponseSizeTooLarge", "\(huge.status) \(huge.body.prefix(300))")
            let payload = NSTemporaryDirectory() + "hoist-lambda-payload-" + UUID().uuidString.prefix(8)
            try Data(("\"" + String(repeating: "y", count: 2_000_000) + "\"").utf8).write(to: URL(fileURLWithPath: payload))
            defer { try? FileManager.default.removeItem(atPath: payload) }
            let event = try await lambda.invoke("big", "@" + payload, headers: ["X-Amz-Invocation-Type: Event"])
            #expect(event.status == 413 && event.errorType == "RequestTooLargeException", "\(event)")
            // A RequestResponse request may be 6 MB (6,291,456 bytes): 7 MB is refused before it runs.
            let large = NSTemporaryDirectory() + "hoist-lambda-payload-" + UUID().uuidString.prefix(8)
            try Data(("\"" + String(repeating: "z", count: 7_000_000) + "\"").utf8).write(to: URL(fileURLWithPath: large))
            defer { try? FileManager.default.removeItem(atPath: large) }
            let request = try await lambda.invoke("big", "@" + large)
            #expect(request.status == 413 && request.errorType == "RequestTooLargeException", "\(request.status) \(request.headers) \(request.body.prefix(300))")
            #expect((request.json["message"] as? String)?.contains("6291456 bytes") == true, "\(request.body.prefix(300))")
            // An unknown handler is an init error the invocation reports.
            try await lambda.create("nohandler", handler: "nosuch")
            let initError = try await lambda.invoke("nohandler", "{}")
            #expect(initError.headers["x-amz-function-error"] == "Unhandled" && initError.json["errorType"] as? String == "Runtime.HandlerNotFound", "\(initError)")
        }
    }
}

@Suite("Function URLs of the local Lambda")
struct LambdaURLTests {
    @Test("a Function URL serves a Hoist function over HTTP: buffered, streamed, and AWS_IAM needing a signed request")
    func urls() async throws {
        try await withLambda { lambda in
            try await lambda.create("add", handler: "add")
            let created = try await lambda.request("POST", "/2021-10-31/functions/add/url", body: #"{"AuthType":"NONE"}"#)
            #expect(created.status == 201, "\(created)")
            let url = try #require(created.json["FunctionUrl"] as? String)
            // The URL's event carries the body; the bootstrap calls add(20, 22) with it.
            let sum = try curl(url, ["-d", "[20,22]"])
            #expect(sum.status == 200 && sum.body == "42", "\(sum)")
            #expect(try await lambda.request("GET", "/2021-10-31/functions/add/url").json["AuthType"] as? String == "NONE")
            #expect(try await lambda.request("POST", "/2021-10-31/functions/add/url", body: #"{"AuthType":"NONE"}"#).errorType == "ResourceConflictException")

            try await lambda.create("count", handler: "countTo")
            let stream = try await lambda.request("POST", "/2021-10-31/functions/count/url", body: #"{"AuthType":"AWS_IAM","InvokeMode":"RESPONSE_STREAM"}"#)
            let streamURL = try #require(stream.json["FunctionUrl"] as? String)
            #expect(try curl(streamURL, ["-d", "[3,0]"]).status == 403)
            let signed = try curl(streamURL, ["--aws-sigv4", "aws:amz:us-east-1:lambda", "--user", "AKIDEXAMPLE:secret", "-d", "[3,0]"])
            #expect(signed.status == 200 && signed.body == "0\n1\n2\n", "\(signed.status) \(signed.body)")

            #expect(try await lambda.request("DELETE", "/2021-10-31/functions/add/url").status == 204)
            #expect(try await lambda.request("GET", "/2021-10-31/functions/add/url").status == 404)
        }
    }
}

@Suite("The local Lambda with boto3, the AWS CLI and awslambdaric")
struct LambdaClientTests {
    /// A zip of Tests/Fixtures/lambda/handler.py, at its root, in `directory`.
    /// Runs `body` with the Python handler's zip in a directory of its own, removed after.
    static func withPythonZip<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "hoist-lambda-py-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(try pythonZip(in: directory))
    }

    static func pythonZip(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try Command.run("/usr/bin/zip", ["-q", "-j", directory + "/python.zip", Binaries.packageRoot + "/Tests/Fixtures/lambda/handler.py"])
        return directory + "/python.zip"
    }

    @Test("boto3 and the AWS CLI create, wait for, invoke, update, list and delete functions; Python handlers run through awslambdaric")
    func clients() async throws {
        let python = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        // The Python handler's zip, with the file at its root.
        try await Self.withPythonZip { zip in try await withLambda { lambda in
            let run = try Command.run(python, [Binaries.packageRoot + "/Tests/Fixtures/lambda/clients.py", lambda.url, TestLambda.testAppZip, zip])
            #expect(run.status == 0, "\(run.stderr)")
            let lines = Set(run.stdout.split(separator: "\n").map(String.init))
            for line in ["created=Active", "active=yes", "invoke=42", "status=200", "tail=True", "updatedTimeout=20", #"variables={"MODE": "new"}"#,
                         "codeSha=True", "afterUpdate=3", #"python={"function": "py-calc", "sum": 5, "time_left": true}"#,
                         "pythonError=Unhandled|ValueError|cannot work with {'x': 1}", "listed=boto-add,py-calc,py-fail",
                         "missing=Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing", "cli=11", "cliListed=3", "remaining=0",
                         "cliCreated=Active|5|arn:aws:lambda:us-east-1:123456789012:function:cli-add", #"cliConfigured=7|{"Variables": {"MODE": "cli"}}"#,
                         "cliCode=True|True|7", "cliInvoked=15|200|$LATEST", "cliTail=True", "cliDeleted=True", "cliGone=True|True",
                         "streamed=0 1 2", "streamComplete=True", "streamError=Refusal|True"] {
                #expect(lines.contains(line), "missing \(line) in \(run.stdout)\n\(run.stderr)")
            }
        } }
    }

    @Test("a Python environment has Lambda's variables and the function's own")
    func pythonVariables() async throws {
        _ = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        try await Self.withPythonZip { zip in try await withLambda { lambda in
            let created = try await lambda.create("py-env", handler: "handler.environment", zip: zip, runtime: "python3.11",
                                                  memorySize: 256, variables: ["GREETING": "hi", "MODE": "env"])
            #expect(created.status == 201, "\(created)")
            let names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME",
                         "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_REGION", "GREETING", "MODE"]
            let answer = try await lambda.invoke("py-env", "[" + names.map { #""\#($0)""# }.joined(separator: ",") + "]")
            #expect(answer.status == 200 && answer.headers["x-amz-function-error"] == nil, "\(answer)")
            let variables = answer.json
            #expect(variables["AWS_LAMBDA_FUNCTION_NAME"] as? String == "py-env", "\(answer.body)")
            #expect(variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] as? String == "256")
            #expect(variables["AWS_LAMBDA_FUNCTION_VERSION"] as? String == "$LATEST")
            #expect(variables["AWS_LAMBDA_LOG_GROUP_NAME"] as? String == "/aws/lambda/py-env")
            // The stream is the environment's log file in the group's folder.
            let stream = variables["AWS_LAMBDA_LOG_STREAM_NAME"] as? String ?? ""
            #expect(stream.range(of: #"^[0-9]{4}/[0-9]{2}/[0-9]{2}/\[\$LATEST\][0-9a-f]{32}$"#, options: .regularExpression) != nil, "\(stream)")
            #expect(FileManager.default.fileExists(atPath: lambda.root + "/logs/aws/lambda/py-env/" + stream), "\(stream)")
            // The task root is the unzipped code (not /var/task here).
            let taskRoot = variables["LAMBDA_TASK_ROOT"] as? String ?? ""
            #expect(taskRoot.hasPrefix(lambda.root + "/") && FileManager.default.fileExists(atPath: taskRoot + "/handler.py"), "\(taskRoot)")
            #expect(variables["_HANDLER"] as? String == "handler.environment")
            // The region the server puts in ARNs: arn:aws:lambda:REGION:ACCOUNT:function:NAME.
            let region = (created.json["FunctionArn"] as? String)?.split(separator: ":").dropFirst(3).first.map(String.init)
            #expect(region != nil && variables["AWS_REGION"] as? String == region, "\(answer.body)")
            #expect(variables["GREETING"] as? String == "hi" && variables["MODE"] as? String == "env", "\(answer.body)")
        } }
    }

    @Test("a timeout says Task timed out after the function's timeout; the environment starts again with its /tmp kept")
    func pythonTimeoutKeepsTmp() async throws {
        _ = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        try await Self.withPythonZip { zip in try await withLambda { lambda in
            try await lambda.create("py-tmp", handler: "handler.keep", timeout: 2, zip: zip, runtime: "python3.11")
            // keep counts its environment's calls in a file in its /tmp (TMPDIR), under the server's home.
            let first = try await lambda.invoke("py-tmp", "{}")
            #expect(first.json["calls"] as? Int == 1, "\(first)")
            let tmp = first.json["tmp"] as? String ?? ""
            #expect(tmp.hasPrefix(lambda.root + "/"), "\(tmp)")
            // The second call writes, then sleeps past its 2 s timeout and is killed.
            let late = try await lambda.invoke("py-tmp", #"{"sleep": 30}"#)
            #expect(late.status == 200 && late.headers["x-amz-function-error"] == "Unhandled" && late.json["errorType"] as? String == "Sandbox.Timedout", "\(late)")
            let requestID = late.headers["x-amzn-requestid"] ?? "?"
            #expect(late.json["errorMessage"] as? String == "RequestId: \(requestID) Error: Task timed out after 2.00 seconds", "\(late.body)")
            // A new process in the same environment: the file of both calls before is still there.
            let after = try await lambda.invoke("py-tmp", "{}")
            #expect(after.status == 200 && after.json["calls"] as? Int == 3, "\(after)")
            #expect(after.json["tmp"] as? String == tmp, "\(after)")
            #expect(after.json["pid"] as? Int != nil && after.json["pid"] as? Int != first.json["pid"] as? Int, "\(first.body) \(after.body)")
        } }
    }

    @Test("--python naming a Python without awslambdaric is refused at start, with the pip command that installs it")
    func pythonWithoutRuntimeClient() async throws {
        let python = try #require(TestLambda.python, "the tests' virtualenv (boto3, awscli, awslambdaric) is missing: run scripts/test")
        // The virtualenv's Python without its site-packages (-S): a working python3 that cannot import awslambdaric.
        let directory = NSTemporaryDirectory() + "hoist-lambda-bare-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bare = directory + "/python3"
        try Command.writeExecutable(bare, "#!/bin/sh\nexec '\(python)' -S \"$@\"\n")
        #expect(try Command.run(bare, ["-c", "print(6 * 7)"]).stdout == "42\n")
        #expect(try Command.run(bare, ["-c", "import awslambdaric"]).status != 0)
        do {
            let lambda = try TestLambda(python: bare)
            lambda.shutdown()
            Issue.record("hoist lambda serve started with a Python that cannot run python3.x functions")
        } catch let error as TestLambdaError {
            #expect(error.message.contains("\(bare), cannot import awslambdaric"), "\(error.message)")
            #expect(error.message.contains("`\(bare) -m pip install awslambdaric`"), "\(error.message)")
        }
    }
}
