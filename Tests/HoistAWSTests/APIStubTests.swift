import Foundation
import NIOCore
import NIOPosix
import NIOHTTP1
import Synchronization
import Testing
@testable import HoistAWS

/// What the typed clients put on the wire, and how they read what comes back, against a stand-in.
final class Counter: Sendable { let count = Mutex(0) }

@Suite("The typed clients against a stand-in server")
struct APIStubTests {
    static func client(_ server: LocalHTTPServer) -> AWSClient {
        AWSClient(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "eu-west-1",
                  endpoints: AWSEndpoints(overrides: [.lambda: server.url, .cloudWatchLogs: server.url, .iam: server.url]),
                  retryPolicy: AWSRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)))
    }

    @Test("FilterLogEvents: JSON 1.1 with X-Amz-Target, startTime in ms, every page through nextToken")
    func filterLogEventsPages() async throws {
        let server = try await LocalHTTPServer.start { request in
            let token = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["nextToken"] as? String
            return token == nil
                ? StubResponse(body: #"{"events":[{"timestamp":1,"message":"a","logStreamName":"s"}],"nextToken":"t2"}"#)
                : StubResponse(body: #"{"events":[{"timestamp":2,"message":"b","logStreamName":"s"}]}"#)
        }
        let events = try await CloudWatchLogsAPI(client: Self.client(server)).filterLogEvents(logGroup: "/aws/lambda/f", since: Date(timeIntervalSince1970: 12))
        await server.stop()
        #expect(events.map(\.message) == ["a", "b"])
        let first = try #require(server.requests.first)
        #expect(first.header("X-Amz-Target") == "Logs_20140328.FilterLogEvents" && first.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(first.header("Authorization")?.contains("/eu-west-1/logs/aws4_request") == true)
        #expect(first.text.contains(#""startTime":12000"#))
        #expect(server.requests.count == 2 && server.requests[1].text.contains(#""nextToken":"t2""#))
    }

    @Test("IAM signs for us-east-1 whatever the client's region")
    func iamRegion() async throws {
        let server = try await LocalHTTPServer.start { _ in StubResponse(status: 404, body: "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>no</Message></Error></ErrorResponse>") }
        #expect(try await IAMAPI(client: Self.client(server)).getRole("r") == nil)
        await server.stop()
        #expect(server.requests.first?.header("Authorization")?.contains("/us-east-1/iam/aws4_request") == true)
        #expect(server.requests.first?.form["Action"] == "GetRole")
    }

    @Test("Invoke is sent once, even on a 5xx the standard policy would retry; its timeout is the function's plus a margin")
    func invokeNotRetried() async throws {
        let server = try await LocalHTTPServer.start { _ in StubResponse(status: 503, headers: [("X-Amzn-ErrorType", "ServiceException")], body: #"{"message":"busy"}"#) }
        let lambda = LambdaAPI(client: Self.client(server))
        let error = await #expect(throws: AWSError.self) { try await lambda.invoke("f", payload: Array("{}".utf8), functionTimeout: .seconds(5)) }
        #expect(error?.code == "ServiceException")
        #expect(server.requests.count == 1)
        _ = try? await lambda.getFunction("f")  // management calls keep the standard retries
        await server.stop()
        #expect(server.requests.count == 4)
        #expect(server.requests[1].header("X-Amz-Content-Sha256") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("a client-side timeout of Invoke is not retried: the function may still be running, and a retry would run it twice")
    func invokeTimeoutNotRetried() async throws {
        let server = try await SilentServer.start()
        let client = AWSClient(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "eu-west-1",
                               endpoints: AWSEndpoints(overrides: [.lambda: "http://127.0.0.1:\(server.port)"]))
        let lambda = LambdaAPI(client: client, invokeMargin: .milliseconds(200))
        let started = ContinuousClock.now
        let error = await #expect(throws: (any Error).self) { try await lambda.invoke("slow", payload: Array("{}".utf8), functionTimeout: .milliseconds(300)) }
        // Its own timeout (0.3 s + 0.2 s), not AsyncHTTPClient's default: bounded loosely, since
        // a loaded 2-core machine running every suite at once is slow.
        #expect(ContinuousClock.now - started < .seconds(30))
        try await Task.sleep(for: .milliseconds(300))
        try await server.channel.close()
        #expect(server.requests.count.withLock { $0 } == 1)
        // The same error from a management call is retried by the standard policy.
        #expect(try AWSRetryPolicy.standard.isRetryable(#require(error)))
    }

    @Test("a function error: the error document's errorType, errorMessage and stackTrace, and the decoded log tail")
    func functionErrorDocument() async throws {
        let tail = Data("START RequestId: 1\nboom\nEND RequestId: 1\n".utf8).base64EncodedString()
        let server = try await LocalHTTPServer.start { _ in
            StubResponse(headers: [("X-Amz-Function-Error", "Unhandled"), ("X-Amz-Log-Result", tail)],
                         body: #"{"errorType":"ValueError","errorMessage":"cannot work","stackTrace":["  File \"h.py\", line 3, in f\n"]}"#)
        }
        let error = await #expect(throws: LambdaFunctionError.self) { try await LambdaAPI(client: Self.client(server)).invoke("f", payload: Array("1".utf8), logTail: true) }
        await server.stop()
        #expect(error?.kind == "Unhandled" && error?.errorType == "ValueError" && error?.errorMessage == "cannot work")
        #expect(error?.stackTrace == ["  File \"h.py\", line 3, in f\n"])
        #expect(error?.logTail?.contains("boom") == true)
        #expect(server.requests.first?.header("X-Amz-Log-Type") == "Tail" && server.requests.first?.header("X-Amz-Invocation-Type") == "RequestResponse")
    }

    @Test("retryingConflicts tries again while an update is in progress, and gives other errors back at once")
    func conflictRetry() async throws {
        // Two conflicts, then the update goes through; later, conflicts only.
        let puts = Counter()
        let server = try await LocalHTTPServer.start { _ in
            let put = puts.count.withLock { $0 += 1; return $0 }
            return put == 3
                ? StubResponse(body: #"{"FunctionName":"f","Timeout":9}"#)
                : StubResponse(status: 409, headers: [("X-Amzn-ErrorType", "ResourceConflictException")], body: #"{"message":"An update is in progress for resource: f"}"#)
        }
        let lambda = LambdaAPI(client: Self.client(server))
        let answer = try await lambda.retryingConflicts(pollInterval: .milliseconds(10)) {
            try await lambda.updateFunctionConfiguration("f", settings: .init(timeout: 9))
        }
        #expect(answer.timeout == 9 && puts.count.withLock { $0 } == 3)
        let conflict = await #expect(throws: AWSError.self) {
            try await lambda.retryingConflicts(maxWait: .milliseconds(50), pollInterval: .milliseconds(10)) {
                try await lambda.updateFunctionConfiguration("f", settings: .init(timeout: 9))
            }
        }
        await server.stop()
        #expect(conflict?.code == "ResourceConflictException")
    }

    @Test("ListFunctions reads every page with Marker")
    func listPages() async throws {
        let server = try await LocalHTTPServer.start { request in
            request.uri.contains("Marker=m2")
                ? StubResponse(body: #"{"Functions":[{"FunctionName":"c"}]}"#)
                : StubResponse(body: #"{"Functions":[{"FunctionName":"a"},{"FunctionName":"b"}],"NextMarker":"m2"}"#)
        }
        let names = try await LambdaAPI(client: Self.client(server)).listFunctions(pageSize: 2).map(\.functionName)
        await server.stop()
        #expect(names == ["a", "b", "c"])
        #expect(server.requests.first?.uri == "/2015-03-31/functions/?MaxItems=2")
    }

    @Test("the waiter reports each poll until the function is ready, and stops at its bound")
    func waiterBound() async throws {
        // Ready at the third poll: the waiter reports every one (counted, not timed, so that a
        // loaded machine cannot make it flaky).
        let polls = Counter()
        let readying = try await LocalHTTPServer.start { _ in
            let poll = polls.count.withLock { $0 += 1; return $0 }
            let status = poll < 3 ? "InProgress" : "Successful"
            return StubResponse(body: #"{"Configuration":{"FunctionName":"f","State":"Active","LastUpdateStatus":"\#(status)"}}"#)
        }
        let seen = Counter()
        try await LambdaAPI(client: Self.client(readying)).waitUntilReady("f", maxWait: .seconds(60), pollInterval: .milliseconds(20)) { _ in
            seen.count.withLock { $0 += 1 }
        }
        await readying.stop()
        #expect(polls.count.withLock { $0 } == 3)
        #expect(seen.count.withLock { $0 } >= 2)

        let stuck = try await LocalHTTPServer.start { _ in
            StubResponse(body: #"{"Configuration":{"FunctionName":"f","State":"Active","LastUpdateStatus":"InProgress"}}"#)
        }
        let error = await #expect(throws: LambdaWaitError.self) {
            try await LambdaAPI(client: Self.client(stuck)).waitUntilReady("f", maxWait: .milliseconds(300), pollInterval: .milliseconds(20)) { _ in }
        }
        await stuck.stop()
        #expect(error?.description.contains("LastUpdateStatus InProgress") == true)
    }
}

@Suite("Event-stream framing")
struct EventStreamTests {
    static func message(_ headers: [(String, String)], _ payload: [UInt8]) -> [UInt8] {
        var head: [UInt8] = []
        for (name, value) in headers {
            head.append(UInt8(name.utf8.count))
            head += Array(name.utf8)
            head += [7, UInt8(value.utf8.count >> 8), UInt8(value.utf8.count & 0xFF)]
            head += Array(value.utf8)
        }
        func be(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8((value >> $0) & 0xFF) } }
        var bytes = be(UInt32(16 + head.count + payload.count)) + be(UInt32(head.count))
        bytes += be(AWSEventStreamDecoder.crc32(bytes))
        bytes += head + payload
        return bytes + be(AWSEventStreamDecoder.crc32(bytes))
    }

    @Test("messages split anywhere decode whole; a flipped bit fails a CRC check")
    func decode() throws {
        let one = Self.message([(":event-type", "PayloadChunk"), (":message-type", "event")], Array("0\n".utf8))
        let two = Self.message([(":event-type", "InvokeComplete"), (":message-type", "event")], Array("{}".utf8))
        let all = one + two
        for split in [1, 5, 12, one.count, one.count + 3] {
            var decoder = AWSEventStreamDecoder()
            let messages = try decoder.feed(all[..<split]) + decoder.feed(all[split...])
            #expect(messages.map { $0.headers[":event-type"] } == ["PayloadChunk", "InvokeComplete"])
            #expect(messages.first?.payload == Array("0\n".utf8) && !decoder.hasPartialMessage)
        }
        #expect(AWSEventStreamDecoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        for index in [2, 9, one.count - 6] {
            var corrupt = one
            corrupt[index] ^= 0x10
            var decoder = AWSEventStreamDecoder()
            #expect(throws: AWSEventStreamDecoder.Malformed.self) { _ = try decoder.feed(corrupt) }
        }
    }
}

/// A server that takes requests and never answers: a function still running when the client gives up.
struct SilentServer {
    let channel: any Channel
    let requests: Counter
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> SilentServer {
        let requests = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Listener(requests: requests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(channel: channel, requests: requests)
    }

    private final class Listener: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        let requests: Counter
        init(requests: Counter) { self.requests = requests }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head = unwrapInboundIn(data) { requests.count.withLock { $0 += 1 } }
        }
    }
}
