import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
@testable import HoistAWS

@Suite("AWS retries")
struct AWSRetryTests {
    static func error(_ code: String, _ status: Int) -> AWSError {
        AWSError(code: code, message: "", statusCode: status, service: "lambda")
    }

    @Test("throttling codes, 429, 5xx and transient codes are retried; client errors are not")
    func decisions() {
        let policy = AWSRetryPolicy.standard
        for code in ["Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException"] {
            #expect(policy.isRetryable(Self.error(code, 400)), "\(code)")
        }
        #expect(policy.isRetryable(Self.error("Whatever", 429)))
        for status in [500, 502, 503, 504] { #expect(policy.isRetryable(Self.error("ServiceException", status))) }
        #expect(policy.isRetryable(Self.error("RequestTimeout", 400)))
        for code in ["ResourceNotFoundException", "SignatureDoesNotMatch", "InvalidParameterValueException", "AccessDenied"] {
            #expect(!policy.isRetryable(Self.error(code, 400)), "\(code)")
        }
        #expect(!policy.isRetryable(CancellationError()))
    }

    @Test("back-off is full jitter on 100 ms × 2^(retry-1), capped at 20 s, and stops after 3 attempts")
    func backoff() {
        let policy = AWSRetryPolicy.standard
        let throttled = Self.error("Throttling", 400)
        #expect(policy.delay(afterAttempt: 1, error: throttled, random: { 1 }) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 2, error: throttled, random: { 1 }) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 2, error: throttled, random: { 0.5 }) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 1, error: throttled, random: { 0 }) == .zero)
        #expect(policy.delay(afterAttempt: 3, error: throttled, random: { 1 }) == nil)
        #expect(policy.delay(afterAttempt: 1, error: Self.error("AccessDenied", 403), random: { 1 }) == nil)
        let long = AWSRetryPolicy(maxAttempts: 40)
        #expect(long.delay(afterAttempt: 30, error: throttled, random: { 1 }) == .seconds(20))
    }

    static func client(_ server: LocalHTTPServer, retryPolicy: AWSRetryPolicy = .standard) -> AWSClient {
        AWSClient(config: AWSConfig(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "SECRET"), region: "us-east-1",
                                    endpoints: [.lambda: server.url, .sts: server.url]), retryPolicy: retryPolicy)
    }

    @Test("the client retries a 503 and a throttled answer, re-signing each attempt, and returns the success")
    func clientRetries() async throws {
        let count = Mutex(0)
        let server = try await LocalHTTPServer.start { _ in
            switch count.withLock({ $0 += 1; return $0 }) {
            case 1: return StubResponse(status: 503, body: "")
            case 2: return StubResponse(status: 400, headers: [("Content-Type", "application/x-amz-json-1.1")], body: #"{"__type":"ThrottlingException","message":"slow down"}"#)
            default: return StubResponse(status: 200, body: #"{"Functions":[]}"#)
            }
        }
        defer { Task { await server.stop() } }
        let response = try await Self.client(server).send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/", query: [("MaxItems", "50")]))
        #expect(response.text == #"{"Functions":[]}"#)
        #expect(server.requests.count == 3)
        for request in server.requests {
            #expect(request.uri == "/2015-03-31/functions/?MaxItems=50")
            #expect(request.header("Authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/") == true)
            #expect(request.header("X-Amz-Content-Sha256") == SigV4Vector.emptyHash)
            #expect(request.header("Host") == "127.0.0.1:\(server.port)")
        }
    }

    @Test("a client error is thrown as a typed AWSError after one attempt; persistent 5xx after three")
    func clientGivesUp() async throws {
        let server = try await LocalHTTPServer.start { request in
            request.uri.contains("missing")
                ? StubResponse(status: 404, headers: [("X-Amzn-ErrorType", "ResourceNotFoundException"), ("X-Amzn-RequestId", "r-404")], body: #"{"message":"Function not found"}"#)
                : StubResponse(status: 500, headers: [("X-Amzn-ErrorType", "ServiceException")], body: #"{"message":"boom"}"#)
        }
        defer { Task { await server.stop() } }
        let client = Self.client(server)
        let missing = await #expect(throws: AWSError.self) { try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/missing")) }
        #expect(missing?.code == "ResourceNotFoundException" && missing?.requestID == "r-404" && missing?.statusCode == 404)
        #expect(server.requests.count == 1)
        let broken = await #expect(throws: AWSError.self) { try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/f")) }
        #expect(broken?.code == "ServiceException" && broken?.statusCode == 500)
        #expect(server.requests.count == 4)
    }

    @Test("paths are encoded once on the wire; a query-protocol call is a signed form POST")
    func wireForm() async throws {
        let server = try await LocalHTTPServer.start { request in
            request.method == "POST"
                ? StubResponse(body: "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/u</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>")
                : StubResponse(body: "{}")
        }
        defer { Task { await server.stop() } }
        let client = Self.client(server)
        _ = try await client.send(AWSRequest(service: .lambda, method: .GET, path: "/2015-03-31/functions/my fn:1/policy"))
        #expect(server.requests[0].uri == "/2015-03-31/functions/my%20fn%3A1/policy")
        let identity = try await client.send(.query(service: .sts, action: "GetCallerIdentity"))
        #expect(identity.xmlValue("Arn") == "arn:aws:iam::123456789012:user/u")
        let post = server.requests[1]
        #expect(post.text == "Action=GetCallerIdentity&Version=2011-06-15")
        #expect(post.header("Authorization")?.contains("/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,") == true)
    }
}
