import Foundation
import HoistClient
import HoistCore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The second real local user the test setup creates (`scripts/test`): someone else on the machine.
private let otherUser = "hoist-other"

/// `curl` run as ``otherUser``, with `runuser`.
private func curlAsOther(_ arguments: [String]) throws -> CurlResult {
    try CurlResult(Command.run("/usr/sbin/runuser", ["-u", otherUser, "--", "/usr/bin/curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}"] + arguments))
}

/// A call frame sent to the daemon's call socket by ``otherUser``, with Debian's Python: prints
/// `closed` when the daemon closes the connection without an answer, else what it answered.
private func callSocketAsOther(_ path: String, function: String, body: String) throws -> Command.Output {
    let script = """
    import socket, struct, sys
    def text(t):
        b = t.encode()
        return struct.pack('>H', len(b)) + b
    payload = bytes([1, 0]) + text('testapp') + text(sys.argv[2]) + text('') * 4 + sys.argv[3].encode()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(sys.argv[1])
        s.sendall(struct.pack('>IBQ', 9 + len(payload), 2, 1) + payload)
        data = s.recv(100)
        print('closed' if data == b'' else 'answered %r' % data)
    except (ConnectionError, BrokenPipeError):
        print('closed')
    """
    return try Command.run("/usr/sbin/runuser", ["-u", otherUser, "--", "/usr/bin/python3", "-c", script, path, function, body])
}

/// Whether `tick` ran with this tag: it leaves `ticks-<tag>` in the app's working directory.
private func ticked(_ daemon: TestDaemon, _ tag: String) -> Bool {
    FileManager.default.fileExists(atPath: daemon.home.appDirectory("testapp") + "/work/ticks-" + tag)
}

private func permissions(_ path: String) throws -> Int {
    try #require((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
}

/// A call of the owner's in flight under a known call id (`Hoist-Call-Id`), for checking that
/// another user's cancel of it is refused: `handshake` waits for a file the test creates at the end.
private struct OwnersCall {
    static let id = "owners-call"
    let daemon: TestDaemon
    let path: String
    let answer: Task<CurlResult, any Error>

    static func start(_ daemon: TestDaemon) async throws -> OwnersCall {
        let path = daemon.home.root + "/owners-call-go"
        let answer = Task { try await offPool { try daemon.curl("/testapp/handshake", ["-H", "\(CallKey.header): \(id)", "-d", "\"\(path)\""]) } }
        return OwnersCall(daemon: daemon, path: path, answer: answer)
    }

    /// Lets the call finish and checks that it answered rather than being cancelled. (A cancel
    /// that reached the daemon before the call would have cancelled it too: the daemon remembers
    /// early cancels.)
    func finishUncancelled() async throws {
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let result = try await answer.value
        #expect(result.status == 200, "\(result)")
        #expect(result.body == "true" || result.body == "false", "\(result)")
    }
}

@Suite("Only the daemon's own user reaches it", .serialized)
struct AccessTests {
    @Test("the other user exists (made by scripts/test), so the tests below are about someone else")
    func otherUserExists() throws {
        let id = try Command.run("/usr/bin/id", ["-u", otherUser])
        #expect(id.status == 0, "create the user with scripts/test (useradd \(otherUser))")
        #expect(id.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != String(getuid()))
    }

