import Foundation
import Hummingbird

/// The CloudWatch Logs calls a deploy and its users make — `CreateLogGroup`,
/// `DescribeLogGroups`, `PutRetentionPolicy`, `DeleteRetentionPolicy`, `DeleteLogGroup` and
/// `FilterLogEvents` — over the functions' log streams in the local Lambda's home. Retention
/// is kept and reported, not applied: the local Lambda deletes no logs by age.
struct CloudWatchLogsStandIn: Sendable {
    let groups: LogGroups
    let region: String
    let account: String

    static let operations = ["CreateLogGroup", "DescribeLogGroups", "PutRetentionPolicy", "DeleteRetentionPolicy", "DeleteLogGroup", "FilterLogEvents"]
    /// The retention periods CloudWatch Logs accepts, in days.
    static let retentionDays: Set = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

    /// Answers `Logs_20140328.<operation>`; errors are JSON answers too.
    func answer(operation: String, body: Data) -> Response {
        do {
            let data: Data = switch operation {
            case "CreateLogGroup": try createLogGroup(decode(body))
            case "DescribeLogGroups": try describeLogGroups(decode(body))
            case "PutRetentionPolicy": try putRetentionPolicy(decode(body))
            case "DeleteRetentionPolicy": try deleteRetentionPolicy(decode(body))
            case "DeleteLogGroup": try deleteLogGroup(decode(body))
            case "FilterLogEvents": try LogEventFilter(groups: groups, input: decode(body)).answer()
            default: throw Self.unknown(operation)
            }
            return LogsAPIError.response(data, status: .ok)
        } catch let error as LogsAPIError {
            return error.response
        } catch {
            return LogsAPIError(code: "ServiceUnavailableException", message: "\(error)", status: .internalServerError).response
        }
    }

    static func unknown(_ operation: String) -> LogsAPIError {
        LogsAPIError(code: "UnknownOperationException", message: "Unknown operation \(operation); the local Lambda answers Logs_20140328.{\(operations.joined(separator: ","))}")
    }

    struct GroupInput: Decodable {
        var logGroupName: String?
        var retentionInDays: Int?
    }

    private func decode<T: Decodable>(_ body: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body.isEmpty ? Data("{}".utf8) : body)
        } catch {
            throw LogsAPIError(code: "SerializationException", message: "The request body is not the JSON this operation takes: \(error)")
        }
    }

    /// A group name as CloudWatch Logs allows it.
    private func groupName(_ input: GroupInput) throws -> String {
        guard let name = input.logGroupName else {
            throw LogsAPIError.invalidParameter("1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null")
        }
        guard name.range(of: #"^[.\-_/#A-Za-z0-9]{1,512}$"#, options: .regularExpression) != nil else {
            throw LogsAPIError.invalidParameter("1 validation error detected: Value '\(name)' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
        }
        return name
    }

    private func createLogGroup(_ input: GroupInput) throws -> Data {
        let name = try groupName(input)
        try groups.update { saved in
            guard saved[name] == nil, groups.folder(name) == nil else {
                throw LogsAPIError(code: "ResourceAlreadyExistsException", message: "The specified log group already exists: \(name)")
            }
            saved[name] = LogGroupSettings(creationTime: Int64(Date().timeIntervalSince1970 * 1000))
        }
        return Data("{}".utf8)
    }

    private func putRetentionPolicy(_ input: GroupInput) throws -> Data {
        let name = try groupName(input)
        guard let days = input.retentionInDays, Self.retentionDays.contains(days) else {
            throw LogsAPIError.invalidParameter("1 validation error detected: Value '\(input.retentionInDays.map(String.init) ?? "null")' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [\(Self.retentionDays.sorted().map(String.init).joined(separator: ", "))]")
        }
        try setRetention(name, days)
        return Data("{}".utf8)
    }

    private func deleteRetentionPolicy(_ input: GroupInput) throws -> Data {
        try setRetention(groupName(input), nil)
        return Data("{}".utf8)
    }

    private func setRetention(_ name: String, _ days: Int?) throws {
        try groups.update { saved in
            guard var settings = saved[name] ?? groups.folder(name) else { throw LogsAPIError.notFound(name) }
            settings.retentionInDays = days
            saved[name] = settings
        }
    }

    private func deleteLogGroup(_ input: GroupInput) throws -> Data {
        try groups.delete(groupName(input))
        return Data("{}".utf8)
    }

    struct DescribeInput: Decodable {
        var logGroupNamePrefix: String?
        var limit: Int?
        var nextToken: String?
    }

    /// Groups sorted by name, `limit` (1 to 50) a page; the token is the last name given.
    private func describeLogGroups(_ input: DescribeInput) throws -> Data {
        let limit = input.limit ?? 50
        guard (1...50).contains(limit) else { throw LogsAPIError.invalidParameter("limit \(limit) is out of range: 1 to 50") }
        let after = try input.nextToken.map { token -> String in
            guard let data = Data(base64Encoded: token), let name = String(data: data, encoding: .utf8) else {
                throw LogsAPIError.invalidParameter("The nextToken is not one this server gave; start again without it")
            }
            return name
        }
        let matching = groups.all
            .filter { $0.key.hasPrefix(input.logGroupNamePrefix ?? "") && $0.key > (after ?? "") }
            .sorted { $0.key < $1.key }
        let page = matching.prefix(limit).map { name, settings -> [String: Any] in
            var group: [String: Any] = [
                "logGroupName": name, "creationTime": settings.creationTime, "metricFilterCount": 0,
                "arn": "arn:aws:logs:\(region):\(account):log-group:\(name):*",
                "logGroupArn": "arn:aws:logs:\(region):\(account):log-group:\(name)",
                "storedBytes": groups.storedBytes(of: name), "logGroupClass": "STANDARD",
            ]
            if let days = settings.retentionInDays { group["retentionInDays"] = days }
            return group
        }
        var answer: [String: Any] = ["logGroups": page]
        if matching.count > limit, let last = page.last?["logGroupName"] as? String {
            answer["nextToken"] = Data(last.utf8).base64EncodedString()
        }
        return try JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
