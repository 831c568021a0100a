import Foundation
import HoistCore

/// A function Hoist deployed, as saved in `~/.hoist/lambdas/<name>.json` (mode 0600): enough to
/// call, read the logs of and tear down the function from another process by name alone.
public struct SavedLambda: Codable, Sendable, Equatable {
    public var name: String
    public var arn: String
    public var region: String
    /// The AWS profile it was deployed with (`default` when none was named).
    public var profile: String
    /// The execution role's name when Hoist made it (deleted with the function), else `nil`.
    public var managedRole: String?
    public var roleArn: String
    public var runtime: String
    public var handler: String
    public var codeSha256: String
    public var timeout: Int
    public var memorySize: Int
    public var tmpSize: Int
    public var retentionDays: Int?
    /// Whether the function streams its answer (a `StreamingFunction`).
    public var streams: Bool
    /// Where its code was put in S3, for zips over 50 MB.
    public var s3Bucket: String?
    public var s3Key: String?
    /// Its Function URL, once made.
    public var url: String?
    public var urlAuthType: String?
    public var tags: [String: String]?
    public var reservedConcurrency: Int?
    public var deployedAt: Date

    /// The account, from the ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`).
    public var account: String {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count > 4 ? String(parts[4]) : ""
    }
}

/// The saved functions of a Hoist home.
package struct LambdaStore: Sendable {
    package let directory: String

    package init(home: HoistHome = .current) {
        directory = home.root + "/lambdas"
    }

    package func path(_ name: String) -> String { directory + "/" + name + ".json" }

    package func load(_ name: String) throws -> SavedLambda? {
        guard let data = FileManager.default.contents(atPath: path(name)) else { return nil }
        do {
            return try Self.decoder.decode(SavedLambda.self, from: data)
        } catch {
            throw HoistError(.invalidConfiguration, "\(path(name)) is not a saved Lambda function (\(error)); delete it, or deploy '\(name)' again")
        }
    }

    package func save(_ saved: SavedLambda) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let temporary = path(saved.name) + ".tmp"
        FileManager.default.createFile(atPath: temporary, contents: try encoder.encode(saved), attributes: [.posixPermissions: 0o600])
        _ = rename(temporary, path(saved.name))
    }

    package func remove(_ name: String) {
        try? FileManager.default.removeItem(atPath: path(name))
    }

    package func all() -> [SavedLambda] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { try? load(String($0.dropLast(5))) }
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
