import HoistCore
import NIOCore

/// A function call as a caller asked for it, over HTTP (from headers) or the call socket (from
/// a ``SocketCallHeader``), before the daemon has checked it.
struct CallAsk: Sendable {
    var app: String
    var function: String
    /// ``CallTimeout/header``'s text, or `nil` for the function's default.
    var timeout: String?
    /// ``CallKey/header``: names the call so that it can be cancelled.
    var key: String?
    /// ``RetryPolicy/header``'s text.
    var retry: String?
    /// Whether the body is the raw bytes of the function's one `Data`/`[UInt8]` argument.
    var rawBody = false
    /// Whether the caller takes the result as raw bytes where the function returns them.
    var rawResult = false
    /// ``NestedCall/header``: the worker whose function makes this call.
    var caller: String?
}

/// A call the daemon has checked against what is deployed: where it goes and how.
struct CallPlan: Sendable {
    var app: String
    var function: String
    var descriptor: FunctionDescriptor
    var pool: RetryingPool
    var timeout: Double?
    var key: String?
    var caller: String?
    var retry: RetryPolicy
    /// Which payloads travel as raw bytes.
    var bytes: RawBytes

    /// The request for a worker. A large body is held only until sent, so that the daemon does
    /// not hold a large argument and its result at once; a retry policy needs it for the next attempt.
    func request(wantsOutput: Bool, body: consuming ByteBuffer) -> CallRequest {
        guard retry.attempts <= 1, body.readableBytes >= SentOnceBody.threshold else {
            return CallRequest(function: function, wantsOutput: wantsOutput, bytes: bytes, body: body)
        }
        var request = CallRequest(function: function, wantsOutput: wantsOutput, bytes: bytes, body: ByteBuffer())
        request.sentOnce = SentOnceBody(body)
        return request
    }
}

extension DaemonRoutes {
    /// The deployed app and function `app`/`function` name, or the failure that says what exists.
    func target(app: String, function: String) throws(CallFailure) -> (entry: AppManager.Entry, descriptor: FunctionDescriptor) {
        guard let entry = manager.lookup(app) else { throw unknownAppFailure(app) }
        guard let descriptor = entry.manifest.functions.first(where: { $0.name == function }) else {
            let names = entry.manifest.functions.map(\.name)
            throw CallFailure(
                HoistError(.unknownFunction, "app '\(app)' has no function '\(function)'; it has: \(names.joined(separator: ", "))"),
                known: names
            )
        }
        return (entry, descriptor)
    }

    /// The failure for an app that is not deployed: it names those that are.
    func unknownAppFailure(_ app: String) -> CallFailure {
        let known = manager.all.map(\.manifest.name)
        let list = known.isEmpty ? "no apps are deployed" : "deployed apps: \(known.joined(separator: ", "))"
        return CallFailure(HoistError(.unknownApp, "no app named '\(app)'; \(list)"), known: known)
    }

    /// Checks a call's target and options; throws the failure to answer with.
    func plan(_ ask: CallAsk) throws(CallFailure) -> CallPlan {
        let (entry, descriptor) = try target(app: ask.app, function: ask.function)
        do {
            let timeout = try ask.timeout.map(CallTimeout.parse) ?? descriptor.timeoutSeconds
            if let key = ask.key, let problem = CallKey.problem(with: key) {
                throw HoistError(.invalidConfiguration, "\(CallKey.header): \(problem)")
            }
            let retry = try ask.retry.map(RetryPolicy.init(headerValue:)) ?? .none
            // `Data` and `[UInt8]` may come and go as raw bytes instead of JSON; the signature is
            // looked at only when a call asks for them.
            let supported: RawBytes = ask.rawBody || ask.rawResult ? RawBytes.supported(by: descriptor) : []
            var bytes: RawBytes = []
            if ask.rawBody {
                guard supported.contains(.argument) else {
                    throw HoistError(.badArguments, "an \(RawBytes.mediaType) body is the raw bytes of a function's one Data or [UInt8] argument, and \(descriptor.signature) takes \(descriptor.streams == true ? "a streaming call's arguments as JSON" : "other arguments"); send JSON (Content-Type: application/json)")
                }
                bytes.insert(.argument)
            }
            if ask.rawResult, supported.contains(.result) {
                bytes.insert(.result)
            }
            return CallPlan(
                app: ask.app, function: ask.function, descriptor: descriptor,
                pool: RetryingPool(pool: entry.pool, policy: retry),
                timeout: timeout, key: ask.key, caller: ask.caller, retry: retry, bytes: bytes
            )
        } catch {
            throw Self.callFailure(error)
        }
    }

    /// The failure for a body of `length` bytes (or of unknown length) over the daemon's limit.
    func tooLargeFailure(length: Int?, limit: Int) -> CallFailure {
        let size = length.map { " of \($0) bytes" } ?? ""
        return CallFailure(HoistError(
            .bodyTooLarge,
            "the request body\(size) is over the daemon's limit of \(limit) bytes; send less, or start the daemon with \(HoistEnvironment.maxBodySize) set higher"
        ))
    }
}
