import Foundation
import HoistLambdaPackage
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// One execution environment: a process running the function's runtime (`bootstrap`, or
/// Python's `awslambdaric`) against a Runtime API listener of its own, with its own `/tmp`,
/// variables and log stream. It serves one invocation at a time and stays warm between them;
/// after a timeout its process is killed and started again on the next invocation, keeping
/// `/tmp`, as Lambda does.
final class LambdaEnvironment: @unchecked Sendable {
    let id: String
    let function: LambdaFunction
    let settings: LocalLambdaSettings
    let tmp: String
    let logStream: String
    private let logs: LogPipe
    private let lock = NIOLock()
    private var process: Process?
    private var listener: (any Channel)?
    private var port = 0
    private var current: Invocation?
    /// A runtime's `/next` waiting for an invocation.
    private var parked: (@Sendable (Invocation) -> Void)?
    private var initStartedAt: ContinuousClock.Instant?
    /// The init duration to report on the first invocation after a (re)start.
    private var initDuration: Duration?
    private var initError: (type: String, body: ByteBuffer)?
    private var timer: Scheduled<Void>?
    private var invocationStartedAt: ContinuousClock.Instant?
    private var retired = false

    init(function: LambdaFunction, settings: LocalLambdaSettings) throws {
        self.function = function
        self.settings = settings
        id = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        tmp = settings.root + "/environments/\(function.name)/\(id.prefix(12))/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let day = LambdaEnvironment.day()
        logStream = "\(day)/[$LATEST]\(id)"
        logs = try LogPipe(logPath: settings.logPath(group: function.logGroup, stream: logStream))
    }

    var isIdle: Bool { lock.withLock { current == nil && !retired } }

