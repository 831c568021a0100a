import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The two date forms AWS uses: SigV4's `20150830T123600Z`, and ISO 8601 expirations.
enum AWSDates {
    /// `YYYYMMDDTHHMMSSZ` in UTC, the value of `X-Amz-Date`. Built from `gmtime_r` rather than a
    /// formatter: it is on every request's path and must not depend on a locale.
    static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// An ISO 8601 time such as STS's `2015-08-30T13:36:00Z` or IMDS's `…T13:36:00.123Z`.
    static func parseISO8601(_ text: String) -> Date? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
