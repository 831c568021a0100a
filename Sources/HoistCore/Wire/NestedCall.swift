import Foundation

/// A call made by a function while it runs in a worker: it names its caller, so that the daemon
/// never queues it behind the caller (or behind another worker that waits on a nested call),
/// and refuses it plainly when no worker could ever take it.
package enum NestedCall {
    /// `Hoist-Caller: <daemon>/<app>/<version>/<worker index>`, sent on every call from a worker.
    package static let header = "Hoist-Caller"
    /// Names the daemon that started a worker (`HOIST_DAEMON_ID`): the same app and version on
    /// another daemon are other workers.
    package static let daemonVariable = "HOIST_DAEMON_ID"

    /// This process's identity when it is a worker, else `nil`. Read once.
    package static let current: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard environment[HoistEnvironment.role] == "worker",
              let daemon = environment[daemonVariable],
              let app = environment[HoistEnvironment.appName],
              let version = environment[HoistEnvironment.appVersion],
              let index = environment[HoistEnvironment.workerIndex] else { return nil }
        return "\(daemon)/\(app)/\(version)/\(index)"
    }()

    /// The worker index in `header` when it names a worker of `app` at `version` of `daemon`.
    package static func callerIndex(_ header: String?, daemon: String, app: String, version: String) -> Int? {
        guard let parts = header?.split(separator: "/"), parts.count == 4,
              parts[0] == daemon, parts[1] == app, parts[2] == version else { return nil }
        return Int(parts[3])
    }
}
