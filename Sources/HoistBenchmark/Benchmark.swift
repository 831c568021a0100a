import Foundation
import Hoist
import HoistClient
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The function measured: as small as a call gets, so the figures are Hoist's own cost.
let add = Function("add") { (a: Int, b: Int) in a + b }
/// Traps: how long a caller waits for a crash report.
let crash = Function("crash") { () -> Int in fatalError("the benchmark's crash") }

/// `hoist-bench`: Hoist's speed figures on this machine, in a release build:
///
///     swift run -c release hoist-bench [--calls N] [--seconds S] [--callers C] [--replicas R] [--map N] [--runs N] [--json FILE] [--scaling] [--compare ray,runhouse]
///                                      [--cluster HOST[,HOST…] [--ssh-config FILE]]
///
/// It starts a daemon of its own (a private home and port), deploys itself, measures, and
/// stops that daemon. Figures, not assertions: compare runs on the same machine.
@main
struct HoistBench: HoistApp {
    static let name = "bench"
    static let functions: [any HoistFunction] = [add, crash, pause, echo, echoData, chatty]

    static func run() async throws {
        let options = Options(CommandLine.arguments.dropFirst())
        if options.lambdaOnly {
            return try await LambdaBench.run(options)
        }
        let home = NSTemporaryDirectory() + "hoist-bench-\(getpid())"
        // A free port, not a fixed one: a run that died leaves its daemon behind (its `defer`
        // does not run on a trap), and that must not stop the next run.
        let port = try LocalPorts.free()
        let system = System.local(port: port, home: home)
        defer { stopDaemon(home: home) }

        print("Hoist \(HoistVersion.current) benchmark — \(ProcessInfo.processInfo.activeProcessorCount) cores")
        let firstDeploy = ContinuousClock.now
        let remote = try await add.to(system, env: Env(replicas: options.replicas)).quiet()
        print(row("first deploy (starts the daemon, copies the binary)", ms(ContinuousClock.now - firstDeploy)))

        for i in 0..<500 { _ = try await remote(i, 1) }
        let results = Results(runs: options.runs)
        if options.echoOnly > 0 {
            return try await Scaling.echoOnly(system: system, home: home, options: options)
        }
        if options.outputOnly > 0 {
            let token = try HoistHome(home).controlToken()
            let client = DaemonClient(socketPath: HoistHome(home).daemonSocket, token: token)
            return try await outputFigure(client: client, results: results, calls: options.outputOnly, runs: options.runs)
        }
        if options.redeployOnly > 0 {
            var times: [Duration] = []
            for _ in 0..<options.redeployOnly {
                let start = ContinuousClock.now
                _ = try await add.to(system, env: Env(replicas: options.replicas))
                times.append(ContinuousClock.now - start)
            }
            times.sort()
            return print(row("unchanged redeploy, median of \(times.count)", ms(times[times.count / 2])))
        }

        // Each latency figure: a warm-up, then `--runs` runs of `--calls` calls; the median of
        // the runs' p50, p90 and p99.
        let quietCall = try await results.latency("call latency, 1 caller (.quiet())", runs: options.runs, calls: options.calls) { i in
            let sum = try await remote(i, 1)
            precondition(sum == i + 1)
        }
        let p50 = quietCall.p50
        let p99 = quietCall.p99

        // The call users make by default streams the function's output back (`.quiet()` above
        // does not): the same function, measured the way `try await remote(1, 2)` runs.
        let streamed = remote.quiet(false)
        for i in 0..<300 { _ = try await streamed(i, 1) }
        _ = try await results.latency("default call (output streamed)", runs: options.runs, calls: options.calls) { i in
            _ = try await streamed(i, 1)
        }

        // A call under a retry policy (none of them fails, so none is retried).
        let sturdy = remote.retrying(RetryPolicy(attempts: 3))
        for i in 0..<300 { _ = try await sturdy(i, 1) }
        _ = try await results.latency("call with a retry policy (.quiet())", runs: options.runs, calls: options.calls) { i in
            let sum = try await sturdy(i, 1)
            precondition(sum == i + 1)
        }

        // The same raw call as frames on the daemon's call socket (what Hoist's callers use), as
        // HTTP on its private socket, and over TCP loopback with the token.
        let token = try HoistHome(home).controlToken()
        let transports = [
            ("call socket", DaemonClient(socketPath: HoistHome(home).daemonSocket, token: token, callSocketPath: HoistHome(home).callSocket)),
            ("Unix socket (HTTP)", DaemonClient(socketPath: HoistHome(home).daemonSocket, token: token)),
            ("TCP loopback", DaemonClient(baseURL: "http://127.0.0.1:\(port)", token: token)),
        ]
        for (label, client) in transports {
            let body = ByteBuffer(string: "[1,2]")
            for _ in 0..<300 { _ = try await client.call(app: name, function: add.name, body: body) }
            _ = try await results.latency("raw call over the \(label)", runs: options.runs, calls: min(options.calls, 5000)) { _ in
                let answer = try await client.call(app: name, function: add.name, body: body)
                precondition(String(buffer: answer) == "3")
            }
        }

        var rates: [Double] = []
        for _ in 0..<options.runs {
            rates.append(try await callsPerSecond(remote, callers: options.callers, seconds: options.seconds))
        }
        let throughput = median(rates)
        print(row("calls per second, \(options.callers) callers, \(options.replicas) workers", String(format: "%.0f", throughput) + results.spread(rates, format: "%.0f")))
        results.record("calls per second, \(options.callers) callers", ["calls_per_second": throughput, "runs": rates])

        // A map, then the same map with a deadline on each input (a `.timeout`, or the
        // function's own).
        let inputs = (0..<options.mapInputs).map { ($0, 1) }
        let timed = remote.timeout(.seconds(30))
        var mapTime = Duration.zero
        for (label, map) in [("", remote), (", each with a deadline", timed)] {
            var mapTimes: [Double] = []
            for _ in 0..<options.runs {
                let mapStart = ContinuousClock.now
                let sums = try await map.starmap(inputs)
                mapTimes.append(toSeconds(ContinuousClock.now - mapStart))
                precondition(sums.count == inputs.count && sums.last == inputs.count)
            }
            let mapSeconds = median(mapTimes)
            if label.isEmpty { mapTime = .seconds(mapSeconds) }
            let name = "map over \(options.mapInputs) inputs" + label
            print(row(name, ms(.seconds(mapSeconds)) + String(format: "  (%.0f calls/s)", Double(options.mapInputs) / mapSeconds) + results.spread(mapTimes.map { $0 * 1000 }, format: "%.0f ms")))
            results.record(name, ["seconds": mapSeconds, "runs": mapTimes])
        }

        // A call whose function prints 1,000 lines, output streamed back, against a silent
        // call on the same path: every line must arrive.
        try await outputFigure(client: transports[0].1, results: results, calls: min(options.calls, 500), runs: options.runs)

        // A 64 MB String argument echoed back (the peers measure the same).
        let echoRemote = try await echo.to(system, env: Env(replicas: options.replicas)).quiet()
        let payload = String(repeating: "a", count: 64 << 20)
        var echoTimes: [Double] = []
        for _ in 0..<max(3, options.runs) {
            let start = ContinuousClock.now
            let back = try await echoRemote(payload)
            echoTimes.append(toSeconds(ContinuousClock.now - start))
            precondition(back.utf8.count == payload.utf8.count)
        }
        let echoSeconds = median(echoTimes)
        print(row("echo of a 64 MB String", String(format: "%.3f s", echoSeconds) + results.spread(echoTimes, format: "%.3f s")))
        results.record("echo of a 64 MB String", ["seconds": echoSeconds, "runs": echoTimes])

        // The same size as `Data`: raw bytes both ways.
        let echoBytes = try await echoData.to(system, env: Env(replicas: options.replicas)).quiet()
        let bytes = Data(payload.utf8)
        var bytesTimes: [Double] = []
        for _ in 0..<max(3, options.runs) {
            let start = ContinuousClock.now
            let back = try await echoBytes(bytes)
            bytesTimes.append(toSeconds(ContinuousClock.now - start))
            precondition(back.count == bytes.count)
        }
        let bytesSeconds = median(bytesTimes)
        print(row("echo of 64 MB of Data (raw bytes)", String(format: "%.3f s", bytesSeconds) + results.spread(bytesTimes, format: "%.3f s")))
        results.record("echo of 64 MB of Data", ["seconds": bytesSeconds, "runs": bytesTimes])

        var redeploys: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = try await add.to(system, env: Env(replicas: options.replicas))
            redeploys.append(ContinuousClock.now - start)
        }
        redeploys.sort()
        print(row("unchanged redeploy, median of 20", ms(redeploys[redeploys.count / 2])))
        results.record("unchanged redeploy", ["median_ms": toSeconds(redeploys[redeploys.count / 2]) * 1000])

