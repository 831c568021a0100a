import Foundation
import HoistAWS
import HoistCore
import NIOHTTP1

/// Calls deployed functions: synchronous invocations that back off while Lambda throttles,
/// `Event` invocations, streamed ones, their logs, and Function URLs signed with SigV4.
package struct LambdaInvoker: Sendable {
    package let lambda: LambdaAPI
    package let logs: CloudWatchLogsAPI
    /// How long a throttled call (429: it did not run) keeps being tried again.
    package var throttleWait: Duration = .seconds(60)

    package init(config: AWSConfig) {
        let client = AWSClient(config: config)
        lambda = LambdaAPI(client: client)
        logs = CloudWatchLogsAPI(client: client)
    }

    /// One synchronous invocation. A throttle (`TooManyRequestsException`, 429) means Lambda did
    /// not run the function, so it is tried again with jittered exponential back-off; nothing
    /// else is: a timeout may mean the function is still running.
    package func invoke(_ name: String, payload: [UInt8], type: LambdaAPI.InvocationType = .requestResponse, logTail: Bool = false,
                        functionTimeout: Duration) async throws -> LambdaInvokeResult {
        try await backingOff {
            try await lambda.invoke(name, payload: payload, type: type, logTail: logTail, functionTimeout: functionTimeout)
        }
    }

    /// `InvokeWithResponseStream`, backing off the same way before the stream starts.
    package func stream(_ name: String, payload: [UInt8], logTail: Bool, functionTimeout: Duration) async throws -> AsyncThrowingStream<[UInt8], any Error> {
        try await backingOff {
            try await lambda.invokeWithResponseStream(name, payload: payload, logTail: logTail, functionTimeout: functionTimeout)
        }
    }

    package func backingOff<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + throttleWait
        var pause = 0.05
        while true {
            do {
                return try await body()
            } catch let error as AWSError where error.statusCode == 429 && clock.now < deadline {
                // Full jitter (as the SDKs do): callers throttled together do not return together.
                try await Task.sleep(for: .seconds(Double.random(in: 0...pause)))
                pause = min(pause * 2, 5)
            }
        }
    }

    /// The function's log lines since `since` (CloudWatch Logs `FilterLogEvents`, every page),
    /// oldest first; `pattern` narrows them with Logs' filter syntax.
    package func logEvents(_ name: String, since: Date?, pattern: String? = nil) async throws -> [CloudWatchLogEvent] {
        do {
            return try await logs.filterLogEvents(logGroup: CloudWatchLogsAPI.logGroup(forFunction: name), since: since, pattern: pattern)
                .sorted { $0.timestamp < $1.timestamp }
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {
            return []  // no invocation has logged yet
        }
    }

    /// A Function URL's config: the existing one when its auth type matches, else made (or changed).
    package func ensureURL(_ name: String, authType: String, streams: Bool) async throws -> LambdaFunctionURLConfig {
        let mode = streams ? "RESPONSE_STREAM" : "BUFFERED"
        do {
            let current = try await lambda.getFunctionURLConfig(name)
            if current.authType == authType, (current.invokeMode ?? "BUFFERED") == mode { return current }
            try await lambda.deleteFunctionURLConfig(name)
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {}
        return try await lambda.createFunctionURLConfig(name, authType: authType, invokeMode: mode)
    }

    /// `POST`s `body` to a Function URL, signed with SigV4 for the `lambda` service (what
    /// `AWS_IAM` URLs check; `NONE` URLs ignore the signature).
    package func callURL(_ url: String, body: [UInt8], timeout: Duration) async throws -> AWSResponse {
        var request = AWSRequest(service: .lambda, method: .POST, path: "/", headers: ["Content-Type": "application/json"], body: body, timeout: timeout)
        request.endpoint = url
        return try await lambda.client.with(retryPolicy: .none).send(request)
    }
}
