import AsyncHTTPClient
import NIOCore

/// When to try an AWS request again, as the SDKs' "standard" retry mode does: throttling,
/// transient errors, 5xx and connection failures, up to 3 attempts in all, after a full-jitter
/// exponential back-off (a random time up to `base × 2^(retry − 1)`, at most `maxDelay`).
///
/// ```swift
/// var policy = AWSRetryPolicy.standard
/// policy.maxAttempts = 5
/// let client = AWSClient(config: config, retryPolicy: policy)
/// ```
public struct AWSRetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(20)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// 3 attempts, 100 ms base, 20 s cap.
    public static let standard = AWSRetryPolicy()
    /// One attempt: for calls that must not run twice.
    public static let none = AWSRetryPolicy(maxAttempts: 1)

    /// The throttling codes of the SDKs' standard mode (botocore `retries/standard.py`, the
    /// Go and Java SDKs' lists).
    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    /// Transient failures worth another attempt whatever their status.
    static let transientCodes: Set<String> = ["RequestTimeout", "RequestTimeoutException", "InternalError", "IDPCommunicationError"]
    static let transientStatuses: Set<Int> = [500, 502, 503, 504]

    /// Whether an error may go away on its own.
    public func isRetryable(_ error: any Error) -> Bool {
        if let error = error as? AWSError {
            return error.isThrottling || Self.transientCodes.contains(error.code) || Self.transientStatuses.contains(error.statusCode)
        }
        // No answer at all: the connection failed, was reset, or timed out.
        if let error = error as? HTTPClientError {
            return [.connectTimeout, .remoteConnectionClosed, .readTimeout, .deadlineExceeded, .writeTimeout].contains(error)
        }
        return error is ChannelError || error is IOError
    }

    /// How long to wait before attempt `attempt + 1` after `attempt` (1-based) failed with
    /// `error`, or `nil` to give up. `random` yields values in 0…1 (injectable for tests).
    public func delay(afterAttempt attempt: Int, error: any Error, random: () -> Double = { Double.random(in: 0...1) }) -> Duration? {
        guard attempt < maxAttempts, isRetryable(error) else { return nil }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxDelay)
        return ceiling * random()
    }
}
