import HoistCluster
import HoistCore

extension System {
    /// A ``Cluster`` of SSH hosts: the app is deployed to every host that answers, and calls
    /// and maps are spread over all of them.
    ///
    /// ```swift
    /// let remote = try await summer.to(.cluster(try Cluster.named("gpu-box")))
    /// ```
    public static func cluster(_ cluster: Cluster) -> System {
        System(kind: .cluster(cluster))
    }
}

extension Function {
    /// Deploys the app to every host of `cluster`; the same as `to(.cluster(cluster), env:)`.
    ///
    /// ```swift
    /// let remote = try await summer.to(cluster, env: Env(replicas: 2))
    /// ```
    public func to(_ cluster: Cluster, env: Env = .default) async throws -> RemoteFunction<repeat each Arg, Result> {
        try await to(.cluster(cluster), env: env)
    }
}

extension StreamingFunction {
    /// Deploys the app to every host of `cluster`; the same as `to(.cluster(cluster), env:)`.
    public func to(_ cluster: Cluster, env: Env = .default) async throws -> RemoteStreamingFunction<repeat each Arg, Element> {
        try await to(.cluster(cluster), env: env)
    }
}
