import Foundation
import NIOHTTP1

/// A log group as `DescribeLogGroups` lists it.
public struct CloudWatchLogGroup: Decodable, Sendable, Equatable {
    public let logGroupName: String
    public let retentionInDays: Int?
    public let arn: String?
    public let storedBytes: Int?
}

/// One event `FilterLogEvents` found.
public struct CloudWatchLogEvent: Decodable, Sendable, Equatable {
    public let logStreamName: String?
    /// Milliseconds since 1970.
    public let timestamp: Int64
    public let message: String
    public let eventId: String?
}

/// The CloudWatch Logs calls a deployed function needs (JSON 1.1 protocol: `POST /` with
/// `X-Amz-Target: Logs_20140328.<Operation>`). Listing calls read every page.
///
/// ```swift
/// let logs = CloudWatchLogsAPI(client: AWSClient(config: config))
/// try await logs.putRetentionPolicy(logGroup: "/aws/lambda/summer", days: 14)
/// for event in try await logs.filterLogEvents(logGroup: "/aws/lambda/summer", since: Date().addingTimeInterval(-3600)) {
///     print(event.message, terminator: "")
/// }
/// ```
public struct CloudWatchLogsAPI: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    /// `/aws/lambda/<function>`: where Lambda writes a function's logs.
    public static func logGroup(forFunction name: String) -> String { "/aws/lambda/\(name)" }

    /// `PutRetentionPolicy`. AWS takes only its listed values (1, 3, 5, 7, 14, 30, 60, 90…).
    public func putRetentionPolicy(logGroup: String, days: Int) async throws {
        _ = try await call("PutRetentionPolicy", ["logGroupName": logGroup, "retentionInDays": days])
    }

    /// `DescribeLogGroups` of the groups whose names start with `prefix`, every page
    /// (`pageSize` groups a request, at most 50).
    public func describeLogGroups(prefix: String? = nil, pageSize: Int = 50) async throws -> [CloudWatchLogGroup] {
        struct Page: Decodable {
            var logGroups: [CloudWatchLogGroup]
            var nextToken: String?
        }
        var groups: [CloudWatchLogGroup] = []
        var token: String?
        repeat {
            var fields: [String: Any] = ["limit": pageSize]
            if let prefix { fields["logGroupNamePrefix"] = prefix }
            if let token { fields["nextToken"] = token }
            let page: Page = try decode(try await call("DescribeLogGroups", fields))
            groups += page.logGroups
            token = page.nextToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return groups
    }

    /// `FilterLogEvents` of a group from `since` on, every page, in the order AWS gives them.
    public func filterLogEvents(logGroup: String, since: Date? = nil, pattern: String? = nil) async throws -> [CloudWatchLogEvent] {
        struct Page: Decodable {
            var events: [CloudWatchLogEvent]
            var nextToken: String?
        }
        var events: [CloudWatchLogEvent] = []
        var token: String?
        repeat {
            var fields: [String: Any] = ["logGroupName": logGroup]
            if let since { fields["startTime"] = Int64(since.timeIntervalSince1970 * 1000) }
            if let pattern { fields["filterPattern"] = pattern }
            if let token { fields["nextToken"] = token }
            let page: Page = try decode(try await call("FilterLogEvents", fields))
            events += page.events
            token = page.nextToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return events
    }

    /// `DeleteLogGroup`; a group that does not exist is not an error (`ResourceNotFoundException` is ignored).
    public func deleteLogGroup(_ name: String) async throws {
        do {
            _ = try await call("DeleteLogGroup", ["logGroupName": name])
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {}
    }

    /// `CreateLogGroup` (Lambda creates a function's group itself; tests and tools may need one first).
    public func createLogGroup(_ name: String) async throws {
        _ = try await call("CreateLogGroup", ["logGroupName": name])
    }

    func call(_ operation: String, _ fields: [String: Any]) async throws -> AWSResponse {
        let headers: HTTPHeaders = ["X-Amz-Target": "Logs_20140328.\(operation)", "Content-Type": "application/x-amz-json-1.1"]
        let body = Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
        return try await client.send(AWSRequest(service: .cloudWatchLogs, method: .POST, path: "/", headers: headers, body: body))
    }

    private func decode<T: Decodable>(_ response: AWSResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(response.body))
    }
}
