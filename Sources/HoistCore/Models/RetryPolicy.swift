import Foundation

/// When to try a call again. By default only failures of the machinery are retried — a worker
/// that crashed, a daemon that could not be reached — never an error the function threw,
/// unless ``retryThrownErrors`` says so. A retried run keeps its key.
///
/// ```swift
/// let sturdy = remote.retrying(RetryPolicy(attempts: 3, backoff: .milliseconds(200)))
/// ```
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (1 means no retry).
    public var attempts: Int
    /// The pause before the first retry; each later pause doubles, up to 10 s.
    public var backoff: Duration
    /// Whether an error the function threw is retried too.
    public var retryThrownErrors: Bool

    public init(attempts: Int, backoff: Duration = .milliseconds(100), retryThrownErrors: Bool = false) {
        self.attempts = attempts
        self.backoff = backoff
        self.retryThrownErrors = retryThrownErrors
    }

    public static let none = RetryPolicy(attempts: 1)

    public static let header = "Hoist-Retry"

    public func validate() throws {
        guard (1...100).contains(attempts) else {
            throw HoistError(.invalidConfiguration, "RetryPolicy: attempts must be between 1 and 100, got \(attempts)")
        }
        guard backoff >= .zero else {
            throw HoistError(.invalidConfiguration, "RetryPolicy: backoff must not be negative, got \(backoff)")
        }
    }

    /// The pause before retry number `retry` (1 for the first retry).
    public func pause(before retry: Int) -> Duration {
        let seconds = CallTimeout.seconds(backoff) * pow(2, Double(retry - 1))
        return .milliseconds(Int64(min(seconds, 10) * 1000))
    }

    /// `attempts=3;backoff=0.2;thrown=0`, the header value.
    public var headerValue: String {
        "attempts=\(attempts);backoff=\(CallTimeout.seconds(backoff));thrown=\(retryThrownErrors ? 1 : 0)"
    }

    public init(headerValue: String) throws {
        var attempts: Int?
        var backoff = 0.1
        var thrown = false
        for part in headerValue.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else {
                throw HoistError(.invalidConfiguration, "\(Self.header): '\(part)' is not name=value; expected attempts=N;backoff=SECONDS;thrown=0|1")
            }
            switch pair[0] {
            case "attempts": attempts = Int(pair[1])
            case "backoff": backoff = Double(pair[1]) ?? -1
            case "thrown": thrown = pair[1] == "1" || pair[1] == "true"
            default: throw HoistError(.invalidConfiguration, "\(Self.header): unknown setting '\(pair[0])'; expected attempts, backoff, thrown")
            }
        }
        guard let attempts, backoff >= 0 else {
            throw HoistError(.invalidConfiguration, "\(Self.header) needs attempts=N and a backoff of zero or more seconds, got '\(headerValue)'")
        }
        self.init(attempts: attempts, backoff: .milliseconds(Int64(backoff * 1000)), retryThrownErrors: thrown)
        try validate()
    }

    /// Whether a failure of this kind may be tried again under this policy.
    public func retries(kind: String) -> Bool {
        if kind == HoistError.Code.workerCrashed.description || kind == HoistError.Code.noWorkers.description { return true }
        return retryThrownErrors && kind == "threw"
    }
}
