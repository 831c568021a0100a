import Foundation
import NIOHTTP1
import Testing
@testable import HoistAWS

/// AWS's published SigV4 test suite (aws-c-auth `tests/aws-signing-test-suite/v4`): the request,
/// and the canonical request, string to sign and signature AWS documents for it.
struct SigV4Vector: Sendable, CustomTestStringConvertible {
    var name: String
    var method = "GET"
    /// The path as it appears in the suite's request line.
    var path = "/"
    /// The query as it appears in the request line (percent-escapes decoded before signing).
    var query = ""
    var headers: [(String, String)] = []
    var body = ""
    /// The suite's `sign_body`: add and sign `X-Amz-Content-Sha256`.
    var signsBody = false
    var sessionToken: String?
    var canonicalRequest: String
    var stringToSign: String
    var signature: String

    var testDescription: String { name }

    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func canonical(_ method: String = "GET", _ uri: String = "/", _ query: String = "", headers: String, signed: String, hash: String = emptyHash) -> String {
        "\(method)\n\(uri)\n\(query)\n\(headers)\n\n\(signed)\n\(hash)"
    }

    static func stringToSign(_ hash: String) -> String {
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\(hash)"
    }

    static let host = "host:example.amazonaws.com"
    static let date = "x-amz-date:20150830T123600Z"
    static let sessionToken = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

