import Foundation

/// Just enough XML for AWS's answers: the text of the first element of a name. The query
/// protocol's answers are flat, attribute-free elements (besides the root's `xmlns`), so a
/// parser and its libxml2 dependency would buy nothing.
enum AWSXML {
    /// The inside of the first `<name>…</name>`, or `nil`.
    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>") ?? openTagWithAttributes(name, in: xml),
              let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    /// The text of the first `<name>…</name>`, with entities decoded; `nil` when absent.
    static func value(_ name: String, in xml: String) -> String? {
        if xml.contains("<\(name)/>"), element(name, in: xml) == nil { return "" }
        return element(name, in: xml).map(unescape)
    }

    private static func openTagWithAttributes(_ name: String, in xml: String) -> Range<String.Index>? {
        guard let start = xml.range(of: "<\(name) "), let end = xml.range(of: ">", range: start.upperBound..<xml.endIndex) else { return nil }
        return start.lowerBound..<end.upperBound
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { out.unicodeScalars.append(scalar) } else { out += rest[amp...semicolon] }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }
}
