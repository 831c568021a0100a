import Foundation

/// How a failed call travels: from worker to daemon in a frame, and from daemon to caller as the
/// JSON body of an error response (`{"error": {...}}`).
public struct CallFailure: Codable, Sendable, Error, CustomStringConvertible {
    /// What kind of failure this is; ``HoistError/Code`` for Hoist's own, `"threw"` for the function's.
    public var kind: String
    public var message: String
    /// Set when the function threw.
    public var remote: RemoteError?
    /// The function's signature, for argument errors and listings.
    public var expected: String?
    /// Known names, for unknown app or function errors.
    public var known: [String]?

    public init(kind: String, message: String, remote: RemoteError? = nil, expected: String? = nil, known: [String]? = nil) {
        self.kind = kind
        self.message = message
        self.remote = remote
        self.expected = expected
        self.known = known
    }

    public init(_ error: HoistError, expected: String? = nil, known: [String]? = nil) {
        self.init(kind: error.code.description, message: error.message, expected: expected, known: known)
    }

    public init(remote: RemoteError) {
        self.init(kind: "threw", message: remote.description, remote: remote)
    }

    /// Builds the failure for an error that came out of `invoke`.
    public static func from(_ error: any Error, function: String) -> CallFailure {
        if let error = error as? ArgumentDecodingError {
            return CallFailure(kind: HoistError.Code.badArguments.description, message: error.description, expected: error.signature)
        }
        if let error = error as? HoistError {
            return CallFailure(error)
        }
        if error is CancellationError {
            return CallFailure(HoistError(.cancelled, "'\(function)' was cancelled"))
        }
        let message: String
        if let localized = error as? any LocalizedError, let text = localized.errorDescription {
            message = text
        } else {
            message = String(describing: error)
        }
        return CallFailure(remote: RemoteError(function: function, type: String(reflecting: type(of: error)), message: message))
    }

    /// The error a caller sees: a ``RemoteError`` when the function threw, a ``HoistError`` otherwise.
    public var error: any Error {
        if let remote { return remote }
        let code = HoistError.Code(named: kind) ?? .internalError
        return HoistError(code, message)
    }

    /// The HTTP status for this failure.
    public var httpStatus: Int {
        switch kind {
        case "threw": return 500
        case HoistError.Code.badArguments.description: return 400
        case HoistError.Code.unauthorized.description: return 401
        case HoistError.Code.forbidden.description: return 403
        case HoistError.Code.misdirected.description: return 421
        case HoistError.Code.unknownApp.description, HoistError.Code.unknownFunction.description, HoistError.Code.unknownCall.description, HoistError.Code.unknownRun.description: return 404
        case HoistError.Code.runExists.description, HoistError.Code.runFinished.description: return 409
        case HoistError.Code.bodyTooLarge.description: return 413
        case HoistError.Code.workerCrashed.description: return 502
        case HoistError.Code.noWorkers.description, HoistError.Code.noFreeWorker.description: return 503
        case HoistError.Code.timedOut.description: return 504
        case HoistError.Code.cancelled.description: return 499
        case HoistError.Code.invalidName.description, HoistError.Code.invalidConfiguration.description: return 400
        default: return 500
        }
    }

    public var description: String { message }

    /// The body of an error response.
    public struct Envelope: Codable, Sendable {
        public var error: CallFailure
        public init(error: CallFailure) { self.error = error }
    }
}