        // A function that traps: the time until its caller holds the crash report (message,
        // file and line, first frames), worker replaced meanwhile.
        let crashing = try await crash.to(system, env: Env(replicas: options.replicas)).quiet()
        var crashTimes: [Double] = []
        for i in 0..<5 {
            let start = ContinuousClock.now
            do {
                _ = try await crashing()
                preconditionFailure("the crash function returned")
            } catch let error as HoistError {
                crashTimes.append(toSeconds(ContinuousClock.now - start))
                precondition(error.code == .workerCrashed && error.message.contains("the benchmark's crash"), "\(error)")
            }
            // The next call is served (by another worker, or the replacement).
            let next = try await remote(i, 1)
            precondition(next == i + 1)
        }
        let crashSeconds = median(crashTimes)
        print(row("crash report of a trapping call, median of 5", ms(Duration.seconds(crashSeconds)) + "  goal < 2 s" + results.spread(crashTimes.map { $0 * 1000 }, format: "%.0f ms")))
        results.record("crash report", ["seconds": crashSeconds, "runs": crashTimes])

        if options.scaling {
            try await Scaling.run(system: system, home: home, options: options, results: results)
        }
        if !options.clusterHosts.isEmpty {
            try await clusterFigures(options, local: remote, results: results)
        }
        if options.lambda {
            try await LambdaBench.run(options)
        }

