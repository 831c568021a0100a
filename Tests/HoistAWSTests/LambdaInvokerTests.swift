import Foundation
import HoistLambdaDeploy
import Synchronization
import Testing
@testable import HoistAWS

@Suite("LambdaInvoker against a stand-in")
struct LambdaInvokerTests {
    static func invoker(_ server: LocalHTTPServer, throttleWait: Duration) -> LambdaInvoker {
        let config = AWSConfig(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "us-east-1",
                               endpoints: [.lambda: server.url, .cloudWatchLogs: server.url])
        var invoker = LambdaInvoker(config: config)
        invoker.throttleWait = throttleWait
        return invoker
    }

    @Test("a throttled invocation (429: it did not run) is sent again with back-off until it runs")
    func throttled() async throws {
        let calls = Counter()
        let server = try await LocalHTTPServer.start { _ in
            let call = calls.count.withLock { value in value += 1; return value }
            if call <= 3 {
                return StubResponse(status: 429, headers: [("X-Amzn-ErrorType", "TooManyRequestsException")],
                                    body: #"{"message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}"#)
            }
            return StubResponse(body: "7")
        }
        // The wait covers the requests themselves too: with every suite running on two cores,
        // three answered 429s once took 30 s to come back.
        let answer = try await Self.invoker(server, throttleWait: .seconds(120)).invoke("summer", payload: Array("[3,4]".utf8), functionTimeout: .seconds(5))
        await server.stop()
        #expect(String(decoding: answer.payload, as: UTF8.self) == "7")
        #expect(calls.count.withLock { $0 } == 4)
    }

    @Test("a throttle that outlasts the wait is thrown; any other error is not tried again")
    func givesUp() async throws {
        let calls = Counter()
        let server = try await LocalHTTPServer.start { request in
            calls.count.withLock { $0 += 1 }
            if request.uri.contains("/always-throttled/") {
                return StubResponse(status: 429, headers: [("X-Amzn-ErrorType", "TooManyRequestsException")], body: #"{"message":"Rate Exceeded."}"#)
            }
            return StubResponse(status: 502, headers: [("X-Amzn-ErrorType", "ServiceException")], body: #"{"message":"backend"}"#)
        }
        let invoker = Self.invoker(server, throttleWait: .seconds(1))
        do {
            _ = try await invoker.invoke("always-throttled", payload: [], functionTimeout: .seconds(5))
            Issue.record("a function throttled for good answered")
        } catch let error as AWSError {
            #expect(error.statusCode == 429 && error.code == "TooManyRequestsException", "\(error)")
        }
        calls.count.withLock { $0 = 0 }
        do {
            _ = try await invoker.invoke("broken", payload: [], functionTimeout: .seconds(5))
            Issue.record("a 502 was taken for an answer")
        } catch let error as AWSError {
            #expect(error.statusCode == 502)
        }
        #expect(calls.count.withLock { $0 } == 1, "an invocation that may have run is sent once")
        await server.stop()
    }
}
