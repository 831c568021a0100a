import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

/// `curl` off the cooperative pool.
private func curlAsync(_ url: String, _ arguments: [String] = []) async throws -> CurlResult {
    try await offPool { try curl(url, arguments) }
}

/// `openssl` output, failing the test when it fails.
private func openssl(_ arguments: [String]) async throws -> String {
    let output = try await offPool { try Command.run("/usr/bin/openssl", arguments) }
    guard output.status == 0 else { throw HoistError(.internalError, "openssl \(arguments.joined(separator: " ")): \(output.stderr)") }
    return output.stdout
}

/// A fresh self-signed certificate that no daemon has: what a wrong pin looks like.
private func otherCertificate(in directory: String) async throws -> String {
    let certificate = directory + "/other-cert.pem"
    _ = try await openssl([
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", directory + "/other-key.pem", "-out", certificate, "-days", "1", "-subj", "/CN=not-the-daemon",
    ])
    return try String(contentsOfFile: certificate, encoding: .utf8)
}

private func mode(of path: String) throws -> Int {
    try #require((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
}

@Suite("Token on every route, and TLS with a pinned certificate", .serialized)
struct AuthTests {
    @Test("HOIST_REQUIRE_TOKEN: every route answers 401 without the token and says nothing about the apps")
    func tokenOnEveryRoute() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.requireToken: "1"]) { daemon in
            try await daemon.deploy()
            let base = daemon.baseURL
            let token = try daemon.home.controlToken()
            let missing = [String]()
            let wrong = ["-H", "Authorization: Bearer wrong"]
            for headers in [missing, wrong, ["-H", "Authorization: Bearer \(token)x"], ["-H", "Authorization: Basic \(token)"]] {
                let call = try await curlAsync(base + "/testapp/add", ["-i"] + headers + ["-d", "[1,2]"])
                #expect(call.status == 401, "\(headers)")
                #expect(call.body.lowercased().contains("www-authenticate: bearer"))
                #expect(call.body.contains("unauthorized"))
                #expect(!call.body.contains("testapp"))
                #expect(!call.body.contains("add"))
            }
            for headers in [missing, wrong] {
                for path in ["/", "/testapp", "/openapi.json", "/_hoist/health", "/_hoist/apps", "/_hoist/runs", "/no/such/route"] {
                    let answer = try await curlAsync(base + path, headers)
                    #expect(answer.status == 401, "\(path) \(headers)")
                    #expect(!answer.body.contains("testapp"), "\(path)")
                    #expect(!answer.body.contains("\"version\""), "\(path)")
                }
            }
            let authorized = ["-H", "Authorization: Bearer \(token)"]
            #expect(try await curlAsync(base + "/testapp/add", authorized + ["-d", "[1,2]"]).body == "3")
            let listing = try await curlAsync(base + "/", authorized)
            #expect(listing.status == 200)
            #expect(listing.body.contains("testapp"))
            // Hoist's own client sends the token on calls too, plain and streaming.
            #expect(try await daemon.call("add", "[2,3]") == "5")
            #expect(try await daemon.call("chatter", #"["T", 2]"#, output: { _, _ in }) == "2")
            let anonymous = DaemonClient(baseURL: base)
            let error = await #expect(throws: HoistError.self) {
                _ = try await anonymous.call(app: "testapp", function: "add", body: ByteBuffer(string: "[1,2]"))
            }
            #expect(error?.code == .unauthorized)
        }
    }

    @Test("listening beyond loopback requires the token without being asked")
    func beyondLoopbackImpliesToken() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.host: "0.0.0.0"]) { daemon in
            let open = try await curlAsync(daemon.baseURL + "/")
            #expect(open.status == 401)
            #expect(try await daemon.client.health().status == "ok")
        }
    }

    @Test("HOIST_TLS: certificate and key files, curl with the certificate, no plain HTTP, calls through a pinned client")
    func tls() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.tls: "1"]) { daemon in
            let home = daemon.home
            #expect(daemon.baseURL.hasPrefix("https://"))
            #expect(try mode(of: home.tlsCertificateFile) == 0o644)
            #expect(try mode(of: home.tlsKeyFile) == 0o600)
            let certificatePEM = try String(contentsOfFile: home.tlsCertificateFile, encoding: .utf8)
            let keyPEM = try String(contentsOfFile: home.tlsKeyFile, encoding: .utf8)
            #expect(keyPEM.contains("PRIVATE KEY"))
            let names = try await openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", home.tlsCertificateFile])
            #expect(names.contains("IP Address:127.0.0.1"))
            #expect(names.contains("DNS:localhost"))
            let dates = try await openssl(["x509", "-noout", "-checkend", String(9 * 365 * 86400), "-in", home.tlsCertificateFile])
            #expect(dates.contains("will not expire"))

            let token = try home.controlToken()
            let port = daemon.port
            let verified = try await curlAsync("https://127.0.0.1:\(port)/_hoist/health", ["--cacert", home.tlsCertificateFile, "-H", "Authorization: Bearer \(token)"])
            #expect(verified.status == 200)
            #expect(verified.body.contains("\"status\":\"ok\""))
            // TLS implies the token.
            #expect(try await curlAsync("https://127.0.0.1:\(port)/", ["--cacert", home.tlsCertificateFile]).status == 401)
            // Plain HTTP to the TLS port gets no HTTP answer.
            let plain = try await offPool { try Command.curl(["-w", "\n%{http_code}", "-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(port)/_hoist/health"]) }
            #expect(plain.status != 0)
            #expect(!plain.stdout.contains("\"status\""))

            // Deploy, call, stream and list through the pinned client: AsyncHTTPClient and the call pool.
            try await daemon.deploy()
            #expect(try await daemon.call("add", "[1,2]") == "3")
            let lines = OutputTests.Collected()
            #expect(try await daemon.call("chatter", #"["S", 3]"#, output: lines.handler) == "3")
            #expect(lines.out == "S line 0\nS line 1\nS line 2\n")
            #expect(try await daemon.client.apps().map(\.name) == ["testapp"])
            // The command line finds the daemon's URL (https) in its home and pins its certificate.
            let called = try await offPool { try daemon.hoist(["call", "testapp", "add", "[20,22]", "--port", String(port)]) }
            #expect(called.status == 0 && called.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "42", "\(called.stderr)")
            let status = try await offPool { try daemon.hoist(["daemon", "status", "--port", String(port)]) }
            #expect(status.status == 0 && status.stdout.contains("https://127.0.0.1:\(port)"), "\(status.stdout) \(status.stderr)")
            let concurrent = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<8 { group.addTask { try await daemon.call("add", "[\(i),1]") } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(concurrent) == Set((0..<8).map { String($0 + 1) }))

            // The key and the token never reach the daemon's log; the fingerprint does.
            let keyBody = keyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }
            #expect(!keyBody.isEmpty)
            let log = daemon.daemonLog
            for line in keyBody { #expect(!log.contains(line)) }
            #expect(!log.contains("PRIVATE KEY"))
            #expect(!log.contains(token))
            #expect(log.contains(try CertificateFingerprint.sha256(pem: certificatePEM)))

            // A restart keeps the certificate, so the pin stays good.
            try await offPool { daemon.stop() }
            try await daemon.start()
            #expect(try String(contentsOfFile: home.tlsCertificateFile, encoding: .utf8) == certificatePEM)
            let pinned = try DaemonClient(baseURL: "https://127.0.0.1:\(daemon.port)", token: token, pinnedCertificatePEM: certificatePEM)
            #expect(try await pinned.call(app: "testapp", function: "add", body: ByteBuffer(string: "[4,5]")) == ByteBuffer(string: "9"))
        }
    }

    @Test("a client pinned to another certificate fails at once with a certificate mismatch")
    func wrongPin() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.tls: "1"]) { daemon in
            try await daemon.deploy()
            let other = try await otherCertificate(in: daemon.home.root)
            let token = try daemon.home.controlToken()
            let client = try DaemonClient(baseURL: daemon.baseURL, token: token, pinnedCertificatePEM: other)
            #expect(client.pinnedFingerprint == (try CertificateFingerprint.sha256(pem: other)))
            let started = ContinuousClock.now
            let callError = await #expect(throws: HoistError.self) {
                _ = try await client.call(app: "testapp", function: "add", body: ByteBuffer(string: "[1,2]"))
            }
            #expect(callError?.code == .certificateMismatch)
            #expect(callError?.message.contains("does not match the pinned") == true)
            #expect(callError?.message.contains("tls/cert.pem") == true)
            #expect(callError?.message.contains(token) == false)
            let controlError = await #expect(throws: HoistError.self) { _ = try await client.apps() }
            #expect(controlError?.code == .certificateMismatch)
            let deployError = await #expect(throws: HoistError.self) {
                _ = try await client.deploy(app: "testapp", request: DaemonAPI.DeployRequest(sha256: try ExecutableHash.computeSHA256(of: Binaries.testApp), executablePath: Binaries.testApp, env: Env(), secretValues: [:]))
            }
            #expect(deployError?.code == .certificateMismatch)
            #expect(ContinuousClock.now - started < .seconds(10))
            // The right pin still works.
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("a pinned client needs an https URL and a PEM certificate")
    func pinnedClientArguments() async throws {
        let directory = NSTemporaryDirectory() + "hoist-pin-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pem = try await otherCertificate(in: directory)
        #expect(throws: HoistError.self) { _ = try DaemonClient(baseURL: "http://127.0.0.1:1", token: nil, pinnedCertificatePEM: pem) }
        let notPEM = #expect(throws: HoistError.self) { _ = try DaemonClient(baseURL: "https://127.0.0.1:1", token: nil, pinnedCertificatePEM: "hello") }
        #expect(notPEM?.code == .invalidConfiguration)
    }

    @Test("the SHA-256 fingerprint of a PEM certificate is openssl's, without colons, in lower case")
    func fingerprint() async throws {
        let directory = NSTemporaryDirectory() + "hoist-fingerprint-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pem = try await otherCertificate(in: directory)
        let output = try await openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", directory + "/other-cert.pem"])
        let expected = try #require(output.split(separator: "=").last)
            .trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: ":", with: "")
            .lowercased()
        #expect(expected.count == 64)
        #expect(try CertificateFingerprint.sha256(pem: pem) == expected)
        // Text around the block (as in a bundle or a log) does not matter.
        #expect(try CertificateFingerprint.sha256(pem: "subject=…\n" + pem + "\ntrailing") == expected)
        #expect(throws: HoistError.self) { _ = try CertificateFingerprint.sha256(pem: "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n") }
    }
}
