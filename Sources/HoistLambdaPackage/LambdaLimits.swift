import Foundation
import HoistCore

/// Lambda's size limits for zip packages
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
public enum LambdaLimits {
    /// The most a function's files may take unzipped (with its layers): 250 MB.
    public static let unzippedBytes: Int64 = 262_144_000
    /// The largest zip Lambda takes in the request itself (`--zip-file`); larger ones go through S3.
    public static let directUploadBytes: Int64 = 52_428_800

    /// Throws, with the figures and the largest files, when `unzippedSize` is over Lambda's limit.
    package static func checkUnzipped(_ unzippedSize: Int64, largest: [(path: String, size: Int64)] = []) throws {
        guard unzippedSize > unzippedBytes else { return }
        var message = "the package would be \(format(unzippedSize)) (\(grouped(unzippedSize)) bytes) unzipped, over Lambda's limit of \(format(unzippedBytes)) (\(grouped(unzippedBytes)) bytes)"
        if !largest.isEmpty {
            message += "; largest: " + largest.prefix(5).map { "\($0.path) \(format($0.size))" }.joined(separator: ", ")
        }
        message += ". Make it smaller (a release build with --static-swift-stdlib, stripped; fewer requirements), or deploy it as a container image (up to 10 GB)"
        throw HoistError(.invalidConfiguration, message)
    }

    /// What to tell the user about a zip of `zippedSize` bytes.
    package static func warnings(zippedSize: Int64) -> [String] {
        guard zippedSize > directUploadBytes else { return [] }
        return ["the zip is \(format(zippedSize)), over the \(format(directUploadBytes)) Lambda takes in a direct upload: upload it to S3 and create the function from there (--code S3Bucket=…,S3Key=…)"]
    }

    /// Bytes as Lambda's documentation counts them: 1 MB = 1,048,576 bytes (KB below 1 MB).
    package static func format(_ bytes: Int64) -> String {
        bytes < 1_048_576 ? String(format: "%.1f KB", Double(bytes) / 1024) : String(format: "%.1f MB", Double(bytes) / 1_048_576)
    }

    static func grouped(_ bytes: Int64) -> String {
        let digits = Array(String(bytes))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }
}