    @Test("the private socket: 0600 in a 0700 home, serves the owner without a token, not another user")
    func privateSocket() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))  // one for the owner's run, one for its call
            let socket = daemon.home.daemonSocket
            #expect(DaemonClient.isSocket(socket))
            #expect(try permissions(socket) == 0o600)
            #expect(try permissions(daemon.home.root) == 0o700)
            // Hoist's own client uses the socket by default.
            #expect(daemon.client.socketPath == socket)
            #expect(try await daemon.call("add", "[1,2]") == "3")
            // The owner with curl, no token: calls and control routes.
            let call = try curl("http://localhost/testapp/add", ["--unix-socket", socket, "-d", "[2,3]"])
            #expect(call.body == "5")
            let logs = try curl("http://localhost/_hoist/apps/testapp/logs", ["--unix-socket", socket])
            #expect(logs.status == 200)

            // Another user cannot even open it: the home is the owner's alone.
            let denied = try curlAsOther(["--unix-socket", socket, "-d", "[1,2]", "http://localhost/testapp/tick"])
            #expect(denied.status == 0 || denied.status == 000, "\(denied)")
            #expect(!denied.body.contains("3"))

            // Even when the owner opens the files by mistake, the daemon checks the peer's uid:
            // the other user can neither call, list or read runs, cancel a run or a call, nor deploy.
            let run = try await daemon.client.spawn(app: "testapp", function: "sleepy", body: ByteBuffer(string: "600000"), name: "owners-run")
            let ownersCall = try await OwnersCall.start(daemon)
            chmod(daemon.home.root, 0o711)
            chmod(socket, 0o666)
            chmod(daemon.home.callSocket, 0o666)
            defer { chmod(daemon.home.root, 0o700); chmod(socket, 0o600); chmod(daemon.home.callSocket, 0o600) }
            for (path, arguments) in [
                ("/testapp/tick", ["-d", #""socket-other""#]),
                ("/_hoist/runs", []),
                ("/_hoist/runs/\(run)", []),
                ("/_hoist/runs/\(run)/cancel", ["-X", "POST"]),
                ("/_hoist/calls/\(OwnersCall.id)/cancel", ["-X", "POST"]),
                ("/_hoist/apps/testapp/deploy", ["-d", "{}"]),
            ] {
                let refused = try curlAsOther(["--unix-socket", socket] + arguments + ["http://localhost" + path])
                #expect(refused.status == 403, "\(path): \(refused)")
                #expect(refused.body.contains("serves only its own user"), "\(path)")
                #expect(!refused.body.contains("sleepy"), "\(path)")
            }
            #expect(!ticked(daemon, "socket-other"))
            // The call socket closes on the other user before reading what was sent.
            let framed = try callSocketAsOther(daemon.home.callSocket, function: "tick", body: #""calls-other""#)
            #expect(framed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "closed", "\(framed)")
            #expect(!ticked(daemon, "calls-other"))
            #expect(daemon.daemonLog.contains("refused a call-socket connection from uid"))
            #expect([.queued, .running].contains(try await daemon.client.run(run).status))
            try await ownersCall.finishUncancelled()
            #expect(try await daemon.call("add", "[1,2]") == "3")
            _ = try await daemon.client.cancelRun(run)
        }
    }

    @Test("with HOIST_TCP=0 only the socket serves, and endpoints and the CLI name the socket")
    func socketOnly() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.tcp: "0"]) { daemon in
            try await daemon.deploy()
            #expect(!ProcessSupport.isListening(port: daemon.port))
            let client = daemon.client
            #expect(client.socketPath == daemon.home.daemonSocket)
            #expect(client.endpointBase == daemon.home.daemonSocketURL)
            #expect(client.endpointBase.hasPrefix("http+unix://%2F"))
            #expect(try await daemon.call("add", "[1,2]") == "3")
            let apps = try daemon.hoist(["apps", "--port", String(daemon.port)])
            #expect(apps.stdout.contains("POST \(daemon.home.daemonSocketURL)/testapp/add"), "\(apps.stdout)")
            #expect(apps.stdout.contains("call with: curl --unix-socket \(daemon.home.daemonSocket)"))
            #expect(!apps.stdout.contains("Authorization"))
            let call = try curl("http://localhost/testapp/add", ["--unix-socket", daemon.home.daemonSocket, "-d", "[2,3]"])
            #expect(call.body == "5")
        }
    }

    @Test("over TCP another user can neither call, list runs, read or cancel a run, nor deploy; the owner can with the token")
    func tcpNeedsTheToken() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(replicas: 2))  // one for the owner's run, one for its call
            let key = try await daemon.client.spawn(app: "testapp", function: "sleepy", body: ByteBuffer(string: "600000"), name: "owners-run")
            #expect(key == "owners-run")
            let call = try await OwnersCall.start(daemon)
            let base = daemon.baseURL
            // The token file is the owner's alone.
            #expect(try permissions(daemon.home.controlTokenFile) == 0o600)
            let read = try Command.run("/usr/sbin/runuser", ["-u", otherUser, "--", "/bin/cat", daemon.home.controlTokenFile])
            #expect(read.status != 0)
            for (method, path, body) in [
                ("POST", "/testapp/tick", #""tcp-other""#),
                ("GET", "/_hoist/runs", ""),
                ("GET", "/_hoist/runs/owners-run", ""),
                ("POST", "/_hoist/runs/owners-run/cancel", ""),
                ("POST", "/_hoist/calls/\(OwnersCall.id)/cancel", ""),
                ("POST", "/_hoist/apps/testapp/deploy", "{}"),
                ("GET", "/", ""),
            ] {
                let answer = try curlAsOther(["-X", method] + (body.isEmpty ? [] : ["-d", body]) + [base + path])
                #expect(answer.status == 401, "\(method) \(path): \(answer)")
                #expect(!answer.body.contains("owners-run"))
                #expect(!answer.body.contains("testapp"))
            }
            #expect(!ticked(daemon, "tcp-other"))
            // Neither the run nor the call was cancelled, and the owner reaches everything with the token.
            #expect([.queued, .running].contains(try await daemon.client.run("owners-run").status))
            try await call.finishUncancelled()
            #expect(try daemon.curl("/_hoist/runs/owners-run").body.contains("owners-run"))
            let cancel = try daemon.curl("/_hoist/runs/owners-run/cancel", ["-X", "POST"])
            #expect(cancel.status == 200, "\(cancel)")
            #expect(try daemon.curl("/testapp/add", ["-d", "[1,2]"]).body == "3")
        }
    }

    @Test("cross-origin and DNS-rebinding requests are refused before the function runs, also with the token")
    func crossSiteAndRebinding() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.allowedOrigins: "http://app.example:8080"]) { daemon in
            try await daemon.deploy()
            let evilOrigin = try daemon.curl("/testapp/tick", ["-H", "Content-Type: text/plain", "-H", "Origin: http://evil.example", "-d", #""origin""#])
            #expect(evilOrigin.status == 403, "\(evilOrigin)")
            #expect(evilOrigin.body.contains("HOIST_ALLOWED_ORIGINS"))
            let rebound = try daemon.curl("/testapp/tick", ["-H", "Host: evil.example:\(daemon.port)", "-d", #""rebound""#])
            #expect(rebound.status == 421, "\(rebound)")
            #expect(rebound.body.contains("evil.example"))
            // A large body is refused from its head, without waiting for it.
            let big = daemon.home.root + "/big.json"
            try ("\"" + String(repeating: "x", count: 8 << 20) + "\"").write(toFile: big, atomically: true, encoding: .utf8)
            let bigRebound = try daemon.curl("/testapp/tick", ["-H", "Host: evil.example", "--data-binary", "@\(big)"])
            #expect(bigRebound.status == 421)
            try await Task.sleep(for: .milliseconds(500))
            #expect(!ticked(daemon, "origin"))
            #expect(!ticked(daemon, "rebound"))

            // An allowed origin is served and may read the answer; its preflight is answered.
            let allowed = try daemon.curl("/testapp/add", ["-i", "-H", "Origin: http://app.example:8080", "-d", "[1,2]"])
            #expect(allowed.status == 200)
            #expect(allowed.body.lowercased().contains("access-control-allow-origin: http://app.example:8080"))
            let preflight = try curl(daemon.baseURL + "/testapp/add", ["-i", "-X", "OPTIONS", "-H", "Origin: http://app.example:8080", "-H", "Access-Control-Request-Method: POST", "-H", "Access-Control-Request-Headers: authorization"])
            #expect(preflight.status == 204, "\(preflight)")
            #expect(preflight.body.lowercased().contains("access-control-allow-headers: authorization"))
            let otherPreflight = try curl(daemon.baseURL + "/testapp/add", ["-X", "OPTIONS", "-H", "Origin: http://evil.example", "-H", "Access-Control-Request-Method: POST"])
            #expect(otherPreflight.status == 403)
            // Loopback names are the daemon's own.
            #expect(try daemon.curl("/testapp/add", ["-H", "Host: localhost:\(daemon.port)", "-d", "[1,2]"]).body == "3")
        }
    }

    @Test("HOIST_OPEN_LOOPBACK=1 opens calls and runs on loopback without the token, never deploys")
    func openLoopback() async throws {
        try await withDaemon(extraEnvironment: [HoistEnvironment.openLoopback: "1"]) { daemon in
            try await daemon.deploy()
            #expect(try curlAsOther(["-d", "[1,2]", daemon.baseURL + "/testapp/add"]).body == "3")
            #expect(try curlAsOther([daemon.baseURL + "/_hoist/runs"]).status == 200)
            #expect(try curlAsOther(["-d", "{}", daemon.baseURL + "/_hoist/apps/testapp/deploy"]).status == 401)
            #expect(try curlAsOther([daemon.baseURL + "/_hoist/apps/testapp/logs"]).status == 401)
            // The cross-site checks still hold.
            #expect(try curlAsOther(["-H", "Origin: http://evil.example", "-d", "[1,2]", daemon.baseURL + "/testapp/add"]).status == 403)
        }
    }
}
