import Foundation

/// A run: a call the daemon records under a key, so that it can be fetched later, from any
/// process, also after a daemon restart.
public struct RunRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case queued, running, succeeded, failed, cancelled, timedOut, interrupted

        /// Whether the run will change no more.
        public var isFinished: Bool {
            switch self {
            case .queued, .running: return false
            default: return true
            }
        }
    }

    public var key: String
    public var app: String
    public var function: String
    public var status: Status
    /// SHA-256 of the request body, to tell runs of the same arguments apart.
    public var argumentsDigest: String
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The result's JSON, when the run succeeded.
    public var result: String?
    /// Why the run did not succeed.
    public var failure: CallFailure?
    /// What the function printed (standard output and error, interleaved), up to 1 MiB.
    public var output: String

    public init(key: String, app: String, function: String, status: Status, argumentsDigest: String, createdAt: Double) {
        self.key = key
        self.app = app
        self.function = function
        self.status = status
        self.argumentsDigest = argumentsDigest
        self.createdAt = createdAt
        self.output = ""
    }

    public static func == (a: RunRecord, b: RunRecord) -> Bool {
        a.key == b.key && a.status == b.status && a.result == b.result && a.output == b.output && a.finishedAt == b.finishedAt
    }

    /// The headers that make a call a run.
    public enum Header {
        /// Names the run (otherwise the daemon makes a key).
        public static let run = "Hoist-Run"
        /// Returns the stored result of a succeeded run of this name, or calls under it.
        public static let getOrCall = "Hoist-Get-Or-Call"
    }
}