    /// Runs `invocation` here and returns when it has ended (answered, failed, timed out, or
    /// the process died).
    func run(_ invocation: Invocation) async {
        do {
            try await startIfNeeded()
        } catch {
            lock.withLock { current = invocation }
            complete(invocation, .functionError(type: "Runtime.Unknown", body: Invocation.errorDocument(type: "Runtime.Unknown", message: "RequestId: \(invocation.requestID) Error: the environment could not start: \(error)")))
            return
        }
        let deliver: (@Sendable (Invocation) -> Void)? = lock.withLock {
            current = invocation
            invocationStartedAt = .now
            logs.route(to: invocation)
            logs.note("START RequestId: \(invocation.requestID) Version: $LATEST")
            defer { parked = nil }
            return parked
        }
        if let (type, body) = lock.withLock({ initError }) {
            // An init error fails the invocation that waits for it, as on Lambda.
            complete(invocation, .functionError(type: type, body: body))
        }
        // Until the runtime takes the event, Lambda's 10 s init limit applies on top of the timeout.
        let guardTime = TimeAmount.seconds(10 + Int64(function.timeout))
        let guardTimer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: guardTime) { [self] in timedOut(invocation) }
        lock.withLock { self.timer = guardTimer }
        if let deliver, invocation.markDelivered() {
            startClock(invocation)
            deliver(invocation)
        }
        await invocation.waitForEnd()
    }

    /// The event went to the runtime: the invocation's duration and timeout count from now.
    private func startClock(_ invocation: Invocation) {
        // The start is taken before the timer is set, so that a timeout never reports less
        // than the timeout however long the lock takes.
        let started = ContinuousClock.now
        let timeout = TimeAmount.milliseconds(Int64(function.timeout) * 1000)
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: timeout) { [self] in timedOut(invocation) }
        lock.withLock {
            self.timer?.cancel()
            self.timer = timer
            invocationStartedAt = started
        }
    }

    /// Ends `invocation` (the first ending wins: the runtime's answer, the timer, the process
    /// exiting): writes END and REPORT after what the environment printed, then hands the
    /// ending over, so that a `Tail` holds the whole invocation.
    func complete(_ invocation: Invocation, _ ending: Invocation.Ending) {
        guard invocation.claimEnd() else { return }
        let (started, initDuration): (ContinuousClock.Instant?, Duration?) = lock.withLock {
            timer?.cancel()
            timer = nil
            defer { self.initDuration = nil }
            return (invocationStartedAt, self.initDuration)
        }
        let duration = started.map { ContinuousClock.now - $0 } ?? .zero
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        var report = "REPORT RequestId: \(invocation.requestID)\tDuration: \(String(format: "%.2f", milliseconds)) ms\tBilled Duration: \(Int(milliseconds.rounded(.up))) ms\tMemory Size: \(function.memorySize) MB\tMax Memory Used: \(maxMemoryMB()) MB"
        if let initDuration {
            let initMs = Double(initDuration.components.seconds) * 1000 + Double(initDuration.components.attoseconds) / 1e15
            report += "\tInit Duration: \(String(format: "%.2f", initMs)) ms"
        }
        logs.note("END RequestId: \(invocation.requestID)")
        logs.note(report)
        lock.withLock {
            logs.route(to: nil)
            current = nil
        }
        invocation.deliver(ending)
    }

    /// Kills the environment's process and closes its listener; it takes no more invocations.
    func retire() {
        let (process, listener): (Process?, (any Channel)?) = lock.withLock {
            retired = true
            defer { self.process = nil; self.listener = nil }
            return (self.process, self.listener)
        }
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        listener?.close(promise: nil)
        logs.close()
    }

    // MARK: Process

    private func startIfNeeded() async throws {
        if lock.withLock({ self.process != nil }) { return }
        if lock.withLock({ self.listener == nil }) {
            let environment = self
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(RuntimeAPIHandler(environment: environment))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            lock.withLock {
                listener = channel
                port = channel.localAddress?.port ?? 0
            }
        }
        let process = Process()
        let (executable, arguments) = try command()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: function.codeDirectory)
        process.environment = variables()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logs.writeEnd
        process.standardError = logs.writeEnd
        process.terminationHandler = { [weak self] process in self?.exited(process) }
        lock.withLock {
            initStartedAt = .now
            initError = nil
        }
        try process.run()
        lock.withLock { self.process = process }
    }


    private func command() throws -> (String, [String]) {
        if function.isPython {
            guard let python = settings.python else {
                throw LambdaAPIError.service("no Python with awslambdaric was found for \(function.runtime): install it (python3 -m pip install awslambdaric) or start the server with --python PATH")
            }
            return (python, ["-m", "awslambdaric", function.handler])
        }
        let bootstrap = function.codeDirectory + "/bootstrap"
        // A self-contained zip names its bundled loader at /var/task, where Lambda unzips it;
        // here the code is elsewhere, so that loader is run directly, with its libraries.
        if let interpreter = try? ELFFile(path: bootstrap).interpreter, interpreter.hasPrefix("/var/task/") {
            let loader = function.codeDirectory + "/" + interpreter.dropFirst("/var/task/".count)
            if FileManager.default.isExecutableFile(atPath: loader) {
                return (loader, ["--library-path", (loader as NSString).deletingLastPathComponent, bootstrap])
            }
        }
        return (bootstrap, [])
    }

    /// What Lambda sets in an environment, and the function's own variables; nothing of the
    /// server's (its credentials stay out).
    private func variables() -> [String: String] {
        var variables: [String: String] = [
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:\(lock.withLock { port })",
            "_HANDLER": function.handler,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": String(function.memorySize),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": function.logGroup,
            "AWS_LAMBDA_LOG_STREAM_NAME": logStream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_\(function.runtime)",
            "LAMBDA_TASK_ROOT": function.codeDirectory,
            "LAMBDA_RUNTIME_DIR": function.codeDirectory,
            "AWS_REGION": settings.region,
            "AWS_DEFAULT_REGION": settings.region,
            "TMPDIR": tmp,
            "HOME": tmp,
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        ]
        if function.isPython { variables["PYTHONPATH"] = function.codeDirectory }
        variables.merge(function.variables) { _, own in own }
        return variables
    }

    private func exited(_ process: Process) {
        let status = process.terminationReason == .uncaughtSignal
            ? "signal: \(LambdaSignalNames.signal(process.terminationStatus))"
            : "exit status \(process.terminationStatus)"
        let invocation: Invocation? = lock.withLock {
            guard self.process === process else { return nil }
            self.process = nil
            parked = nil
            return current
        }
        logs.drain()
        if let invocation {
            let message = "RequestId: \(invocation.requestID) Error: Runtime exited with error: \(status)"
            logs.note(message)
            complete(invocation, .functionError(type: "Runtime.ExitError", body: Invocation.errorDocument(type: "Runtime.ExitError", message: message)))
        }
    }

    private func timedOut(_ invocation: Invocation) {
        let process: Process? = lock.withLock {
            guard current === invocation, !invocation.isEnded else { return nil }
            defer { self.process = nil; parked = nil }
            return self.process
        }
        guard let process else { return }
        // The process is killed and started again on the next invocation; /tmp stays.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let seconds = String(format: "%.2f", Double(function.timeout))
        let message = "RequestId: \(invocation.requestID) Error: Task timed out after \(seconds) seconds"
        logs.note("\(LambdaEnvironment.timestamp()) \(message)")
        complete(invocation, .functionError(type: "Sandbox.Timedout", body: Invocation.errorDocument(type: "Sandbox.Timedout", message: message)))
    }

    // MARK: Runtime API, from ``RuntimeAPIHandler``

    /// `/next`: hands over the current invocation, or parks until there is one.
    func next(_ respond: @escaping @Sendable (Invocation) -> Void) {
        let ready: Invocation? = lock.withLock {
            if let initStartedAt {
                initDuration = ContinuousClock.now - initStartedAt
                self.initStartedAt = nil
            }
            if let current, !current.isEnded, current.markDelivered() { return current }
            parked = respond
            return nil
        }
        if let ready {
            startClock(ready)
            respond(ready)
        }
    }

    /// The invocation `requestID` names, while it is the one in flight.
    func invocation(_ requestID: String) -> Invocation? {
        lock.withLock { current?.requestID == requestID ? current : nil }
    }

    func initFailed(type: String, body: ByteBuffer) {
        let waiting: Invocation? = lock.withLock {
            initError = (type, body)
            return current
        }
        if let waiting { complete(waiting, .functionError(type: type, body: body)) }
    }

    private func maxMemoryMB() -> Int {
        guard let pid = lock.withLock({ process?.processIdentifier }),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1024
    }

    /// Today as a log stream names it: `2026/12/03`.
    static func day() -> String { utc("yyyy/MM/dd") }

    static func timestamp() -> String { utc("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'") }

    static func utc(_ format: String, _ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }
}

/// A signal as Lambda words it in `Runtime exited with error: signal: killed` (Go's names, not
/// ``ProcessSupport/signalName(_:)``'s `SIGKILL`).
enum LambdaSignalNames {
    static func signal(_ number: Int32) -> String {
        switch number {
        case SIGKILL: "killed"
        case SIGTERM: "terminated"
        case SIGSEGV: "segmentation fault"
        case SIGABRT: "aborted"
        case SIGILL: "illegal instruction"
        case SIGTRAP: "trace/breakpoint trap"
        default: "signal \(number)"
        }
    }
}
