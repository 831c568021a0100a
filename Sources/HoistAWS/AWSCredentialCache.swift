import Foundation

/// Keeps temporary credentials until shortly before they expire, so that a burst of requests
/// makes one STS call (or one process run) rather than one each; concurrent callers wait on the
/// same refresh. Credentials without an expiry are kept for good.
actor AWSCredentialCache: AWSCredentialProvider {
    private let provider: any AWSCredentialProvider
    private let now: @Sendable () -> Date
    /// Refresh this long before expiry: a request signed with credentials about to expire may
    /// reach AWS after they did (the SDKs use five minutes too).
    let refreshWindow: TimeInterval
    private var cached: AWSCredentials?
    private var refreshing: Task<AWSCredentials, any Error>?

    init(_ provider: any AWSCredentialProvider, refreshWindow: TimeInterval = 300, now: @escaping @Sendable () -> Date = { Date() }) {
        self.provider = provider
        self.refreshWindow = refreshWindow
        self.now = now
    }

    func credentials() async throws -> AWSCredentials {
        if let cached, !isDue(cached) { return cached }
        let task: Task<AWSCredentials, any Error>
        if let refreshing {
            task = refreshing
        } else {
            let provider = self.provider
            task = Task { try await provider.credentials() }
            refreshing = task
        }
        do {
            let fresh = try await task.value
            cached = fresh
            if refreshing == task { refreshing = nil }
            return fresh
        } catch {
            if refreshing == task { refreshing = nil }
            // A failed early refresh keeps credentials that still work.
            if let cached, let expiration = cached.expiration, expiration > now() { return cached }
            throw error
        }
    }

    private func isDue(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        return expiration.timeIntervalSince(now()) < refreshWindow
    }
}
