import Foundation
import Hoist
import HoistClient
import HoistSSH
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Functions the end-to-end tests deploy. Each one exercises a part of the call path.

struct Point: Codable, Sendable, Equatable {
    var x: Double
    var y: Double
}

struct WorkerInfo: Codable, Sendable {
    var pid: Int32
    var version: String
    var mode: String?
    var secretLength: Int?
    var directory: String
    var user: String?
}

struct Refusal: Error, CustomStringConvertible {
    var reason: String
    var description: String { "refused: \(reason)" }
}

let add = Function("add", parameters: "a", "b") { (a: Int, b: Int) in a + b }
let zero = Function("zero") { () in "nothing needed" }
let shout = Function("shout", parameters: "text") { (text: String) in
    print("shouting \(text)")
    return text.uppercased()
}
let note = Function("note", parameters: "text") { (text: String) in
    print("noted \(text)")
}
let mirror = Function("mirror", parameters: "point") { (p: Point) in Point(x: -p.x, y: -p.y) }
let refuse = Function("refuse", parameters: "reason") { (reason: String) async throws -> Int in
    throw Refusal(reason: reason)
}
/// Prints `count` lines tagged with `tag`, pausing between them so that concurrent calls interleave.
let chatter = Function("chatter", parameters: "tag", "count") { (tag: String, count: Int) async throws -> Int in
    for i in 0..<count {
        print("\(tag) line \(i)")
        FileHandle.standardError.write(Data("\(tag) err \(i)\n".utf8))
        try await Task.sleep(for: .milliseconds(5))
    }
    return count
}
let sleepy = Function("sleepy", parameters: "milliseconds") { (ms: Int) async throws -> Int32 in
    try await Task.sleep(for: .milliseconds(ms))
    return getpid()
}
/// Which login user (so which test host) served the call, after `ms` milliseconds. Each call
/// leaves a line in `placed.log` in the app's working directory, so a test can tell how many
/// inputs a host has served.
let placed = Function("placed", parameters: "input", "milliseconds") { (input: Int, ms: Int) async throws -> String in
    try await Task.sleep(for: .milliseconds(ms))
    // O_APPEND: the workers add their lines without overwriting each other's.
    let log = open("placed.log", O_WRONLY | O_CREAT | O_APPEND, 0o600)
    if log >= 0 {
        let line = Array("\(input)\n".utf8)
        _ = line.withUnsafeBytes { write(log, $0.baseAddress, $0.count) }
        close(log)
    }
    return "\(input):" + (getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "?")
}
let whoami = Function("whoami") { () in
    let environment = ProcessInfo.processInfo.environment
    return WorkerInfo(
        pid: getpid(),
        version: environment["HOIST_APP_VERSION"] ?? "",
        mode: environment["MODE"],
        secretLength: environment["HOIST_TEST_SECRET"]?.count,
        directory: FileManager.default.currentDirectoryPath,
        user: environment["USER"] ?? environment["LOGNAME"]
    )
}
/// Traps the way Swift programs crash: overflow, fatalError, a nil force-unwrap, an index out
/// of range (the trap lines are what the crash-report test looks for).
let trap = Function("trap", parameters: "kind") { (kind: String) -> Int in
    let numbers = [1, 2, 3]
    let missing: Int? = kind == "never" ? 1 : nil
    switch kind {
    case "overflow": return Int.max + kind.count  // trap: overflow
    case "fatal": fatalError("the trap function gave up")  // trap: fatal
    case "nil": return missing!  // trap: nil
    case "index": return numbers[kind.count]  // trap: index
    case "printed":
        // Still in standard output's buffer when the trap comes: the crash handler writes it out.
        print("last words before the trap")
        fatalError("the trap came after a print")  // trap: printed
    default: return 0
    }
}
/// Calls `add` of its own app on the system it runs on: a nested call.
let nested = Function("nested", parameters: "a", "b") { (a: Int, b: Int) async throws -> Int in
    let inner = try await add.to(.local)
    return try await inner(a, b) * 2
}
/// Fans out from inside a function: a nested map, a nested spawn, and a nested streaming call.
let fanOut = Function("fanOut", parameters: "count") { (count: Int) async throws -> [Int] in
    let inner = try await add.to(.local)
    let sums = try await inner.starmap((0..<count).map { ($0, $0) })
    let spawned = try await inner.spawn(count, 1).value()
    var streamed = 0
    for try await n in try await countTo.to(.local)(3, 0) { streamed += n }
    return [sums.reduce(0, +), spawned, streamed]
}
/// Calls `add` on another system: the daemon of another home (the app is deployed there).
let elsewhere = Function("elsewhere", parameters: "home", "port") { (home: String, port: Int) async throws -> Int in
    try await add.to(.local(port: port, home: home))(40, 2)
}
/// Calls itself `depth` times, each level in another worker.
let recurse = Function("recurse", parameters: "depth") { (depth: Int) async throws -> Int in
    try await recurseOnce(depth)
}
func recurseOnce(_ depth: Int) async throws -> Int {
    depth <= 0 ? 0 : try await recurse.to(.local)(depth - 1) + 1
}
/// The part of an S3 notification the Lambda tests send: a one-argument function gets the event.
struct S3Event: Codable, Sendable {
    struct Record: Codable, Sendable {
        struct S3: Codable, Sendable {
            struct Object: Codable, Sendable { var key: String }
            var object: Object
        }
        var s3: S3
    }
    var Records: [Record]
}
let s3Keys = Function("s3Keys", parameters: "event") { (event: S3Event) in event.Records.map(\.s3.object.key) }
/// Counts its calls in this process: a warm environment keeps counting.
let invocations = Mutex(0)
let counter = Function("counter") { () in
    invocations.withLock { count in
        count += 1
        return "\(getpid()):\(count)"
    }
}
/// Ends the process in the middle of a call with `status`; a negative status answers the
/// process id instead (the call after an exit, served by a new process).
let exitNow = Function("exitNow", parameters: "status") { (status: Int32) -> Int32 in
    if status < 0 { return getpid() }
    exit(status)
}
/// A string of `bytes` x's: a result as large as asked for.
/// Prints one line of `bytes` bytes: more than the capture pipe holds, in one write.
let loud = Function("loud", parameters: "bytes") { (bytes: Int) in
    print(String(repeating: "y", count: bytes))
    return bytes
}
/// Returns at once; a detached task prints a line `ms` milliseconds later, outside any call.
let lateLine = Function("lateLine", parameters: "milliseconds") { (ms: Int) in
    Task.detached {
        try? await Task.sleep(for: .milliseconds(ms))
        print("a line printed \(ms) ms after its call")
    }
    return true
}
let big = Function("big", parameters: "bytes") { (bytes: Int) in String(repeating: "x", count: bytes) }
/// What Lambda says about the invocation being served.
let invocationInfo = Function("invocationInfo") { () in
    let invocation = LambdaInvocation.current
    return [invocation?.requestID ?? "-", invocation?.invokedFunctionARN ?? "-", String((invocation?.remainingMilliseconds ?? -1) > 0), ProcessInfo.processInfo.environment["_X_AMZN_TRACE_ID"] ?? "-"]
}
/// Creates the file at `path`: how the tests see an asynchronous invocation run.
let touch = Function("touch", parameters: "path") { (path: String) in
    FileManager.default.createFile(atPath: path, contents: Data("touched".utf8))
}
let size = Function("size", parameters: "data") { (data: String) in data.utf8.count }
let sum = Function("sum", parameters: "values") { (values: [Int]) in values.reduce(0, +) }
/// Bytes in, bytes out: raw on the wire where the caller allows it.
let flip = Function("flip", parameters: "data") { (data: Data) in Data(data.reversed()) }
let flipBytes = Function("flipBytes", parameters: "bytes") { (bytes: [UInt8]) in Array(bytes.reversed()) }
/// Bytes among other arguments: always JSON (base64).
let measure = Function("measure", parameters: "data", "extra") { (data: Data, extra: Int) in data.count + extra }
/// Busy for `milliseconds` without ever checking for cancellation.
let spin = Function("spin", parameters: "milliseconds") { (ms: Int) -> Int in
    let end = Date().addingTimeInterval(Double(ms) / 1000)
    var turns = 0
    while Date() < end { turns &+= 1 }
    return turns
}
/// Has a default deadline of 300 ms and sleeps longer when asked to.
let bounded = Function("bounded", parameters: "milliseconds", timeout: .milliseconds(300)) { (ms: Int) async throws -> Int in
    try await Task.sleep(for: .milliseconds(ms))
    return ms
}
/// Appends a line to `ticks-<tag>` in the working directory and returns how many lines it has:
/// how the tests count executions.
let tick = Function("tick", parameters: "tag") { (tag: String) async throws -> Int in
    let path = "ticks-\(tag)"
    let handle = FileHandle(forUpdatingAtPath: path) ?? {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forUpdatingAtPath: path)!
    }()
    handle.seekToEndOfFile()
    handle.write(Data("tick\n".utf8))
    try handle.close()
    try await Task.sleep(for: .milliseconds(300))
    return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
}
/// Throws on its first call per tag and succeeds after, returning the attempt number.
let flaky = Function("flaky", parameters: "tag") { (tag: String) async throws -> Int in
    let path = "flaky-\(tag)"
    let count = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").count + 1
    try String(repeating: "x", count: count).write(toFile: path, atomically: true, encoding: .utf8)
    if count == 1 { throw Refusal(reason: "first attempt of \(tag)") }
    return count
}
/// Prints a line, then waits (up to 10 s) for the caller to create `path`: it returns true only
/// if the caller received the line while the call was still running.
let handshake = Function("handshake", parameters: "path") { (path: String) async throws -> Bool in
    print("waiting for \(path)")
    for _ in 0..<1000 {
        if FileManager.default.fileExists(atPath: path) { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return false
}
/// `handshake` with a large second argument: returns the worker's pid and the argument's size.
let handshakeBulk = Function("handshakeBulk", parameters: "path", "bulk") { (path: String, bulk: String) async throws -> [Int] in
    print("waiting for \(path)")
    for _ in 0..<1000 {
        if FileManager.default.fileExists(atPath: path) { return [Int(getpid()), bulk.utf8.count] }
        try await Task.sleep(for: .milliseconds(10))
    }
    return []
}
/// Like `handshake`, but returns the worker's pid: which worker finished the call.
let handshakePid = Function("handshakePid", parameters: "path") { (path: String) async throws -> Int32 in
    print("waiting for \(path)")
    for _ in 0..<1000 {
        if FileManager.default.fileExists(atPath: path) { return getpid() }
        try await Task.sleep(for: .milliseconds(10))
    }
    return -1
}
/// Prints a line, then sleeps up to 60 s; when cancelled first, it leaves a file at `path`: the
/// cancel reached the function.
let awaitCancel = Function("awaitCancel", parameters: "path") { (path: String) async throws -> Bool in
    print("waiting to be cancelled")
    do {
        try await Task.sleep(for: .seconds(60))
        return false
    } catch {
        FileManager.default.createFile(atPath: path, contents: Data("cancelled".utf8))
        throw error
    }
}
/// Yields 0, then waits (up to 10 s) for the caller to create `path`, then yields 1 if it
/// appeared: the caller saw the first element before the function finished.
let handshakeStream = StreamingFunction("handshakeStream", parameters: "path") { (path: String) in
    AsyncThrowingStream<Int, any Error> { continuation in
        let task = Task {
            continuation.yield(0)
            for _ in 0..<1000 {
                if FileManager.default.fileExists(atPath: path) {
                    continuation.yield(1)
                    continuation.finish()
                    return
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            continuation.yield(-1)
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}
/// Streams 0..<count, pausing between elements.
let countTo = StreamingFunction("countTo", parameters: "count", "pauseMilliseconds") { (count: Int, pause: Int) in
    AsyncThrowingStream<Int, any Error> { continuation in
        let task = Task {
            for i in 0..<count {
                continuation.yield(i)
                try? await Task.sleep(for: .milliseconds(pause))
                if Task.isCancelled { break }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}
/// Streams `count` elements, then throws.
let failAfter = StreamingFunction("failAfter", parameters: "count") { (count: Int) in
    AsyncThrowingStream<String, any Error> { continuation in
        for i in 0..<count { continuation.yield("element \(i)") }
        continuation.finish(throwing: Refusal(reason: "stopped after \(count)"))
    }
}
/// Fails for multiples of 7, for map's failure modes.
let square = Function("square", parameters: "n") { (n: Int) async throws -> Int in
    if n % 7 == 0 { throw Refusal(reason: "\(n) is a multiple of 7") }
    return n * n
}

@main
struct TestApp: HoistApp {
    static let name = "testapp"
    static let functions: [any HoistFunction] = [add, zero, shout, note, mirror, refuse, chatter, sleepy, whoami, size, sum, flip, flipBytes, measure, square, spin, bounded, tick, flaky, countTo, failAfter, handshake, handshakeStream, placed, handshakePid, handshakeBulk, awaitCancel, trap, nested, fanOut, recurse, elsewhere, s3Keys, counter, exitNow, touch, big, loud, lateLine, invocationInfo]

    /// As a driver, exercises the public API against the local daemon and prints what it saw,
    /// one `key=value` line each, for the end-to-end tests to check.
    static func run() async throws {
        if CommandLine.arguments.dropFirst().first == "map" {
            return try await runMaps()
        }
        if CommandLine.arguments.dropFirst().first == "runs" {
            return try await runRuns()
        }
        if CommandLine.arguments.dropFirst().first == "stream" {
            return try await runStreams()
        }
        if CommandLine.arguments.dropFirst().first == "cluster" {
            return try await runCluster()
        }
        if CommandLine.arguments.dropFirst().first == "cluster-pair" {
            return try await runClusterPair()
        }
        if CommandLine.arguments.dropFirst().first == "cluster-apt" {
            let host = SSHHost("hoist-b", configFile: ProcessInfo.processInfo.environment["HOIST_TEST_SSH_CONFIG"])
            let cluster = Cluster("apt", hosts: [host])
            let info = try await whoami.to(.cluster(cluster), env: Env(name: "apt", systemPackages: ["sl"]))()
            print("aptUser=\(info.user ?? "?")")
            try await cluster.down()
            return
        }
        if CommandLine.arguments.dropFirst().first == "cluster-socket" {
            return try await runClusterSocket()
        }
        if CommandLine.arguments.dropFirst().first == "cluster-modes" {
            return try await runClusterModes()
        }
        if CommandLine.arguments.dropFirst().first == "cluster-build" {
            return try await runClusterBuild()
        }
        if CommandLine.arguments.dropFirst().first == "lambda" {
            return try await runLambda()
        }
        if CommandLine.arguments.dropFirst().first == "bytes" {
            return try await runBytes()
        }
        let remoteAdd = try await add.to(.local)
        print("add=\(try await remoteAdd(2, 3))")
        print("endpoint=\(remoteAdd.endpoint)")
        let remoteShout = try await shout.to(.local)
        print("shout=\(try await remoteShout("loud"))")
        print("quiet=\(try await remoteShout.quiet()("soft"))")
        let remoteNote = try await note.to(.local)
        try await remoteNote("void")
        print("void=ok")
        print("zero=\(try await zero.to(.local)())")
        let mirrored = try await mirror.to(.local)(Point(x: 1, y: -2))
        print("mirror=\(mirrored.x),\(mirrored.y)")
        do {
            _ = try await refuse.to(.local)("not today")
            print("refuse=returned")
        } catch let error as RemoteError {
            print("refuse=\(error.type)|\(error.message)")
        }
        let stray = Function("stray") { () in 1 }
        do {
            _ = try await stray.to(.local)
            print("stray=deployed")
        } catch let error as HoistError {
            print("stray=\(error.code)")
        }
        do {
            _ = try await add.to(.local, env: Env(replicas: 0))
        } catch let error as HoistError {
            print("replicas=\(error.code)")
        }
        do {
            _ = try await remoteAdd.timeout(.zero)(1, 2)
        } catch let error as HoistError {
            print("zeroTimeout=\(error.code)")
        }
        let remoteSleepy = try await sleepy.to(.local)
        do {
            _ = try await remoteSleepy.timeout(.milliseconds(200))(3000)
            print("timeout=returned")
        } catch let error as HoistError {
            print("timeout=\(error.code)")
        }
        print("withinTimeout=\(try await remoteSleepy.timeout(.seconds(10))(10) > 0)")

        // Cancelling the caller's task cancels the remote call, and the worker is free again.
        let pid = try await remoteSleepy(1)
        let started = ContinuousClock.now
        let task = Task { try await remoteSleepy(20_000) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        do {
            _ = try await task.value
            print("cancel=returned")
        } catch let error as HoistError {
            print("cancel=\(error.code)")
        } catch {
            print("cancel=\(type(of: error))")
        }
        print("cancelPrompt=\(ContinuousClock.now - started < .seconds(5))")
        print("samePid=\(try await remoteSleepy(1) == pid)")
    }

    /// The runs scenario: spawn, re-attach, get-or-call once under concurrency, cancel, failures.
    static func runRuns() async throws {
        let remoteSleepy = try await sleepy.to(.local, env: Env(replicas: 2))
        let run = try await remoteSleepy.spawn(300)
        print("spawnStatus=\(try await run.status().isFinished ? "finished" : "in flight")")
        let pid = try await run.value()
        print("spawnValue=\(pid > 0)")
        print("spawnStatusAfter=\(try await run.status().rawValue)")

        let remoteChatter = try await chatter.to(.local, env: Env(replicas: 2))
        let named = try await remoteChatter.spawn("N", 3, name: "chatty-\(getpid())")
        print("namedKey=\(named.key == "chatty-\(getpid())")")
        let reattached = try await System.local.run(named.key, as: Int.self)
        print("reattached=\(try await reattached.value())")
        print("output=\(try await named.output().contains("N line 2"))")
        do {
            _ = try await remoteChatter.spawn("N", 1, name: named.key)
            print("duplicate=started")
        } catch let error as HoistError {
            print("duplicate=\(error.code)")
        }

        let remoteTick = try await tick.to(.local, env: Env(replicas: 2))
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<5 { group.addTask { try await remoteTick.getOrCall(runName: "once-\(getpid())", "once-\(getpid())") } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        print("getOrCall=\(values.count),\(Set(values).sorted())")
        print("getOrCallAgain=\(try await remoteTick.getOrCall(runName: "once-\(getpid())", "once-\(getpid())"))")

        let long = try await remoteSleepy.spawn(20_000)
        try await Task.sleep(for: .milliseconds(300))
        print("cancelRecord=\(try await long.cancel().status.rawValue)")
        do {
            _ = try await long.value()
        } catch let error as HoistError {
            print("cancelledValue=\(error.code)")
        }
        do {
            try await long.cancel()
        } catch let error as HoistError {
            print("cancelAgain=\(error.code)")
        }

        let failing = try await refuse.to(.local).spawn("run failure")
        do {
            _ = try await failing.value()
        } catch let error as RemoteError {
            print("failedRun=\(error.message)")
        }
        do {
            _ = try await System.local.run("no-such-run", as: Int.self)
        } catch let error as HoistError {
            print("unknownRun=\(error.code)")
        }
        do {
            _ = try await remoteSleepy.spawn(1, name: "not a name")
        } catch let error as HoistError {
            print("badName=\(error.code)")
        }
    }

    /// The streaming scenario: elements arrive as produced, errors after the elements, early exit.
    static func runStreams() async throws {
        let remoteCount = try await countTo.to(.local)
        var received: [Int] = []
        for try await n in try await remoteCount(100, 1) { received.append(n) }
        print("streamCount=\(received.count)")
        print("streamOrdered=\(received == Array(0..<100))")
        // The function waits for a file that this side creates on seeing the first element:
        // it ends with 1 only if the first element arrived while it was still running.
        let path = NSTemporaryDirectory() + "hoist-handshake-\(getpid())"
        var handshakeElements: [Int] = []
        for try await n in try await handshakeStream.to(.local)(path) {
            if handshakeElements.isEmpty { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            handshakeElements.append(n)
        }
        try? FileManager.default.removeItem(atPath: path)
        print("firstEarly=\(handshakeElements == [0, 1])")

        let remoteFail = try await failAfter.to(.local)
        var before: [String] = []
        do {
            for try await element in try await remoteFail(3) { before.append(element) }
            print("streamError=none")
        } catch let error as RemoteError {
            print("streamError=\(before.count),\(error.message)")
        }

        var taken = 0
        for try await _ in try await remoteCount(100_000, 10) {
            taken += 1
            if taken == 2 { break }
        }
        let afterBreak = ContinuousClock.now
        var again = 0
        for try await _ in try await remoteCount(3, 0) { again += 1 }
        print("afterBreak=\(taken),\(again),\(ContinuousClock.now - afterBreak < .seconds(5))")
        print("local=\(try await countTo(3, 0).collect())")
    }

    /// The cluster scenario: deploy to an SSH test host, call, stream output, stop the daemon.
    static func runCluster() async throws {
        let environment = ProcessInfo.processInfo.environment
        let host = SSHHost(environment["HOIST_TEST_SSH_HOST"] ?? "hoist-a", configFile: environment["HOIST_TEST_SSH_CONFIG"])
        let cluster = Cluster("test", hosts: [host])
        do {
            let remoteAdd = try await add.to(.cluster(cluster))
            print("clusterAdd=\(try await remoteAdd(20, 22))")
            let info = try await whoami.to(.cluster(cluster))()
            print("clusterUser=\(info.user ?? "?")")
            print("clusterShout=\(try await shout.to(.cluster(cluster))("far"))")
            let sums = try await remoteAdd.starmap((0..<50).map { ($0, $0) })
            print("clusterMap=\(sums == (0..<50).map { 2 * $0 })")
            // System packages: present ones pass; a missing one, with no passwordless sudo on the
            // host, is a clear error naming it, and the previous version keeps serving.
            let packaged = try await whoami.to(.cluster(cluster), env: Env(name: "packaged", systemPackages: ["rsync"]))()
            print("clusterPackages=\(packaged.user ?? "?")")
            do {
                _ = try await whoami.to(.cluster(cluster), env: Env(name: "absent", systemPackages: ["hoist-absent-package"]))
                print("missingPackage=deployed")
            } catch let error as HoistError {
                print("missingPackage=\(error.code),\(error.message.contains("hoist-absent-package") && error.message.contains("sudo"))")
            }
            print("stillServing=\(try await remoteAdd(2, 2))")
            let env = Env(name: "remote", setup: ["echo preparing $MODE"], environment: ["MODE": "remote"], secrets: ["HOIST_TEST_SECRET"])
            // A secret may come from a file instead of the environment.
            let secretsFile = NSTemporaryDirectory() + "hoist-secrets-\(getpid())"
            FileManager.default.createFile(atPath: secretsFile, contents: Data("# test\nexport HOIST_TEST_SECRET='from-a-file'\n".utf8), attributes: [.posixPermissions: 0o600])
            defer { try? FileManager.default.removeItem(atPath: secretsFile) }
            let fromEnvironment = environment["HOIST_TEST_SECRET"]
            unsetenv("HOIST_TEST_SECRET")
            let filed = try await whoami.to(.cluster(cluster), env: Env(name: "filed", secrets: ["HOIST_TEST_SECRET"], secretsFile: secretsFile))()
            print("secretFromFile=\(filed.secretLength ?? -1)")
            if let fromEnvironment { setenv("HOIST_TEST_SECRET", fromEnvironment, 1) }
            let withEnv = try await whoami.to(.cluster(cluster), env: env)()
            print("clusterEnv=\(withEnv.mode ?? "-"),\(withEnv.secretLength ?? -1),\(withEnv.directory.hasPrefix("/home/"))")

            // The SSH master (and with it the tunnel) goes away between calls: the next call
            // opens a new one.
            await SSHTransport(host: host).disconnect()
            print("afterTunnelDrop=\(try await remoteAdd(1, 2))")

            // A new session finds the binary and libraries on the host: nothing is sent again.
            ClusterSessions.shared.forget(cluster)
            let again = try await HostBootstrap(host: host, cluster: cluster).connect()
            print("resent=\(again.uploaded),started=\(again.started)")
            print("saved=\((try? Cluster.named("test"))?.hosts == [host])")

            try await cluster.down()
            print("clusterDown=ok")
        } catch {
            try? await cluster.down()
            throw error
        }
    }

    /// Tunnels: to hoist-a's daemon socket; to hoist-nosock, whose sshd refuses socket forwarding
    /// (TCP with the token, and a warning); to hoist-quote, whose home needs quoting everywhere.
    static func runClusterSocket() async throws {
        let config = ProcessInfo.processInfo.environment["HOIST_TEST_SSH_CONFIG"]
        for name in ["hoist-a", "hoist-nosock", "hoist-quote"] {
            let cluster = Cluster("socket-\(name)", hosts: [SSHHost(name, configFile: config)])
            do {
                let env = Env(name: "quoted", setup: ["echo set up > marker"], replicas: 2)
                let remote = try await add.to(cluster, env: env)
                print("\(name).call=\(try await remote(40, 2))")
                if name == "hoist-a" {
                    // In a worker on the host, System.local is the host's own daemon.
                    print("\(name).nested=\(try await nested.to(cluster, env: env)(20, 1))")
                    // There too a function maps over, spawns and streams its app's functions.
                    print("\(name).fanOut=\(try await fanOut.to(cluster, env: env)(10).map(String.init).joined(separator: ","))")
                    // A crash there is reported as here: message, file and line (the backtracer
                    // went with the libraries).
                    do {
                        _ = try await trap.to(cluster, env: env)("overflow")
                    } catch let error as HoistError {
                        print("\(name).crash=\(error.code),\(error.message.contains("arithmetic overflow at TestApp.swift:"))")
                    }
                }
                print("\(name).endpoint=\(remote.endpoint.scheme ?? "?")")
                // A second session finds the daemon and reaches it the same way.
                ClusterSessions.shared.forget(cluster)
                let again = try await HostBootstrap(host: cluster.hosts[0], cluster: cluster).connect()
                print("\(name).again=\(again.started),\(again.tunnels.isEmpty ? "none" : again.tunnels.map { if case .socket = $0 { "socket" } else { "port" } }.joined(separator: "+"))")
                print("\(name).status=\(await ClusterControl(cluster: cluster).status().first?.apps ?? [])")
                if name != "hoist-quote" {
                    // Left running: the test checks what listens, then stops it.
                    print("\(name).pid=\(again.health.pid)")
                    continue
                }
                try await cluster.down(deleteApps: true)
                print("\(name).down=ok")
            } catch {
                print("\(name).error=\(error)")
                try? await cluster.down()
            }
        }
    }

    /// The HTTP status `curl` gets for `arguments`.
    static func curlStatus(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }

    /// `Data` and `[UInt8]` arguments and results through `RemoteFunction`: raw bytes where they
    /// are a function's one argument or its result, base64 in JSON beside other arguments.
    static func runBytes() async throws {
        let payload = Data((0..<(1 << 20) + 3).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) })
        print("flip=\(try await flip.to(.local)(payload) == Data(payload.reversed()))")
        print("flipQuiet=\(try await flip.to(.local).quiet()(payload) == Data(payload.reversed()))")
        print("flipBytes=\(try await flipBytes.to(.local)(Array(payload)) == Array(payload.reversed()))")
        print("measure=\(try await measure.to(.local)(payload, 1))")
        print("empty=\(try await flip.to(.local)(Data()).count)")
        let run = try await flip.to(.local).spawn(Data([1, 2, 3]))
        print("run=\(Array(try await run.value()))")
        // 1 MB and up, arguments and results go through memory shared with the worker: the
        // calls above from the second on (the daemon's hello comes with the first), and this one,
        // whose `String` result is decoded where it lies.
        let text = String(repeating: "hoist ", count: 400_000)
        print("shoutBig=\(try await shout.to(.local).quiet()(text) == text.uppercased())")
        print("regionCalls=\(DaemonClient.local().payloadRegionCalls >= 4)")
    }

    /// The daemon on the host's address: plain HTTP with a token (`.none`) on hoist-a, HTTPS with
    /// a pinned certificate (`.tls`) on hoist-b.
    static func runClusterModes() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config = environment["HOIST_TEST_SSH_CONFIG"]
        let a = SSHHost("hoist-a", configFile: config)
        let b = SSHHost("hoist-b", configFile: config)
        let open = Cluster("open", hosts: [a], connection: .none, daemonPort: Int(environment["HOIST_TEST_NONE_PORT"] ?? "") ?? 24001)
        let sealed = Cluster("sealed", hosts: [b], connection: .tls, daemonPort: Int(environment["HOIST_TEST_TLS_PORT"] ?? "") ?? 24002)
        do {
            let plain = try await add.to(.cluster(open))
            print("noneCall=\(try await plain(40, 2))")
            print("noneEndpoint=\(plain.endpoint)")
            let base = "http://\(plain.endpoint.host!):\(plain.endpoint.port!)"
            for (label, token) in [("Wrong", "not-the-token"), ("Missing", nil)] as [(String, String?)] {
                do {
                    _ = try await DaemonClient(baseURL: base, token: token).call(app: "testapp", function: "add", body: ByteBuffer(string: "[1,2]"))
                    print("none\(label)Token=answered")
                } catch let error as HoistError {
                    print("none\(label)Token=\(error.code)")
                }
            }
            // With the right token, a foreign Host (DNS rebinding) or Origin (a web page) is still
            // refused. The test hosts' homes are on this machine, so the driver (root) reads the token.
            let token = try String(contentsOfFile: "/home/hoist-a/.hoist/daemon.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            for (label, header) in [("Rebound", "Host: evil.example"), ("CrossOrigin", "Origin: http://evil.example")] {
                print("none\(label)=\(try curlStatus([base + "/testapp/add", "-H", "Authorization: Bearer \(token)", "-H", header, "-d", "[1,2]"]))")
            }

            let secure = try await add.to(.cluster(sealed))
            print("tlsCall=\(try await secure(40, 2))")
            print("tlsEndpoint=\(secure.endpoint)")
            print("tlsPinned=\(try Cluster.named("sealed").pinnedCertificates[b.description] ?? "none")")
            // A pin that does not match the host's certificate stops the connection.
            var tampered = try Cluster.named("sealed")
            tampered.pinnedCertificates[b.description] = String(repeating: "0", count: 64)
            do {
                _ = try await add.to(.cluster(tampered))
                print("tlsBadPin=connected")
            } catch let error as HoistError {
                print("tlsBadPin=\(error.code)")
            }
            try await open.down()
            try await sealed.down()
            print("modesDown=ok")
        } catch {
            try? await open.down()
            try? await sealed.down()
            throw error
        }
    }

    /// The remote-build path: the package is synced to the host and built there.
    static func runClusterBuild() async throws {
        let environment = ProcessInfo.processInfo.environment
        let host = SSHHost(environment["HOIST_TEST_SSH_HOST"] ?? "hoist-a", configFile: environment["HOIST_TEST_SSH_CONFIG"])
        let cluster = Cluster("built", hosts: [host], code: .build, build: .init(configuration: environment["HOIST_TEST_BUILD_CONFIGURATION"] ?? "debug"))
        do {
            let remoteAdd = try await add.to(.cluster(cluster))
            print("builtAdd=\(try await remoteAdd(40, 2))")
            let session = try await ClusterSessions.shared.session(for: cluster)
            let local = try ExecutableHash.sha256(of: ProcessSupport.executablePath)
            // The host serves the binary it built, not this one.
            print("builtThere=\(session.binaries[host.description].map { $0 != local } ?? false)")
            // A file the package no longer has (as after a rename) is removed from the host's
            // copy before the next build, which would otherwise fail to compile it.
            // Only this checkout's copy (named after its directory): a host that other checkouts
            // of the package were built on keeps theirs, which this sync does not touch.
            let ssh = SSHTransport(host: host)
            let name = URL(fileURLWithPath: try PackageSync.findPackage()).lastPathComponent.filter { $0.isLetter || $0.isNumber || "-_.".contains($0) }
            let copy = try await ssh.check(#"echo "$HOME""#).trimmingCharacters(in: .whitespacesAndNewlines) + "/.hoist/src/\(name)/"
            try await ssh.check("echo 'this is not Swift' > '\(copy)Sources/HoistCore/Stale.swift'")
            ClusterSessions.shared.forget(cluster)
            _ = try await HostBootstrap(host: host, cluster: cluster).connect()
            let left = try await ssh.run("ls '\(copy)Sources/HoistCore/Stale.swift' 2>/dev/null | wc -l").stdout
            print("staleRemoved=\(left.trimmingCharacters(in: .whitespacesAndNewlines) == "0")")
            let tooSmall = Cluster("tiny", hosts: [host], code: .build, build: .init(syncLimitBytes: 1000))
            do {
                _ = try await add.to(.cluster(tooSmall))
                print("syncLimit=deployed")
            } catch let error as HoistError {
                print("syncLimit=\(error.message.contains("above the sync limit") && error.message.contains("TestApp.swift"))")
            }
            try await cluster.down()
            print("builtDown=ok")
        } catch {
            try? await cluster.down()
            throw error
        }
    }

    /// Two hosts: a map spread over both, and one host's daemon killed during a map.
    static func runClusterPair() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config = environment["HOIST_TEST_SSH_CONFIG"]
        let pair = Cluster("pair", hosts: [SSHHost("hoist-a", configFile: config), SSHHost("hoist-b", configFile: config)])
        do {
            let remote = try await placed.to(pair, env: Env(replicas: 2))
            print("pairReplicas=\(remote.replicas)")
            let inputs = (0..<200).map { ($0, 5) }
            let served = try await remote.starmap(inputs)
            print("pairOrdered=\(served.map { Int($0.split(separator: ":")[0])! } == Array(0..<200))")
            print("pairUsers=\(Set(served.map { $0.split(separator: ":")[1] }).sorted().joined(separator: ","))")

            // hoist-b's daemon is killed while a map runs, once it has served a few of the map's
            // inputs (not after a fixed time, which a loaded machine may spend before any): its
            // calls go to hoist-a, and what it answered before it died is kept. An input served is
            // not yet answered (its outcome waits for the inputs before it, then crosses the
            // tunnel), so the kill comes 10 inputs and 300 ms later, still mid-map (its share of
            // the map takes hoist-b 1.5 s).
            let victim = SSHTransport(host: pair.hosts[1])
            let log = #""$HOME/.hoist/apps/testapp/work/placed.log""#
            try await victim.check("rm -f \(log)")
            let killer = Task {
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    let served = try await victim.run("cat \(log) 2>/dev/null | wc -l").stdout
                    if (Int(served.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 10 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(300))
                try await victim.check(#"kill -9 "$(cat "$HOME/.hoist/daemon.pid")""#)
            }
            let survived = try await remote.starmap((0..<300).map { ($0, 20) })
            try await killer.value
            print("killOrdered=\(survived.map { Int($0.split(separator: ":")[0])! } == Array(0..<300))")
            let users = Dictionary(grouping: survived, by: { String($0.split(separator: ":")[1]) }).mapValues(\.count)
            print("killUsers=\(users.keys.sorted().joined(separator: ","))")
            try await pair.down(deleteApps: true)
            print("pairDown=ok")
        } catch {
            try? await pair.down()
            throw error
        }
    }

    /// The map scenario: ordered results, both failure modes, empty and invalid input.
    static func runMaps() async throws {
        let remoteAdd = try await add.to(.local, env: Env(replicas: 2))
        let sums = try await remoteAdd.starmap((0..<1000).map { ($0, 1000 * $0) })
        print("starmap=\(sums == (0..<1000).map { 1001 * $0 } ? "ordered" : "wrong")")

        let remoteSquare = try await square.to(.local, env: Env(replicas: 2))
        let inputs = Array(1...1000)
        let outcomes = try await remoteSquare.mapResults(inputs)
        var failures = 0
        var correct = true
        for (input, outcome) in zip(inputs, outcomes) {
            switch outcome {
            case .success(let value): correct = correct && value == input * input && input % 7 != 0
            case .failure(let error as RemoteError): failures += 1; correct = correct && input % 7 == 0 && error.message.contains("\(input) is")
            case .failure: correct = false
            }
        }
        print("mapResults=\(outcomes.count),\(failures),\(correct)")
        do {
            _ = try await remoteSquare.map(inputs)
            print("map=returned")
        } catch let error as RemoteError {
            print("map=threw \(error.type)")
        }
        print("empty=\(try await remoteSquare.map([]).count)")

        // Cancelling the task of a map cancels its inputs on the daemon: the workers are free
        // for the next call at once, not after six 20 s inputs.
        let remoteSleepy = try await sleepy.to(.local, env: Env(replicas: 2))
        let started = ContinuousClock.now
        let mapping = Task { try await remoteSleepy.map(Array(repeating: 20_000, count: 6)) }
        try await Task.sleep(for: .milliseconds(700))
        mapping.cancel()
        let outcome: String
        do {
            _ = try await mapping.value
            outcome = "returned"
        } catch is CancellationError {
            outcome = "CancellationError"
        } catch {
            outcome = "\(error)"
        }
        _ = try await remoteSleepy(1)
        print("mapCancel=\(outcome),\(ContinuousClock.now - started < .seconds(15))")
        // A map cancelled before its batches are on their way sends none: nothing would be left
        // to cancel them, and the workers would sleep through the inputs.
        let early = ContinuousClock.now
        let unsent = Task { try await remoteSleepy.map(Array(repeating: 20_000, count: 6)) }
        unsent.cancel()
        let earlyOutcome = await unsent.result
        _ = try await remoteSleepy(1)
        var earlyCancelled = false
        if case .failure(is CancellationError) = earlyOutcome { earlyCancelled = true }
        print("mapCancelEarly=\(earlyCancelled),\(ContinuousClock.now - early < .seconds(15))")
        do {
            _ = try await remoteSquare.map([1], maxInFlight: 0)
        } catch let error as HoistError {
            print("maxInFlight=\(error.code)")
        }
    }
}

extension AsyncThrowingStream where Failure == any Error {
    /// All elements, in order.
    func collect() async throws -> [Element] {
        var all: [Element] = []
        for try await element in self { all.append(element) }
        return all
    }
}

extension TestApp {
    /// `.to(.awsLambda)` and `LambdaFunction` against the Lambda at `AWS_ENDPOINT_URL` (the
    /// test's `hoist lambda serve`): deploy, redeploy, calls, errors, output, map, streams, an
    /// S3 event, logs, an Event run, a Function URL, Python handler files, teardown.
    static func runLambda() async throws {
        let options = LambdaOptions(timeout: .seconds(30), memorySize: 256, retentionDays: 7)
        let remoteAdd = try await add.to(.awsLambda(options: options))
        print("add=\(try await remoteAdd(2, 3))")
        let saved = try LambdaFunction.named("add").saved
        print("addSaved=\(saved.runtime) \(saved.handler) \(saved.timeout) \(saved.memorySize)")
        let clock = ContinuousClock()
        let redeployStart = clock.now
        _ = try await add.to(.awsLambda(options: options))
        print("redeploy=\(clock.now - redeployStart)")
        print("codeUnchanged=\(try LambdaFunction.named("add").saved.codeSha256 == saved.codeSha256)")

        do {
            _ = try await refuse.to(.awsLambda())("no thanks")
            print("refuse=returned")
        } catch let error as RemoteError {
            print("refuseType=\(error.type)")
            print("refuseMessage=\(error.message)")
        }
        print("shout=\(try await shout.to(.awsLambda())("loud"))")

        let pids = try await sleepy.to(.awsLambda()).map(Array(repeating: 50, count: 200))
        print("mapCount=\(pids.count)")
        print("mapProcesses=\(Set(pids).count)")

        var elements: [Int] = []
        for try await n in try await countTo.to(.awsLambda())(3, 0) { elements.append(n) }
        print("stream=\(elements)")
        var partial: [String] = []
        do {
            for try await element in try await failAfter.to(.awsLambda())(2) { partial.append(element) }
            print("failAfter=finished")
        } catch let error as RemoteError {
            print("failAfter=\(partial.count) then \(error.message)")
        }

        let keys = try await LambdaFunction(s3Keys, name: "s3-keys")
        let event: JSONValue = ["Records": [["s3": ["bucket": ["name": "photos"], "object": ["key": "cats/tom.jpg", "size": 1]]]]]
        print("s3Keys=\(try await keys(event))")

        let talker = try await LambdaFunction(chatter, retentionDays: 1)
        let since = Date().addingTimeInterval(-1)
        print("chatter=\(try await talker.typed(chatter)("tagged", 2))")
        let logs = try await talker.logs(since: since)
        print("logsHaveLine=\(logs.contains("tagged line 1"))")
        print("logsLaterEmpty=\(try await talker.logs(since: Date().addingTimeInterval(60)).isEmpty)")

        let toucher = try await LambdaFunction(touch)
        let marker = NSTemporaryDirectory() + "hoist-lambda-run-" + UUID().uuidString.prefix(8)
        let run = try await toucher.spawn(marker)
        var record = try await run.record()
        for _ in 0..<100 where !record.status.isFinished {
            try await Task.sleep(for: .milliseconds(100))
            record = try await run.record()
        }
        print("runStatus=\(record.status.rawValue)")
        print("runTouched=\(FileManager.default.fileExists(atPath: marker))")
        try? FileManager.default.removeItem(atPath: marker)
        let failing = try await LambdaFunction(refuse).spawn("queued refusal")
        var failed = try await failing.record()
        for _ in 0..<100 where !failed.status.isFinished {
            try await Task.sleep(for: .milliseconds(100))
            failed = try await failing.record()
        }
        print("failedRun=\(failed.status.rawValue): \(failed.failure?.message ?? "")")

        let url = try await LambdaFunction.named("add").endpoint()
        print("urlScheme=\(url.scheme ?? "")")
        print("urlAnswer=\(try await LambdaFunction.named("add").callEndpoint([20, 22]))")
        print("urlSaved=\(try LambdaFunction.named("add").saved.url == url.absoluteString)")

        if let directory = ProcessInfo.processInfo.environment["HOIST_TEST_HANDLER_DIR"] {
            let py = try await LambdaFunction.fromHandlerFiles(["handler.py", "util.py"], handler: "handler.my_calc", runtime: .python3_12, directory: directory)
            print("python=\(try await py.map([[1, 2], [3, 4]]))")
            do {
                _ = try await py(["not", "numbers", "at all"])
                print("pythonError=none")
            } catch let error as RemoteError {
                print("pythonError=\(error.type) \(error.backtrace.isEmpty ? "no trace" : "with trace")")
            }
            try await py.teardown()
        }

        // An app built before (here: this very binary), deployed by path rather than as the running app.
        let built = try await LambdaFunction.fromProduct(executable: ProcessSupport.executablePath, handler: "add", name: "add-built")
        print("built=\(try await built.typed(add)(40, 2))")
        try await built.teardown()

        print("saved=\(LambdaFunction.deployed().map(\.name).sorted().joined(separator: ","))")
        try await LambdaFunction.named("add").teardown()
        print("afterTeardown=\(LambdaFunction.deployed().map(\.name).sorted().joined(separator: ","))")
        do {
            _ = try await remoteAdd(1, 1)
            print("afterTeardownCall=answered")
        } catch {
            print("afterTeardownCall=\(error)")
        }
    }
}
