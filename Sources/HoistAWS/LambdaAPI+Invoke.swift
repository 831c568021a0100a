import Foundation
import NIOHTTP1

/// What a synchronous `Invoke` answered.
public struct LambdaInvokeResult: Sendable {
    /// 200 for `RequestResponse`, 202 for `Event`, 204 for `DryRun`.
    public let statusCode: Int
    /// The function's output (empty for `Event` and `DryRun`).
    public let payload: [UInt8]
    /// The last 4 KB of the invocation's log, decoded, when `logTail` was asked for.
    public let logTail: String?
    public let executedVersion: String?
    /// Lambda's id of the invocation (`X-Amzn-RequestId`): how its log lines are found.
    public let requestID: String?
}

/// A function that threw or failed (`X-Amz-Function-Error`): Lambda's error document with the
/// log tail. The invocation itself succeeded, so this is not an ``AWSError``.
public struct LambdaFunctionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `Unhandled` (or the historic `Handled`).
    public let kind: String
    public let errorType: String?
    public let errorMessage: String?
    public let stackTrace: [String]
    public let logTail: String?
    /// The error document as sent, for shapes the fields above do not cover.
    public let payload: String

    public var description: String {
        "the function failed (\(kind)): \(errorType ?? "error")\(errorMessage.map { ": " + $0 } ?? "")"
    }

    init(kind: String, payload: [UInt8], logTail: String?) {
        self.kind = kind
        self.logTail = logTail
        self.payload = String(decoding: payload, as: UTF8.self)
        let object = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any]
        errorType = object?["errorType"] as? String
        errorMessage = object?["errorMessage"] as? String
        stackTrace = (object?["stackTrace"] as? [Any])?.map { "\($0)" } ?? []
    }
}

extension LambdaAPI {
    /// How a function is invoked (`X-Amz-Invocation-Type`).
    public enum InvocationType: String, Sendable {
        /// Waits for the result: 200.
        case requestResponse = "RequestResponse"
        /// Queued, run in the background (retried by Lambda on failure): 202.
        case event = "Event"
        /// Checks the caller may invoke, runs nothing: 204.
        case dryRun = "DryRun"
    }

    /// `Invoke`. A function error throws ``LambdaFunctionError`` with the decoded error document.
    ///
    /// `functionTimeout` is the function's timeout: the request may take that plus
    /// ``invokeMargin`` (30 s by default) before the client gives up. The call is sent exactly once
    /// (``AWSRetryPolicy/none``): boto3 and the AWS CLI time out a read at 60 s and retry, so a
    /// long function runs several times; a read timeout here means the function may still be
    /// running, and trying again would run it again.
    ///
    /// ```swift
    /// let answer = try await lambda.invoke("summer", payload: Array("[3,4]".utf8), logTail: true)
    /// print(String(decoding: answer.payload, as: UTF8.self), answer.logTail ?? "")
    /// ```
    public func invoke(_ name: String, payload: [UInt8], type: InvocationType = .requestResponse, logTail: Bool = false,
                       functionTimeout: Duration = .seconds(900)) async throws -> LambdaInvokeResult {
        var headers: HTTPHeaders = ["X-Amz-Invocation-Type": type.rawValue]
        if logTail { headers.add(name: "X-Amz-Log-Type", value: "Tail") }
        let request = self.request(.POST, "\(Self.functions)/\(name)/invocations", body: payload,
                                   headers: headers, timeout: functionTimeout + invokeMargin)
        let response = try await client.with(retryPolicy: .none).send(request)
        let tail = response.headers.first(name: "X-Amz-Log-Result").flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        if let kind = response.headers.first(name: "X-Amz-Function-Error") {
            throw LambdaFunctionError(kind: kind, payload: response.body, logTail: tail)
        }
        return LambdaInvokeResult(statusCode: response.statusCode, payload: response.body, logTail: tail,
                                executedVersion: response.headers.first(name: "X-Amz-Executed-Version"),
                                requestID: response.headers.first(name: "X-Amzn-RequestId") ?? response.headers.first(name: "x-amz-request-id"))
    }
}