    static let all: [SigV4Vector] = [
        SigV4Vector(
            name: "get-vanilla",
            canonicalRequest: canonical(headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        SigV4Vector(
            name: "get-vanilla-query-order-key-case", query: "Param2=value2&Param1=value1",
            canonicalRequest: canonical("GET", "/", "Param1=value1&Param2=value2", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        SigV4Vector(
            name: "get-vanilla-query-order-encoded", query: "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
            canonicalRequest: canonical("GET", "/", "%E1%88%B4=Value1&Param=Value2&Param-3=Value3", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71"),
            signature: "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
        SigV4Vector(
            name: "get-vanilla-utf8-query", query: "ሴ=bar",
            canonicalRequest: canonical("GET", "/", "%E1%88%B4=bar", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        SigV4Vector(
            name: "get-vanilla-query-unreserved",
            query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            canonicalRequest: canonical("GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                                        headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"),
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        SigV4Vector(
            name: "get-utf8", path: "/ሴ",
            canonicalRequest: canonical("GET", "/%E1%88%B4", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        SigV4Vector(
            name: "get-space-normalized", path: "/example space/",
            canonicalRequest: canonical("GET", "/example%20space/", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        SigV4Vector(
            name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            canonicalRequest: canonical("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        SigV4Vector(
            name: "get-slashes-normalized", path: "//example//",
            canonicalRequest: canonical("GET", "/example/", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015"),
            signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
        SigV4Vector(
            name: "get-slash-pointless-dot-normalized", path: "/./example",
            canonicalRequest: canonical("GET", "/example", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702"),
            signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
        SigV4Vector(
            name: "get-relative-relative-normalized", path: "/example1/example2/../..",
            canonicalRequest: canonical(headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        SigV4Vector(
            name: "get-header-value-trim", headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            canonicalRequest: canonical(headers: "\(host)\nmy-header1:value1\nmy-header2:\"a b c\"\n\(date)", signed: "host;my-header1;my-header2;x-amz-date"),
            stringToSign: stringToSign("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        SigV4Vector(
            name: "get-header-key-duplicate", headers: [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
            canonicalRequest: canonical(headers: "\(host)\nmy-header1:value2,value2,value1\n\(date)", signed: "host;my-header1;x-amz-date"),
            stringToSign: stringToSign("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        SigV4Vector(
            name: "get-header-value-multiline", headers: [("My-Header1", "value1\n  value2\n     value3")],
            canonicalRequest: canonical(headers: "\(host)\nmy-header1:value1 value2 value3\n\(date)", signed: "host;my-header1;x-amz-date"),
            stringToSign: stringToSign("e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8"),
            signature: "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"),
        SigV4Vector(
            name: "post-vanilla-query", method: "POST", query: "Param1=value1",
            canonicalRequest: canonical("POST", "/", "Param1=value1", headers: "\(host)\n\(date)", signed: "host;x-amz-date"),
            stringToSign: stringToSign("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        SigV4Vector(
            name: "post-x-www-form-urlencoded", method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "13")], body: "Param1=value1", signsBody: true,
            canonicalRequest: canonical("POST", "/", headers: "content-length:13\ncontent-type:application/x-www-form-urlencoded\n\(host)\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n\(date)",
                                        signed: "content-length;content-type;host;x-amz-content-sha256;x-amz-date", hash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
            stringToSign: stringToSign("b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb"),
            signature: "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"),
        SigV4Vector(
            name: "post-x-www-form-urlencoded-parameters", method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Content-Length", "13")], body: "Param1=value1", signsBody: true,
            canonicalRequest: canonical("POST", "/", headers: "content-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n\(host)\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n\(date)",
                                        signed: "content-length;content-type;host;x-amz-content-sha256;x-amz-date", hash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
            stringToSign: stringToSign("a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d"),
            signature: "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"),
        SigV4Vector(
            name: "get-vanilla-with-session-token", sessionToken: "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
            canonicalRequest: canonical(headers: "\(host)\n\(date)\nx-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", signed: "host;x-amz-date;x-amz-security-token"),
            stringToSign: stringToSign("067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"),
            signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"),
        SigV4Vector(
            name: "post-sts-header-before", method: "POST", sessionToken: sessionToken,
            canonicalRequest: canonical("POST", "/", headers: "\(host)\n\(date)\nx-amz-security-token:\(sessionToken)", signed: "host;x-amz-date;x-amz-security-token"),
            stringToSign: stringToSign("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
    ]
}

@Suite("SigV4")
struct SigV4Tests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    /// 2015-08-30T12:36:00Z
    static let date = Date(timeIntervalSince1970: 1_440_938_160)

    static func sign(_ vector: SigV4Vector) -> AWSSigner.Signature {
        var credentials = Self.credentials
        credentials.sessionToken = vector.sessionToken
        let signer = AWSSigner(credentials: credentials, region: "us-east-1", service: "service")
        let query: [(String, String)] = vector.query.isEmpty ? [] : vector.query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map { AWSPercentEncoding.decode(String($0)) }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
        return signer.sign(
            method: vector.method, path: vector.path, query: query,
            headers: [("Host", "example.amazonaws.com")] + vector.headers, body: Array(vector.body.utf8),
            date: date, signsContentSHA256: vector.signsBody
        )
    }

    @Test("AWS's published test-suite requests sign to the documented canonical request, string to sign and signature", arguments: SigV4Vector.all)
    func publishedVector(_ vector: SigV4Vector) {
        let signature = Self.sign(vector)
        #expect(signature.canonicalRequest == vector.canonicalRequest)
        #expect(signature.stringToSign == vector.stringToSign)
        #expect(signature.signature == vector.signature)
        #expect(signature.authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="))
        #expect(signature.authorization.hasSuffix(", Signature=\(vector.signature)"))
    }

    @Test("the signed headers are X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token and Authorization last")
    func addedHeaders() {
        var credentials = Self.credentials
        credentials.sessionToken = "TOKEN"
        let signature = AWSSigner(credentials: credentials, region: "us-east-1", service: "lambda")
            .sign(method: "DELETE", path: "/2015-03-31/functions/f", headers: [("Host", "lambda.us-east-1.amazonaws.com")], body: [], date: Self.date)
        #expect(signature.headers.map(\.name) == ["X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token", "Authorization"])
        #expect(signature.headers[1].value == SigV4Vector.emptyHash)
        #expect(signature.authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
    }

    @Test("S3 signs the path as sent; other services encode it a second time and normalise it")
    func pathEncoding() {
        let s3 = AWSSigner(credentials: Self.credentials, region: "us-east-1", service: "s3")
        let lambda = AWSSigner(credentials: Self.credentials, region: "us-east-1", service: "lambda")
        #expect(s3.canonicalURI("/bucket/a%20b/../c") == "/bucket/a%20b/../c")
        #expect(lambda.canonicalURI("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations") == "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations")
        #expect(lambda.canonicalURI("/a/./b//c/") == "/a/b/c/")
        #expect(lambda.canonicalURI("") == "/")
    }

    @Test("the signature matches the one curl --aws-sigv4 sends for the same request")
    func matchesCurl() async throws {
        let server = try await LocalHTTPServer.start { _ in StubResponse(body: "{}") }
        defer { Task { await server.stop() } }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-o", "/dev/null", "--aws-sigv4", "aws:amz:eu-west-1:lambda", "--user", "AKIDCURL:curl/secret+key",
                             "\(server.url)/2015-03-31/functions/?FunctionVersion=ALL&MaxItems=5"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let request = try #require(server.requests.first)
        let sent = try #require(request.header("Authorization"))
        let amzDate = try #require(request.header("X-Amz-Date"))
        var parts = DateComponents()
        parts.timeZone = TimeZone(identifier: "UTC")
        let digits = Array(amzDate)
        func number(_ range: Range<Int>) -> Int { Int(String(digits[range]))! }
        (parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second) = (number(0..<4), number(4..<6), number(6..<8), number(9..<11), number(11..<13), number(13..<15))
        let date = try #require(Calendar(identifier: .gregorian).date(from: parts))

        let signer = AWSSigner(credentials: AWSCredentials(accessKeyID: "AKIDCURL", secretAccessKey: "curl/secret+key"), region: "eu-west-1", service: "lambda")
        let ours = signer.sign(method: "GET", path: "/2015-03-31/functions/", query: [("FunctionVersion", "ALL"), ("MaxItems", "5")],
                               headers: [("Host", "127.0.0.1:\(server.port)")], body: [], date: date, signsContentSHA256: false)
        #expect(ours.authorization == sent)
    }
}
