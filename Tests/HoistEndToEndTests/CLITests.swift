import Foundation
import HoistCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The hoist command line", .serialized)
struct CLITests {
    @Test("deploy, apps, call, logs, remove and their exit codes")
    func commands() async throws {
        try await withDaemon { daemon in
            let deploy = try daemon.hoist(["deploy", Binaries.testApp, "--port", String(daemon.port)])
            #expect(deploy.status == 0, "\(deploy.stderr)")
            #expect(deploy.stdout.contains("deployed testapp"))
            let again = try daemon.hoist(["deploy", Binaries.testApp, "--port", String(daemon.port)])
            #expect(again.stdout.contains("unchanged testapp"))

            let apps = try daemon.hoist(["apps", "--port", String(daemon.port)])
            #expect(apps.stdout.contains("add(a: Int, b: Int) -> Int"))
            // What a caller needs: the token on TCP, or the socket.
            #expect(apps.stdout.contains("Authorization: Bearer $(cat \(daemon.home.controlTokenFile))"), "\(apps.stdout)")
            #expect(apps.stdout.contains("curl --unix-socket \(daemon.home.daemonSocket)"))

            let call = try daemon.hoist(["call", "testapp", "shout", #""cli""#, "--port", String(daemon.port)])
            #expect(call.status == 0)
            #expect(call.stdout == "[shout] shouting cli\n\"CLI\"\n")

            let quiet = try daemon.hoist(["call", "testapp", "shout", #""q""#, "--quiet", "--port", String(daemon.port)])
            #expect(quiet.stdout == "\"Q\"\n")

            let stdin = try daemon.hoist(["call", "testapp", "add", "-", "--port", String(daemon.port)], stdin: Data("[4,5]".utf8))
            #expect(stdin.stdout == "9\n")

            let threw = try daemon.hoist(["call", "testapp", "refuse", #""cli""#, "--port", String(daemon.port)])
            #expect(threw.status == 1)
            #expect(threw.stderr.contains("refused: cli"))

            let unknown = try daemon.hoist(["call", "nosuch", "f", "--port", String(daemon.port)])
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("no app named 'nosuch'"))

            let badArgs = try daemon.hoist(["call", "testapp", "add", "[1]", "--port", String(daemon.port)])
            #expect(badArgs.status == 2)

            let inputs = "[" + (1...200).map { "[\($0),1]" }.joined(separator: ",") + "]"
            let map = try daemon.hoist(["map", "testapp", "add", "-", "--progress", "--port", String(daemon.port)], stdin: Data(inputs.utf8))
            #expect(map.status == 0, "\(map.stderr)")
            #expect(map.stdout == "[" + (1...200).map { String($0 + 1) }.joined(separator: ",") + "]\n")
            #expect(map.stderr.contains("100% 200/200"))
            let lines = try daemon.hoist(["map", "testapp", "shout", "-", "--port", String(daemon.port)], stdin: Data("\"a\"\n\"b\"\n".utf8))
            #expect(lines.stdout == "[\"A\",\"B\"]\n")

            let logs = try daemon.hoist(["logs", "testapp", "--port", String(daemon.port)])
            #expect(logs.stdout.contains("shouting cli"))

            let status = try daemon.hoist(["daemon", "status", "--port", String(daemon.port)])
            #expect(status.status == 0)
            #expect(status.stdout.contains("1 app(s)"))

            let removed = try daemon.hoist(["remove", "testapp", "--port", String(daemon.port)])
            #expect(removed.status == 0)
            let gone = try daemon.hoist(["call", "testapp", "add", "[1,2]", "--port", String(daemon.port)])
            #expect(gone.status == 2)
        }
    }

    @Test("status says so when no daemon runs (exit 3); start and stop manage one by PID")
    func startStop() async throws {
        let daemon = try TestDaemon()
        defer { daemon.shutdown() }
        let port = String(daemon.port)
        let down = try daemon.hoist(["daemon", "status", "--port", port])
        #expect(down.status == 3)

        let start = try daemon.hoist(["daemon", "start", "--port", port])
        #expect(start.status == 0, "\(start.stderr)")
        let pid = try #require(Int32((try String(contentsOfFile: daemon.home.daemonPidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try daemon.hoist(["daemon", "status", "--port", port]).status == 0)
        // Starting again finds the running daemon instead of starting another.
        #expect(try daemon.hoist(["daemon", "start", "--port", port]).status == 0)
        #expect(Int32((try String(contentsOfFile: daemon.home.daemonPidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) == pid)

        let stop = try daemon.hoist(["daemon", "stop"])
        #expect(stop.status == 0)
        #expect(stop.stdout.contains("stopped"))
        #expect(try daemon.hoist(["daemon", "status", "--port", port]).status == 3)
        #expect(!ProcessSupport.isAlive(pid))
    }

    @Test("the demo app deploys itself to a daemon it starts, and its endpoint answers curl")
    func demo() async throws {
        let (daemon, run) = try driverRun(Binaries.demo)
        defer { daemon.stopDriverStartedDaemon() }
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("summer(1, 2) = 3"))
        #expect(run.stdout.contains("[shout] shouting hello"))
        #expect(run.stdout.contains("shout(\"hello\") = HELLO"))
        #expect(run.stdout.contains("http://127.0.0.1:\(daemon.port)/demo/summer"))
        // Over TCP the endpoint needs the token, as the demo prints; over the socket it does not.
        #expect(try curl("http://127.0.0.1:\(daemon.port)/demo/summer", ["-d", "[1,2]"]).status == 401)
        let sum = try daemon.curl("/demo/summer", ["-d", "[1,2]"])
        #expect(sum.body == "3")
        let overSocket = try curl("http://localhost/demo/summer", ["--unix-socket", daemon.home.daemonSocket, "-d", "[1,2]"])
        #expect(overSocket.body == "3")
        #expect(run.stdout.contains("curl --unix-socket \(daemon.home.daemonSocket) -d '[1,2]' http://localhost/demo/summer"))
        // A second run finds the daemon and redeploys nothing.
        let again = try Command.run(Binaries.demo, [], environment: daemon.environment)
        #expect(again.status == 0)
        let log = try String(contentsOfFile: daemon.home.appLog("demo"), encoding: .utf8)
        #expect(log.components(separatedBy: "is serving").count == 2)
    }
}

@Suite("The public API, from a driver process", .serialized)
struct DriverTests {
    @Test("Function.to(.local) deploys, typed calls return, errors arrive typed, output streams")
    func driver() async throws {
        let (daemon, run) = try driverRun(Binaries.testApp)
        defer { daemon.stopDriverStartedDaemon() }
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("add=5"))
        #expect(lines.contains("endpoint=http://127.0.0.1:\(daemon.port)/testapp/add"))
        #expect(lines.contains("[shout] shouting loud"))
        #expect(lines.contains("shout=LOUD"))
        #expect(!lines.contains("[shout] shouting soft"))
        #expect(lines.contains("quiet=SOFT"))
        #expect(lines.contains("[note] noted void"))
        #expect(lines.contains("void=ok"))
        #expect(lines.contains("zero=nothing needed"))
        #expect(lines.contains("mirror=-1.0,2.0"))
        #expect(lines.contains("refuse=HoistTestApp.Refusal|refused: not today"))
        #expect(lines.contains("stray=notInApp"))
        #expect(lines.contains("replicas=invalidConfiguration"))
        #expect(lines.contains("zeroTimeout=invalidConfiguration"))
        #expect(lines.contains("timeout=timedOut"))
        #expect(lines.contains("withinTimeout=true"))
        #expect(lines.contains("cancel=CancellationError"))
        #expect(lines.contains("cancelPrompt=true"))
        #expect(lines.contains("samePid=true"))
        // The printed lines keep their order relative to the driver's own prints.
        let shoutLine = try #require(lines.firstIndex(of: "[shout] shouting loud"))
        let shoutResult = try #require(lines.firstIndex(of: "shout=LOUD"))
        #expect(shoutLine < shoutResult)
    }
}

/// Runs an app binary as a driver with a fresh home and port: it starts its own daemon.
func driverRun(_ binary: String, arguments: [String] = []) throws -> (TestDaemon, Command.Output) {
    let daemon = try TestDaemon()
    return (daemon, try Command.run(binary, arguments, environment: daemon.environment))
}

/// Runs a scenario of the test app as a driver and checks that it printed each line.
func expectScenario(_ scenario: String, prints expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let (daemon, run) = try driverRun(Binaries.testApp, arguments: [scenario])
    defer { daemon.stopDriverStartedDaemon() }
    #expect(run.status == 0, "\(run.stderr)", sourceLocation: sourceLocation)
    let lines = Set(run.stdout.split(separator: "\n").map(String.init))
    for line in expected {
        #expect(lines.contains(line), "missing \(line) in \(run.stdout)", sourceLocation: sourceLocation)
    }
}

extension TestDaemon {
    /// Stops a daemon a driver started (by its pid file, through the CLI) and removes the home.
    func stopDriverStartedDaemon() {
        _ = try? hoist(["daemon", "stop"])
        shutdown()
    }
}

@Suite("map and starmap", .serialized)
struct MapTests {
    @Test("results in input order; first failure thrown, or every outcome collected")
    func maps() async throws {
        // 1...1000 holds 142 multiples of 7.
        try expectScenario("map", prints: [
            "starmap=ordered", "mapResults=1000,142,true", "map=threw HoistTestApp.Refusal", "empty=0", "maxInFlight=invalidConfiguration", "mapCancel=CancellationError,true", "mapCancelEarly=true,true",
        ])
    }
}
