import Crypto
import Foundation

/// Signs HTTP requests with AWS Signature Version 4.
///
/// ```swift
/// let signer = AWSSigner(credentials: credentials, region: "us-east-1", service: "lambda")
/// let signature = signer.sign(method: "GET", path: "/2015-03-31/functions/", query: [("MaxItems", "50")],
///                             headers: [("host", "lambda.us-east-1.amazonaws.com")], body: [], date: Date())
/// // send signature.headers (X-Amz-Date, X-Amz-Content-Sha256, Authorization…) with the request
/// ```
///
/// `path` is the path as sent on the wire (each segment percent-encoded once). Every service but
/// S3 signs it encoded a second time and with `.`/`..` segments and repeated slashes removed;
/// S3 signs it as sent (botocore `auth.py`, `SigV4Auth._normalize_url_path` and `S3SigV4Auth`).
public struct AWSSigner: Sendable {
    public let credentials: AWSCredentials
    public let region: String
    /// The signing name: `lambda`, `iam`, `sts`, `logs`, `s3`.
    public let service: String

    /// Headers that proxies and HTTP clients rewrite or add: signing them would break signatures.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "x-amzn-trace-id", "expect", "connection", "transfer-encoding"]

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// A signature and the intermediate texts it came from (what AWS's `SignatureDoesNotMatch`
    /// message compares against).
    public struct Signature: Sendable {
        public let canonicalRequest: String
        public let stringToSign: String
        /// The hex HMAC-SHA256.
        public let signature: String
        /// The value of the `Authorization` header.
        public let authorization: String
        /// The headers to add to the request, `Authorization` last.
        public let headers: [(name: String, value: String)]
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - path: the path as sent, each segment percent-encoded once.
    ///   - query: the query parameters, not encoded.
    ///   - headers: the headers to sign, including `host`; repeated names are signed as one
    ///     comma-joined header, in order.
    ///   - signsContentSHA256: adds and signs `X-Amz-Content-Sha256` (S3 needs it, moto needs it
    ///     on bodiless Lambda requests, and every service accepts it).
    ///   - signsSessionToken: signs `X-Amz-Security-Token` when the credentials have one.
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        body: [UInt8], date: Date, signsContentSHA256: Bool = true, signsSessionToken: Bool = true
    ) -> Signature {
        let payloadHash = Self.hexSHA256(body)
        let amzDate = AWSDates.amzDate(date)
        let day = String(amzDate.prefix(8))

        var added: [(name: String, value: String)] = [("X-Amz-Date", amzDate)]
        if signsContentSHA256 { added.append(("X-Amz-Content-Sha256", payloadHash)) }
        if let token = credentials.sessionToken, signsSessionToken { added.append(("X-Amz-Security-Token", token)) }

        // Lower-cased names, values trimmed with inner runs of spaces folded to one, repeated
        // names joined with commas in their order; sorted by name.
        var signed: [String: [String]] = [:]
        for (name, value) in headers + added.map({ ($0.name, $0.value) }) {
            let name = name.lowercased()
            guard !Self.unsignedHeaders.contains(name) else { continue }
            signed[name, default: []].append(Self.canonicalValue(value))
        }
        let names = signed.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(signed[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [
            method.uppercased(),
            canonicalURI(path),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hexSHA256(Array(canonicalRequest.utf8))].joined(separator: "\n")

        let key = signingKey(day: day)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization, headers: added + [("Authorization", authorization)]
        )
    }

    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    func canonicalURI(_ path: String) -> String {
        let path = path.isEmpty ? "/" : path
        if service == "s3" { return path }
        // Remove dot segments and empty segments (RFC 3986 5.2.4 plus collapsed slashes), keep a
        // trailing slash, then encode what was sent once more.
        var segments: [String] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(String(segment))
            }
        }
        var normalized = "/" + segments.joined(separator: "/")
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last
        if path.hasSuffix("/") || last == "." || last == "..", normalized != "/" { normalized += "/" }
        return AWSPercentEncoding.encode(normalized, keepingSlashes: true)
    }

    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (AWSPercentEncoding.encode($0.0), AWSPercentEncoding.encode($0.1)) }
        let sorted = encoded.sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    static func canonicalValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
