import Foundation

/// The Lambda invocation a function is serving, while it runs as a Lambda bootstrap: what
/// Lambda's context object holds in other runtimes.
///
/// ```swift
/// let handler = Function("handler") { (event: OrderEvent) in
///     let id = LambdaInvocation.current?.requestID ?? "local"
///     return "\(id): \(event.orderID)"
/// }
/// ```
public struct LambdaInvocation: Sendable {
    /// `Lambda-Runtime-Aws-Request-Id`.
    public var requestID: String
    /// When Lambda ends the invocation (`Lambda-Runtime-Deadline-Ms`).
    public var deadline: Date?
    /// The ARN the caller invoked, with the qualifier it used.
    public var invokedFunctionARN: String?
    /// The X-Ray trace header (also in `_X_AMZN_TRACE_ID`).
    public var traceID: String?
    /// The caller's client context, as JSON.
    public var clientContext: String?

    /// The invocation being served, or `nil` outside Lambda.
    @TaskLocal public static var current: LambdaInvocation?

    /// Milliseconds left before the deadline.
    public var remainingMilliseconds: Int? {
        deadline.map { Int($0.timeIntervalSinceNow * 1000) }
    }
}
