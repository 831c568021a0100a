import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A query-protocol request (IAM, STS): `Action=…&Version=…` and the action's parameters, from
/// the form body and the URL's query alike, as AWS accepts both.
struct QueryRequest: Sendable {
    let parameters: [String: String]

    init(form: String, query: String?) {
        var parameters: [String: String] = [:]
        for text in [query ?? "", form] {
            for pair in text.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (part: Substring) -> String in
                    let plain = part.replacingOccurrences(of: "+", with: " ")
                    return plain.removingPercentEncoding ?? plain
                }
                parameters[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
            }
        }
        self.parameters = parameters
    }

    var action: String? { parameters["Action"] }

    subscript(name: String) -> String? { parameters[name] }

    /// A parameter the action cannot do without; AWS's `ValidationError` when it is missing.
    func require(_ name: String) throws -> String {
        guard let value = parameters[name], !value.isEmpty else {
            throw QueryError.validation("1 validation error detected: Value null at '\(name.prefix(1).lowercased() + name.dropFirst())' failed to satisfy constraint: Member must not be null")
        }
        return value
    }
}

/// An error of the query protocol as IAM and STS shape it:
/// `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error><RequestId>…`.
struct QueryError: Error, Sendable {
    var code: String
    var status: HTTPResponse.Status
    var message: String

    static func validation(_ message: String) -> Self { Self(code: "ValidationError", status: .badRequest, message: message) }
    static func noSuchEntity(_ message: String) -> Self { Self(code: "NoSuchEntity", status: .notFound, message: message) }

    func response(namespace: String) -> Response {
        let xml = """
        <ErrorResponse xmlns="\(namespace)"><Error><Type>Sender</Type><Code>\(QueryXML.escape(code))</Code>\
        <Message>\(QueryXML.escape(message))</Message></Error><RequestId>\(UUID().uuidString.lowercased())</RequestId></ErrorResponse>
        """
        return QueryXML.response(xml, status: status)
    }
}

/// The query protocol's XML answers: `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…`.
enum QueryXML {
    /// `action`'s answer holding `result` (already XML), or only the metadata when `nil`.
    static func answer(_ action: String, namespace: String, result: String?) -> Response {
        var xml = "<\(action)Response xmlns=\"\(namespace)\">"
        if let result { xml += "<\(action)Result>\(result)</\(action)Result>" }
        xml += "<ResponseMetadata><RequestId>\(UUID().uuidString.lowercased())</RequestId></ResponseMetadata></\(action)Response>"
        return response(xml, status: .ok)
    }

    static func response(_ xml: String, status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [.contentType: "text/xml"]
        headers[HTTPField.Name("X-Amzn-RequestId")!] = UUID().uuidString.lowercased()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + xml)))
    }

    /// `<name>value</name>`, escaped.
    static func element(_ name: String, _ value: String) -> String { "<\(name)>\(escape(value))</\(name)>" }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A policy document as IAM answers it: percent-encoded (clients decode it).
    static func policy(_ document: String) -> String {
        document.addingPercentEncoding(withAllowedCharacters: unreserved) ?? document
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
}
