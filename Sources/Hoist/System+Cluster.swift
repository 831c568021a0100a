import HoistCluster

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

extension Cluster {
    /// Stops the daemons on the cluster's hosts (by their pid files), optionally deleting the
    /// apps installed there, and closes the SSH connections.
    ///
    /// ```swift
    /// try await cluster.down(deleteApps: true)
    /// ```
    public func down(deleteApps: Bool = false) async throws {
        try await ClusterControl(cluster: self).down(deleteApps: deleteApps)
    }
}
