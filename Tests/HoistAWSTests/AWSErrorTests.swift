import NIOHTTP1
import Testing
@testable import HoistAWS

@Suite("AWS errors")
struct AWSErrorTests {
    static func parse(_ status: Int, _ body: String, headers: HTTPHeaders = [:], service: String = "lambda") -> AWSError {
        AWSError(statusCode: status, headers: headers, body: Array(body.utf8), service: service)
    }

    @Test("REST-JSON: the code from X-Amzn-ErrorType, the message from the body, the request id from its header")
    func restJSON() {
        let error = Self.parse(404, #"{"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:f"}"#,
                               headers: ["X-Amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.lambda/", "X-Amzn-RequestId": "req-1"])
        #expect(error == AWSError(code: "ResourceNotFoundException", message: "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f",
                                  requestID: "req-1", statusCode: 404, service: "lambda"))
        #expect(error.description == "lambda answered ResourceNotFoundException (HTTP 404): Function not found: arn:aws:lambda:us-east-1:123456789012:function:f [request id req-1]")
    }

    @Test("JSON 1.1: a namespaced __type and a capitalised Message")
    func jsonType() {
        let error = Self.parse(400, #"{"__type":"com.amazonaws.logs#ThrottlingException","Message":"Rate exceeded"}"#, service: "logs")
        #expect(error.code == "ThrottlingException" && error.message == "Rate exceeded" && error.isThrottling)
    }

    @Test("query protocol XML: <ErrorResponse><Error><Code>, <Message>, and the <RequestId> outside <Error>")
    func queryXML() {
        let body = """
        <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on</Message></Error>
          <RequestId>4c1a-req</RequestId>
        </ErrorResponse>
        """
        let error = Self.parse(403, body, service: "sts")
        #expect(error == AWSError(code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match & so on",
                                  requestID: "4c1a-req", statusCode: 403, service: "sts"))
    }

    @Test("S3's <Error> with its <RequestId> inside")
    func s3XML() {
        let body = #"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName><RequestId>TX1</RequestId></Error>"#
        let error = Self.parse(404, body, service: "s3")
        #expect(error.code == "NoSuchBucket" && error.message == "The specified bucket does not exist" && error.requestID == "TX1")
    }

    @Test("an answer without a body still has a code (the status) and a message")
    func emptyBody() {
        let error = Self.parse(503, "")
        #expect(error.code == "503" && error.message == "Service Unavailable" && error.statusCode == 503)
        let html = Self.parse(502, "<html>bad gateway</html>")
        #expect(html.code == "502")
    }
}