        for peer in options.peers {
            let figures = try Peer.run(peer, options: options)
            print("")
            print("\(figures.peer), same machine, same measurements (ratio: how many times Hoist is faster)")
            // A slow peer may measure fewer calls or map fewer inputs than asked: say so, and compare
            // the map per input.
            let peerCalls = figures.calls ?? options.calls
            let peerInputs = figures.map_inputs ?? options.mapInputs
            let over = peerCalls == options.calls ? "" : " (over \(peerCalls) calls)"
            print(row("call latency, 1 caller, p50" + over, String(format: "%.3f ms   x%.1f", figures.p50_ms, figures.p50_ms / (toSeconds(p50) * 1000))))
            print(row("call latency, 1 caller, p99" + over, String(format: "%.3f ms   x%.1f", figures.p99_ms, figures.p99_ms / (toSeconds(p99) * 1000))))
            print(row("calls per second, \(options.callers) callers", String(format: "%.0f   x%.1f", figures.calls_per_second, throughput / figures.calls_per_second)))
            let perInput = (figures.map_seconds / Double(peerInputs)) / (toSeconds(mapTime) / Double(options.mapInputs))
            let mapLabel = "map over \(peerInputs) inputs" + (peerInputs == options.mapInputs ? "" : " (ratio per input)")
            print(row(mapLabel, String(format: "%.3f ms   x%.1f  (%.0f calls/s)", figures.map_seconds * 1000, perInput, Double(peerInputs) / figures.map_seconds)))
            if let seconds = figures.echo64_seconds {
                print(row("echo of a 64 MB string", String(format: "%.3f s   x%.1f", seconds, seconds / echoSeconds)))
            } else {
                print(row("echo of a 64 MB string", "failed: \(figures.echo64_error ?? "no figure")"))
            }
            results.record("peer \(figures.peer)", ["echo64_seconds": figures.echo64_seconds ?? -1,"p50_ms": figures.p50_ms, "p99_ms": figures.p99_ms, "calls_per_second": figures.calls_per_second,
                                                     "map_seconds": figures.map_seconds, "map_inputs": peerInputs])
        }
        if let path = options.json {
            try results.write(to: path)
            print("figures written to \(path)")
        }
    }

    /// A call whose function prints 1,000 lines, output streamed back, against a silent call on
    /// the same path: every line must arrive.
    static func outputFigure(client: DaemonClient, results: Results, calls: Int, runs: Int) async throws {
        let printing = try await results.outputCall(client: client, app: name, lines: 1000, runs: runs, calls: calls)
        print(row("call printing 1,000 lines, p50 (a silent call)", String(format: "%.3f ms (%.3f ms)  goal ≤ %.3f ms, %d of %d lines", printing.printing * 1000, printing.silent * 1000, (2 * printing.silent + 0.001) * 1000, printing.delivered, printing.expected)))
    }

    /// Through SSH: call latency over the tunnel to the first host, against the local daemon in
    /// the same runs (a local run, then a tunnel run, so drift hits both), and a map over all hosts.
    static func clusterFigures(_ options: Options, local: RemoteFunction<Int, Int, Int>, results: Results) async throws {
        let hosts = options.clusterHosts.map { SSHHost($0, configFile: options.sshConfig) }
        let one = Cluster("bench-one", hosts: [hosts[0]])
        let all = Cluster("bench-all", hosts: hosts)
        defer {
            let done = DispatchSemaphore(value: 0)
            Task {
                try? await all.down(deleteApps: true)
                done.signal()
            }
            done.wait()
        }
        print("")
        print("SSH cluster (\(hosts.map(\.description).joined(separator: ", ")))")
        let first = ContinuousClock.now
        let remote = try await add.to(.cluster(one), env: Env(replicas: options.replicas)).quiet()
        print(row("first deploy to \(hosts[0]) (bootstrap)", ms(ContinuousClock.now - first)))
        for i in 0..<200 { _ = try await remote(i, 1) }
        let calls = min(options.calls, 2000)
        func percentiles(_ function: RemoteFunction<Int, Int, Int>) async throws -> (p50: Double, p99: Double) {
            var times: [Duration] = []
            for i in 0..<calls {
                let start = ContinuousClock.now
                _ = try await function(i, 1)
                times.append(ContinuousClock.now - start)
            }
            times.sort()
            return (toSeconds(times[times.count / 2]) * 1000, toSeconds(times[times.count * 99 / 100]) * 1000)
        }
        var tunnel: [(p50: Double, p99: Double)] = []
        var extra: [Double] = []
        for _ in 0..<options.runs {
            let here = try await percentiles(local)
            let there = try await percentiles(remote)
            tunnel.append(there)
            extra.append(there.p50 - here.p50)
        }
        let p50 = median(tunnel.map(\.p50)), p99 = median(tunnel.map(\.p99)), added = median(extra)
        print(row("call latency through the tunnel, p50 / p99", String(format: "%.3f ms / %.3f ms", p50, p99) + results.spread(tunnel.map(\.p50), format: "%.3f")))
        print(row("  the tunnel's cost over a local call, p50", String(format: "+%.3f ms  goal ≤ +0.150 ms", added) + results.spread(extra, format: "%+.3f")))
        results.record("call latency through the SSH tunnel", ["p50_ms": p50, "p99_ms": p99, "added_p50_ms": added, "runs_added_p50_ms": extra])

        let spread = try await add.to(.cluster(all), env: Env(replicas: options.replicas)).quiet()
        let inputs = (0..<options.mapInputs).map { ($0, 1) }
        let start = ContinuousClock.now
        let sums = try await spread.starmap(inputs)
        let time = ContinuousClock.now - start
        precondition(sums.count == inputs.count)
        print(row("map over \(options.mapInputs) inputs, \(hosts.count) hosts", ms(time) + String(format: "  (%.0f calls/s)", Double(options.mapInputs) / toSeconds(time))))
    }

    static func callsPerSecond(_ remote: RemoteFunction<Int, Int, Int>, callers: Int, seconds: Double) async throws -> Double {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        _ = try await remote(caller, done)
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / toSeconds(ContinuousClock.now - start)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    static func toSeconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func stopDaemon(home: String) {
        // Only the daemon this run started, found by its pid file.
        if let text = try? String(contentsOfFile: home + "/daemon.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            for _ in 0..<300 where ProcessSupport.isAlive(pid) { usleep(10_000) }
        }
        try? FileManager.default.removeItem(atPath: home)
    }

    static func ms(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(format: "%.3f ms", value)
    }

    static func row(_ label: String, _ value: String) -> String {
        label.padding(toLength: 58, withPad: " ", startingAt: 0) + value
    }
}

