import Foundation

/// The wait for a function ran out of time, or the function failed to become ready.
public struct LambdaWaitError: Error, Sendable, CustomStringConvertible {
    public let function: String
    public let description: String
}

extension LambdaAPI {
    /// Polls `GetFunction` until `State` is `Active` and `LastUpdateStatus` is `Successful` (or
    /// absent, as before the first update), at most `maxWait`, calling `progress` with each
    /// configuration seen. `Failed` ends the wait with its reason. boto3's `function_active_v2`
    /// and `function_updated_v2` poll once a second up to 300 times; a deploy wants both.
    ///
    /// ```swift
    /// let ready = try await lambda.waitUntilReady("summer") { print("\($0.state ?? "?") / \($0.lastUpdateStatus ?? "?")") }
    /// ```
    @discardableResult
    public func waitUntilReady(_ name: String, maxWait: Duration = .seconds(300), pollInterval: Duration = .seconds(1),
                               progress: @Sendable (LambdaFunctionConfiguration) -> Void = { _ in }) async throws -> LambdaFunctionConfiguration {
        let clock = ContinuousClock()
        let deadline = clock.now + maxWait
        while true {
            let configuration = try await getFunction(name)
            progress(configuration)
            if configuration.state == "Failed" || configuration.lastUpdateStatus == "Failed" {
                throw LambdaWaitError(function: name, description: "function \(name) failed: \(configuration.lastUpdateStatusReason ?? configuration.stateReason ?? "no reason given")")
            }
            if configuration.state == "Active", configuration.lastUpdateStatus == nil || configuration.lastUpdateStatus == "Successful" {
                return configuration
            }
            guard clock.now + pollInterval <= deadline else {
                throw LambdaWaitError(function: name, description: "function \(name) was not ready after \(maxWait): State \(configuration.state ?? "none"), LastUpdateStatus \(configuration.lastUpdateStatus ?? "none")")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// Runs `operation`, again while Lambda answers `ResourceConflictException` (an update in
    /// progress, or a function still `Pending`), at most `maxWait`.
    ///
    /// ```swift
    /// try await lambda.retryingConflicts { try await lambda.updateFunctionConfiguration("summer", settings: settings) }
    /// ```
    public func retryingConflicts<T: Sendable>(maxWait: Duration = .seconds(300), pollInterval: Duration = .seconds(1),
                                               _ operation: @Sendable () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + maxWait
        while true {
            do {
                return try await operation()
            } catch let error as AWSError where error.code == "ResourceConflictException" && clock.now + pollInterval <= deadline {
                try await Task.sleep(for: pollInterval)
            }
        }
    }
}
