import Foundation
import HoistCore
import Testing

/// Status code and body of a curl call.
struct CurlResult {
    var status: Int
    var body: String

    init(_ output: Command.Output) throws {
        // `-w '\n%{http_code}'` puts the status on the last line.
        var lines = output.stdout.components(separatedBy: "\n")
        status = Int(lines.removeLast()) ?? -1
        body = lines.joined(separator: "\n")
    }
}

func curl(_ url: String, _ arguments: [String] = []) throws -> CurlResult {
    try CurlResult(Command.curl(arguments + ["-w", "\n%{http_code}", url]))
}

@Suite("HTTP endpoints, called with curl", .serialized)
struct HTTPTests {
    @Test("every function is a POST route returning its JSON result")
    func routes() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let add = try daemon.curl("/testapp/add", ["-d", "[1,2]"])
            #expect(add.status == 200)
            #expect(add.body == "3")
            let named = try daemon.curl("/testapp/add", ["-H", "Content-Type: application/json", "-d", #"{"a":5,"b":6}"#])
            #expect(named.body == "11")
            let none = try daemon.curl("/testapp/zero", ["-X", "POST"])
            #expect(none.status == 200)
            #expect(none.body == #""nothing needed""#)
        }
    }

    @Test("bad requests get the right status and a message that says what to fix; the daemon keeps serving")
    func badRequests() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let cases: [(String, [String], Int, [String])] = [
                ("/testapp/add", ["-d", "[1,"], 400, ["badArguments", "not valid JSON", "add(a: Int, b: Int) -> Int"]),
                ("/testapp/add", ["-d", "[1]"], 400, ["expected 2 arguments, got 1", "add(a: Int, b: Int) -> Int"]),
                ("/testapp/add", ["-d", #"[1,"two"]"#], 400, ["argument 2 (b: Int)", "expected Int"]),
                ("/testapp/add", ["-d", #"{"a":1}"#], 400, ["missing key 'b'"]),
                ("/testapp/add", ["-d", #"{"a":1,"b":2,"c":3}"#], 400, ["unknown argument name 'c'"]),
                ("/testapp/zero", ["-d", "[1]"], 400, ["takes no arguments"]),
                ("/nosuchapp/add", ["-d", "[1,2]"], 404, ["no app named 'nosuchapp'", "testapp"]),
                ("/testapp/nosuchfunction", ["-d", "[1,2]"], 404, ["no function 'nosuchfunction'", "add", "whoami"]),
                ("/testapp/refuse", ["-d", #""why""#], 500, ["HoistTestApp.Refusal", "refused: why"]),
            ]
            for (path, arguments, status, fragments) in cases {
                let result = try daemon.curl(path, arguments)
                #expect(result.status == status, "\(path) \(arguments)")
                for fragment in fragments {
                    #expect(result.body.contains(fragment), "\(path) \(arguments): \(result.body)")
                }
                #expect(try daemon.curl("/testapp/add", ["-d", "[1,2]"]).body == "3")
            }
        }
    }

    @Test("an oversized body gets 413 with the limit, with and without Content-Length")
    func oversizedBody() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.maxBodySize: "4096"]) { daemon in
            try await daemon.deploy()
            let big = daemon.home.root + "/big.json"
            let text = "\"" + String(repeating: "x", count: 10_000) + "\""
            try text.write(toFile: big, atomically: true, encoding: .utf8)
            let withLength = try daemon.curl("/testapp/size", ["--data-binary", "@\(big)"])
            #expect(withLength.status == 413)
            #expect(withLength.body.contains("4096"))
            let chunked = try daemon.curl("/testapp/size", ["-H", "Transfer-Encoding: chunked", "--data-binary", "@\(big)"])
            #expect(chunked.status == 413)
            #expect(chunked.body.contains("bodyTooLarge"))
            #expect(try daemon.curl("/testapp/size", ["-d", #""small""#]).body == "5")
        }
    }

    @Test("Expect: 100-continue is answered, so curl sends large bodies at once")
    func expectContinue() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let big = daemon.home.root + "/big.json"
            try ("\"" + String(repeating: "y", count: 2 << 20) + "\"").write(toFile: big, atomically: true, encoding: .utf8)
            let output = try Command.curl(["-v", "-H", "Authorization: Bearer \(daemon.token)", "--data-binary", "@\(big)", "\(daemon.baseURL)/testapp/size"])
            #expect(output.stdout == String(2 << 20))
            #expect(output.stderr.contains("HTTP/1.1 100 Continue"))
        }
    }

    @Test("control routes need the daemon's token: 401 without it, and nothing about the apps")
    func controlToken() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let body = #"{"sha256":"\#(String(repeating: "a", count: 64))","executablePath":"/bin/true","env":{"name":"x","systemPackages":[],"setup":[],"environment":{},"secrets":[],"replicas":1},"secretValues":{}}"#
            for headers in [[String](), ["-H", "Authorization: Bearer wrong"], ["-H", "Authorization: Basic abc"]] {
                let deploy = try curl(daemon.baseURL + "/_hoist/apps/testapp/deploy", headers + ["-d", body])
                #expect(deploy.status == 401)
                #expect(!deploy.body.contains("add"))
                let logs = try curl(daemon.baseURL + "/_hoist/apps/testapp/logs", headers)
                #expect(logs.status == 401)
                let remove = try curl(daemon.baseURL + "/_hoist/apps/testapp", headers + ["-X", "DELETE"])
                #expect(remove.status == 401)
            }
            let token = try daemon.home.controlToken()
            let attributes = try FileManager.default.attributesOfItem(atPath: daemon.home.controlTokenFile)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let logs = try curl(daemon.baseURL + "/_hoist/apps/testapp/logs", ["-H", "Authorization: Bearer \(token)"])
            #expect(logs.status == 200)
            // The app was not touched.
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("GET / lists apps and functions; /openapi.json describes every route")
    func listingAndOpenAPI() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let listing = try daemon.curl("/")
            #expect(listing.status == 200)
            let decoded = try JSONDecoder().decode(DaemonAPI.Listing.self, from: Data(listing.body.utf8))
            #expect(decoded.apps.map(\.name) == ["testapp"])
            #expect(decoded.apps[0].functions.map(\.name).contains("chatter"))
            let openapi = try daemon.curl("/openapi.json")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(openapi.body.utf8)) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: Any])
            #expect(paths.keys.contains("/testapp/add"))
            #expect(paths.keys.contains("/testapp/whoami"))
            let add = try #require((paths["/testapp/add"] as? [String: Any])?["post"] as? [String: Any])
            #expect(add["summary"] as? String == "add(a: Int, b: Int) -> Int")
            // Bytes functions also take and give application/octet-stream; others only JSON.
            func contentTypes(_ path: String, _ keys: [String]) throws -> Set<String> {
                var node: Any? = (paths[path] as? [String: Any])?["post"]
                for key in keys { node = (node as? [String: Any])?[key] }
                return Set(try #require(node as? [String: Any]).keys)
            }
            #expect(try contentTypes("/testapp/flip", ["requestBody", "content"]) == ["application/json", "application/octet-stream"])
            #expect(try contentTypes("/testapp/flip", ["responses", "200", "content"]) == ["application/json", "application/octet-stream"])
            #expect(try contentTypes("/testapp/measure", ["requestBody", "content"]) == ["application/json"])
            #expect(try contentTypes("/testapp/add", ["responses", "200", "content"]) == ["application/json"])
        }
    }
}
