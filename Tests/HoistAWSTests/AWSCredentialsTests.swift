import HoistAWS
import Testing

@Suite("AWS credentials")
struct AWSCredentialsTests {
    @Test("credentials keep what they are given")
    func values() {
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token")
        #expect(credentials.accessKeyID == "AKID" && credentials.secretAccessKey == "secret" && credentials.sessionToken == "token")
    }
}
