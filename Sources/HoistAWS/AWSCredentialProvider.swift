/// Something that yields AWS credentials: fixed keys, a profile's role, a process, the
/// container's or the instance's metadata service.
///
/// ```swift
/// let config = try AWSConfig.load(profile: "dev")
/// let credentials = try await config.credentials.credentials()
/// ```
public protocol AWSCredentialProvider: Sendable {
    /// Current credentials; a provider of temporary ones fetches (or refreshes) them.
    func credentials() async throws -> AWSCredentials
}

/// Fixed credentials provide themselves.
extension AWSCredentials: AWSCredentialProvider {
    public func credentials() async throws -> AWSCredentials { self }
}