struct Options {
    var calls = 5000
    var seconds = 3.0
    var callers = 32
    var replicas = 2
    var mapInputs = 10_000
    var peers: [String] = []
    var clusterHosts: [String] = []
    var sshConfig: String?
    /// Adds the local Lambda's figures (`--lambda`), or measures only those (`--lambda-only`).
    var lambda = false
    var lambdaOnly = false
    var lambdaCalls = 2000
    var lambdaPython: String?
    /// How many times each figure is measured (after a warm-up); the median is reported.
    var runs = 3
    /// Where to write the figures as JSON.
    var json: String?
    /// Adds the scaling curves: callers, map sizes, payload sizes with peak memory.
    var scaling = false
    /// Only echoes a 64 MB string this many times, with each echo's time and peak memory: for
    /// profiling the large-payload path (`--echo-only N`).
    var echoOnly = 0
    /// Only redeploys the unchanged app this many times (`--redeploy-only N`), for profiling.
    var redeployOnly = 0
    /// Only measures the call printing 1,000 lines, with N calls a run (`--output-only N`), for profiling.
    var outputOnly = 0

    init(_ arguments: ArraySlice<String>) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            if argument == "--scaling" {
                scaling = true
                continue
            }
            if argument == "--lambda" || argument == "--lambda-only" {
                lambda = true
                lambdaOnly = argument == "--lambda-only"
                continue
            }
            let value = iterator.next()
            switch argument {
            case "--lambda-calls": lambdaCalls = value.flatMap(Int.init) ?? lambdaCalls
            case "--lambda-python": lambdaPython = value
            case "--calls": calls = value.flatMap(Int.init) ?? calls
            case "--seconds": seconds = value.flatMap(Double.init) ?? seconds
            case "--callers": callers = value.flatMap(Int.init) ?? callers
            case "--replicas": replicas = value.flatMap(Int.init) ?? replicas
            case "--map": mapInputs = value.flatMap(Int.init) ?? mapInputs
            case "--compare": peers += value.map { $0.split(separator: ",").map(String.init) } ?? []
            case "--cluster": clusterHosts += value.map { $0.split(separator: ",").map(String.init) } ?? []
            case "--ssh-config": sshConfig = value
            case "--runs": runs = max(1, value.flatMap(Int.init) ?? runs)
            case "--json": json = value
            case "--echo-only": echoOnly = value.flatMap(Int.init) ?? 1
            case "--redeploy-only": redeployOnly = value.flatMap(Int.init) ?? 1
            case "--output-only": outputOnly = value.flatMap(Int.init) ?? 1
            default:
                FileHandle.standardError.write(Data("hoist-bench: unknown option \(argument); options: --calls N --seconds S --callers C --replicas R --map N --compare ray,runhouse --cluster HOST[,HOST…] --ssh-config FILE --runs N --json FILE --scaling --echo-only N --redeploy-only N --output-only N --lambda --lambda-only --lambda-calls N --lambda-python PATH\n".utf8))
                exit(64)
            }
        }
    }
}

/// A peer's figures, measured by `scripts/peers/run <peer>` on this machine in this run.
struct Peer: Decodable {
    var peer: String
    var p50_ms: Double
    var p99_ms: Double
    var calls_per_second: Double
    var map_seconds: Double
    /// A 64 MB string echoed back, or why it failed.
    var echo64_seconds: Double?
    var echo64_error: String?
    /// What the peer measured, when it capped `--calls` or `--map`.
    var calls: Int?
    var map_inputs: Int?

    static func run(_ name: String, options: Options) throws -> Peer {
        // The script sits in the package this benchmark was built from.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let process = Process()
        process.executableURL = root.appendingPathComponent("scripts/peers/run")
        process.arguments = [name, "--calls", String(options.calls), "--seconds", String(options.seconds), "--callers", String(options.callers), "--map", String(options.mapInputs)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let figures = try? JSONDecoder().decode(Peer.self, from: Data(line.utf8))
        else {
            throw HoistError(.internalError, "the \(name) benchmark failed (exit \(process.terminationStatus)); run scripts/peers/run \(name) to see why")
        }
        return figures
    }
}
