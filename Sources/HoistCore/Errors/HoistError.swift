/// An error from Hoist's own machinery: what went wrong and, where Hoist knows, how to fix it.
///
/// Match on ``code``:
///
/// ```swift
/// do { try await remote(1, 2) }
/// catch let error as HoistError where error.code == .workerCrashed { … }
/// ```
public struct HoistError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible, Codable {
        private enum Base: String, Hashable, Sendable, Codable {
            case badArguments, unknownApp, unknownFunction, bodyTooLarge, workerCrashed
            case noWorkers, deployFailed, daemonUnavailable, badResponse, invalidName
            case notInApp, duplicateFunction, invalidConfiguration, protocolMismatch, internalError, unauthorized, timedOut, cancelled, unknownCall, unknownRun, runExists, runFinished, interrupted
            case certificateMismatch, forbidden, misdirected, noFreeWorker, payloadRegion
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The daemon refused the request for who sent it or where it came from: another user on
        /// the socket, or a cross-site `Origin` (HTTP 403).
        public static let forbidden = Code(.forbidden)
        /// The request named a `Host` that is not one of the daemon's own names, as a DNS-rebinding
        /// page would (HTTP 421).
        public static let misdirected = Code(.misdirected)
        /// The arguments do not fit the function's signature (HTTP 400).
        public static let badArguments = Code(.badArguments)
        /// No app of that name is deployed (HTTP 404).
        public static let unknownApp = Code(.unknownApp)
        /// The app has no function of that name (HTTP 404).
        public static let unknownFunction = Code(.unknownFunction)
        /// The request body is over the daemon's limit (HTTP 413).
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// The worker running the call died (HTTP 502).
        public static let workerCrashed = Code(.workerCrashed)
        /// The app has no worker ready to take the call (HTTP 503).
        public static let noWorkers = Code(.noWorkers)
        /// A function called its own app while every worker was waiting on such nested calls,
        /// so none could ever take it (HTTP 503): a deadlock refused instead of entered.
        public static let noFreeWorker = Code(.noFreeWorker)
        /// A worker could not use the shared memory a caller on its machine put a large payload in
        /// (``RegionReference``); Hoist's client then sends the payload itself.
        public static let payloadRegion = Code(.payloadRegion)
        /// A deploy did not produce working workers; the previous version still serves.
        public static let deployFailed = Code(.deployFailed)
        /// The daemon could not be reached or started.
        public static let daemonUnavailable = Code(.daemonUnavailable)
        /// The other side answered with something Hoist could not understand.
        public static let badResponse = Code(.badResponse)
        /// A function or app name breaks the naming rules.
        public static let invalidName = Code(.invalidName)
        /// A function was used remotely without being listed in the app.
        public static let notInApp = Code(.notInApp)
        /// Two functions of an app share a name.
        public static let duplicateFunction = Code(.duplicateFunction)
        /// A setting is out of range or inconsistent.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// Driver and daemon speak different protocol versions.
        public static let protocolMismatch = Code(.protocolMismatch)
        /// The call passed its deadline (HTTP 504); the worker was asked to cancel it.
        public static let timedOut = Code(.timedOut)
        /// The call was cancelled.
        public static let cancelled = Code(.cancelled)
        /// No call with that id is in flight (HTTP 404).
        public static let unknownCall = Code(.unknownCall)
        /// No run has that key (HTTP 404).
        public static let unknownRun = Code(.unknownRun)
        /// A run of that name exists or is in flight (HTTP 409).
        public static let runExists = Code(.runExists)
        /// The run has finished; it cannot be cancelled (HTTP 409).
        public static let runFinished = Code(.runFinished)
        /// The daemon stopped while the run was in flight.
        public static let interrupted = Code(.interrupted)
        /// The request lacks a valid token (HTTP 401).
        public static let unauthorized = Code(.unauthorized)
        /// The daemon's TLS certificate is not the one the client pinned.
        public static let certificateMismatch = Code(.certificateMismatch)
        /// Something that should not happen; the message says where.
        public static let internalError = Code(.internalError)

        public var description: String { base.rawValue }

        /// The code with this name (its ``description``), or `nil` for an unknown name.
        public init?(named name: String) {
            guard let base = Base(rawValue: name) else { return nil }
            self.base = base
        }

        public init(from decoder: any Decoder) throws {
            self = Code(named: try decoder.singleValueContainer().decode(String.self)) ?? .internalError
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(base.rawValue)
        }
    }

    public let code: Code
    /// What happened, in a sentence that names the app, function or host involved.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code)]" }
}
