import Foundation

/// A call's deadline as it travels: the `Hoist-Timeout` request header, in seconds.
public enum CallTimeout {
    public static let header = "Hoist-Timeout"

    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Parses a header value; throws a clear error for anything but a positive number.
    public static func parse(_ text: String) throws -> Double {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0 else {
            throw HoistError(.invalidConfiguration, "\(header) must be a positive number of seconds, got '\(text)'")
        }
        return value
    }

    /// Checks a caller's timeout before anything is sent.
    public static func validate(_ duration: Duration) throws -> Double {
        let value = seconds(duration)
        guard value > 0 else {
            throw HoistError(.invalidConfiguration, "a call timeout must be positive, got \(duration)")
        }
        return value
    }
}
