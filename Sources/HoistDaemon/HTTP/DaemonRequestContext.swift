import Hummingbird
import NIOCore

/// The daemon's request context: Hummingbird's basics and the caller's connection, so that a
/// request can be told when its caller hangs up (``ConnectionWatch``).
struct DaemonRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
