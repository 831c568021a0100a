import Foundation

/// A CloudWatch Logs filter pattern of terms: every plain term or `"quoted phrase"` must occur
/// in the message, no `-term` may, and of `?term`s at least one must. Matching is
/// case-sensitive, as CloudWatch's is. JSON (`{ $.… }`) and space-delimited (`[…]`) patterns
/// are refused rather than matched wrongly.
struct LogFilterPattern: Sendable {
    private var required: [String] = []
    private var excluded: [String] = []
    private var optional: [String] = []

    init(_ text: String?) throws {
        let text = (text ?? "").trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("{") || text.hasPrefix("[") {
            throw LogsAPIError.invalidParameter("The local Lambda matches filter patterns of terms and \"quoted phrases\" only (with -term and ?term); '\(text)' is a JSON or space-delimited pattern")
        }
        var rest = Substring(text)
        while let first = rest.firstIndex(where: { !$0.isWhitespace }) {
            rest = rest[first...]
            var kind: Character?
            if let sign = rest.first, sign == "-" || sign == "?", rest.count > 1 {
                kind = sign
                rest = rest.dropFirst()
            }
            let term: String
            if rest.first == "\"" {
                let body = rest.dropFirst()
                guard let close = body.firstIndex(of: "\"") else {
                    throw LogsAPIError.invalidParameter("The filter pattern has an opening \" with no closing one: \(text)")
                }
                term = String(body[..<close])
                rest = body[body.index(after: close)...]
            } else {
                let end = rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
                term = String(rest[..<end])
                rest = rest[end...]
            }
            switch kind {
            case "-": excluded.append(term)
            case "?": optional.append(term)
            default: required.append(term)
            }
        }
    }

    func matches(_ message: String) -> Bool {
        required.allSatisfy { message.contains($0) }
            && !excluded.contains { message.contains($0) }
            && (optional.isEmpty || optional.contains { message.contains($0) })
    }
}
