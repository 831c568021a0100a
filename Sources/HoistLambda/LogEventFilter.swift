import Foundation

/// `FilterLogEvents`: a group's lines (one event each) within `startTime`..<`endTime`
/// (milliseconds; AWS includes the start and excludes the end) that match the pattern, sorted
/// by time, `limit` (1 to 10000, all by default) a page. The token is the last event's place,
/// so that lines logged between pages do not shift the next page.
struct LogEventFilter {
    struct Input: Decodable {
        var logGroupName: String?
        var logStreamNames: [String]?
        var logStreamNamePrefix: String?
        var startTime: Int64?
        var endTime: Int64?
        var filterPattern: String?
        var limit: Int?
        var nextToken: String?
    }

    struct Event: Encodable {
        var logStreamName: String
        var timestamp: Int64
        var message: String
        var ingestionTime: Int64
        var eventId: String
        var offset: Int64

        private enum CodingKeys: String, CodingKey { case logStreamName, timestamp, message, ingestionTime, eventId }

        /// Where the event sorts: by time, then stream, then place in the stream.
        var place: String { "\(timestamp) \(offset) \(logStreamName)" }
        func isAfter(_ other: (timestamp: Int64, offset: Int64, stream: String)) -> Bool {
            (timestamp, logStreamName, offset) > (other.timestamp, other.stream, other.offset)
        }
    }

    let groups: LogGroups
    let input: Input

    func answer() throws -> Data {
        guard let group = input.logGroupName else {
            throw LogsAPIError.invalidParameter("1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null")
        }
        guard groups[group] != nil else { throw LogsAPIError.notFound(group) }
        let limit = input.limit ?? 10_000
        guard (1...10_000).contains(limit) else { throw LogsAPIError.invalidParameter("limit \(limit) is out of range: 1 to 10000") }
        if input.logStreamNames != nil && input.logStreamNamePrefix != nil {
            throw LogsAPIError.invalidParameter("logStreamNames and logStreamNamePrefix cannot both be given; pick one")
        }
        let after = try input.nextToken.map(Self.place(of:))
        let pattern = try LogFilterPattern(input.filterPattern)
        var events: [Event] = []
        for stream in groups.streams(of: group) {
            if let names = input.logStreamNames, !names.contains(stream.name) { continue }
            if let prefix = input.logStreamNamePrefix, !stream.name.hasPrefix(prefix) { continue }
            for line in LogTimes.lines(ofStream: stream.path) {
                if let start = input.startTime, line.timestamp < start { continue }
                if let end = input.endTime, line.timestamp >= end { continue }
                guard pattern.matches(line.text) else { continue }
                let event = Event(logStreamName: stream.name, timestamp: line.timestamp, message: line.text, ingestionTime: line.timestamp,
                                  eventId: Self.eventID(stream: stream.name, timestamp: line.timestamp, offset: line.offset), offset: line.offset)
                if let after, !event.isAfter(after) { continue }
                events.append(event)
            }
        }
        events.sort { ($0.timestamp, $0.logStreamName, $0.offset) < ($1.timestamp, $1.logStreamName, $1.offset) }
        struct Answer: Encodable {
            var events: [Event]
            var searchedLogStreams: [Searched]
            var nextToken: String?
        }
        struct Searched: Encodable {
            var logStreamName: String
            var searchedCompletely = true
        }
        let page = Array(events.prefix(limit))
        let next = events.count > limit ? page.last.map { Data($0.place.utf8).base64EncodedString() } : nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Answer(events: page, searchedLogStreams: Set(page.map(\.logStreamName)).sorted().map { Searched(logStreamName: $0) }, nextToken: next))
    }

    private static func place(of token: String) throws -> (timestamp: Int64, offset: Int64, stream: String) {
        let fields = Data(base64Encoded: token).map { String(decoding: $0, as: UTF8.self) }?.split(separator: " ", maxSplits: 2).map(String.init) ?? []
        guard fields.count == 3, let timestamp = Int64(fields[0]), let offset = Int64(fields[1]) else {
            throw LogsAPIError.invalidParameter("The nextToken is not one this server gave; start again without it")
        }
        return (timestamp, offset, fields[2])
    }

    /// 56 digits, as CloudWatch's event ids: the time, the place in the stream and a hash of
    /// the stream's name (FNV-1a), so that the same line always has the same id.
    private static func eventID(stream: String, timestamp: Int64, offset: Int64) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in stream.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        func digits(_ value: UInt64, _ count: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, count - text.count)) + text.suffix(count)
        }
        return digits(UInt64(max(0, timestamp)), 20) + digits(UInt64(max(0, offset)), 16) + digits(hash, 20)
    }
}
