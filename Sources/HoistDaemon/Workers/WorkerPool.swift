import Foundation
import HoistCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The worker processes of one deployed version of an app: started together, replaced one by
/// one when they crash, drained and stopped together when a newer version takes over.
final class WorkerPool: @unchecked Sendable {
    struct Launch: Sendable {
        var executable: String
        var workingDirectory: String
        var environment: [String: String]
        var logPath: String
        var socketPath: String
        var version: String
        /// Where workers leave crash reports, one directory per worker process.
        var crashDirectory: String
    }

    let app: String
    let launch: Launch
    let replicas: Int
    private let registry: WorkerRegistry
    private let logger: Logger
    private let lock = NIOLock()
    private var workers: [Worker] = []
    private var stopped = false
    private var consecutiveCrashes: [Int: Int] = [:]
    private var _functions: [FunctionDescriptor] = []
    /// Nested calls in flight or waiting, by the index of the worker whose function made them:
    /// while it has any, that worker is blocked on them.
    private var nestedByCaller: [Int: Int] = [:]
    private static let callIDs = NIOLockedValueBox<UInt64>(0)

    /// The daemon these workers belong to (``NestedCall/daemonVariable``), read once.
    private let daemonID: String

    init(app: String, launch: Launch, replicas: Int, registry: WorkerRegistry, logger: Logger) {
        self.app = app
        self.launch = launch
        self.daemonID = launch.environment[NestedCall.daemonVariable] ?? ""
        self.replicas = replicas
        self.registry = registry
        self.logger = logger
    }

    var functions: [FunctionDescriptor] { lock.withLock { _functions } }
    var readyCount: Int { lock.withLock { workers.filter { $0.state == .ready }.count } }
    var inFlight: Int { lock.withLock { workers.reduce(0) { $0 + $1.inFlight } } }
    var pids: [Int32] { lock.withLock { workers.map(\.pid) } }

    /// Starts every replica and waits until all have connected. On failure, stops what it started.
    func start(readyTimeout: Duration = .seconds(60)) async throws {
        do {
            for index in 1...replicas {
                let worker = try spawn(index: index)
                lock.withLock { workers.append(worker) }
            }
            for worker in lock.withLock({ workers }) {
                try await worker.waitReady(timeout: readyTimeout)
            }
        } catch {
            await stop(grace: .seconds(1))
            throw error
        }
    }

    /// Runs a call on the least busy ready worker.
    /// `key`, when given, lets the caller cancel the call through ``CallRegistry``.
    /// `caller` (``NestedCall/header``) marks a call made by a function running in one of this
    /// pool's workers: see ``nestedCall(_:from:timeout:key:calls:output:)``.
    func call(_ request: CallRequest, timeout: Double? = nil, key: String? = nil, calls: CallRegistry? = nil, caller: String? = nil, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?) async throws -> ByteBuffer {
        if let caller, let index = NestedCall.callerIndex(caller, daemon: daemonID, app: app, version: launch.version) {
            return try await nestedCall(request, from: index, timeout: timeout, key: key, calls: calls, output: output)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let worker = pickWorker(), let result = try await send(request, to: worker, timeout: timeout, key: key, calls: calls, output: output) {
                return result
            }
            // Between a crash and its replacement there may be no worker; wait for one rather than fail.
            if lock.withLock({ stopped }) || ContinuousClock.now > deadline {
                throw CallFailure(HoistError(.noWorkers, "app '\(app)' has no worker ready; see `hoist logs \(app)`"))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// ``call(_:timeout:key:calls:caller:output:)`` without a task to wait in, for a caller on an
    /// event loop: when a worker is ready, the call is sent at once and `complete` gets its outcome
    /// on that worker's loop (a call the worker died before starting goes the waiting way, to
    /// another). Returns false, sending nothing, when no worker is ready: then wait in `call`.
    /// Not for nested calls, which have their own rules.
    func start(
        _ request: CallRequest, timeout: Double?, key: String?, calls: CallRegistry?,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        complete: @escaping @Sendable (Result<ByteBuffer, any Error>) -> Void
    ) -> Bool {
        guard let worker = pickWorker() else { return false }
        let id: UInt64
        do {
            id = try newCall(on: worker, key: key, calls: calls)
        } catch {
            complete(.failure(error))
            return true
        }
        worker.start(id: id, request: request, timeout: timeout, output: output) { result in
            if let key, let calls { calls.unregister(key) }
            guard case let .failure(error) = result, error is NotStarted else { return complete(result) }
            do {
                try Self.checkResendable(request)
            } catch {
                return complete(.failure(error))
            }
            Task {
                do {
                    complete(.success(try await self.call(request, timeout: timeout, key: key, calls: calls, output: output)))
                } catch {
                    complete(.failure(error))
                }
            }
        }
        return true
    }

    /// Sends `batch` to the least busy ready worker as one frame, waiting for one to be ready as
    /// ``call(_:timeout:key:calls:caller:output:)`` does. `complete` gets each call's outcome by
    /// position (``NotStarted`` for those a dying worker never started: they may be sent again).
    /// Returns the worker and the first call's id, by which each call can be cancelled. Each
    /// call has its own deadline of `timeout` seconds from when the worker starts it.
    func sendBatch(
        _ batch: CallBatch,
        timeout: Double?,
        output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?,
        complete: @escaping @Sendable (Int, Result<ByteBuffer, any Error>) -> Void
    ) async throws -> (worker: Worker, firstID: UInt64) {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let worker = pickWorker() {
                let count = UInt64(batch.bodies.count)
                let first = Self.callIDs.withLockedValue { ids -> UInt64 in
                    defer { ids += count }
                    return ids + 1
                }
                if worker.callBatch(firstID: first, batch: batch, timeout: timeout, output: output, complete: complete) { return (worker, first) }
            }
            if lock.withLock({ stopped }) || ContinuousClock.now > deadline {
                throw CallFailure(HoistError(.noWorkers, "app '\(app)' has no worker ready; see `hoist logs \(app)`"))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A call made by the function running in worker `callerIndex`. It only ever goes to an idle
    /// worker, never into a queue behind a call (which might itself be waiting on nested calls),
    /// and waits for one while some worker is not blocked on nested calls. When every worker
    /// is, none will ever be free: the call fails with ``HoistError/Code/noFreeWorker`` instead
    /// of waiting forever.
    private func nestedCall(_ request: CallRequest, from callerIndex: Int, timeout: Double?, key: String?, calls: CallRegistry?, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?) async throws -> ByteBuffer {
        lock.withLock { nestedByCaller[callerIndex, default: 0] += 1 }
        defer {
            lock.withLock {
                nestedByCaller[callerIndex, default: 1] -= 1
                if nestedByCaller[callerIndex] == 0 { nestedByCaller[callerIndex] = nil }
            }
        }
        while true {
            let (idle, blocked, count): (Worker?, Bool, Int) = lock.withLock {
                let idle = workers.first { $0.index != callerIndex && $0.isAvailable && $0.inFlight == 0 }
                idle?.reserve()
                let blocked = workers.allSatisfy { (nestedByCaller[$0.index] ?? 0) > 0 }
                return (idle, blocked, workers.count)
            }
            if let worker = idle {
                if let result = try await send(request, to: worker, timeout: timeout, key: key, calls: calls, output: output) { return result }
                continue
            }
            if blocked {
                throw CallFailure(HoistError(.noFreeWorker, "no worker of app '\(app)' can take the nested call to '\(request.function)' from worker \(callerIndex): all \(count) worker(s) are running functions that wait on nested calls of their own, so none will become free; give the app more replicas (Env(replicas:)) than its calls nest deep, or bound the recursion"))
            }
            if lock.withLock({ stopped }) {
                throw CallFailure(HoistError(.noWorkers, "app '\(app)' has no worker ready; see `hoist logs \(app)`"))
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Sends the call to `worker`, cancellable under `key`; `nil` when the worker died before
    /// starting it (the call is then safe to send elsewhere, unless its body was let go).
    private func send(_ request: CallRequest, to worker: Worker, timeout: Double?, key: String?, calls: CallRegistry?, output: (@Sendable (WorkerFrame.Kind, ByteBuffer) -> Void)?) async throws -> ByteBuffer? {
        let id = try newCall(on: worker, key: key, calls: calls)
        defer { if let key, let calls { calls.unregister(key) } }
        do {
            return try await worker.call(id: id, request: request, timeout: timeout, output: output)
        } catch is NotStarted {
            try Self.checkResendable(request)
            return nil
        }
    }

    /// A new call id on `worker`, registered under `key` for cancelling; when the key is refused,
    /// the worker's reservation is let go.
    private func newCall(on worker: Worker, key: String?, calls: CallRegistry?) throws -> UInt64 {
        let id = Self.callIDs.withLockedValue { $0 += 1; return $0 }
        if let key, let calls {
            do {
                try calls.register(key, worker: worker, id: id)
            } catch {
                worker.releaseReservation()
                throw error
            }
        }
        return id
    }

    /// Throws when a call its worker never started cannot go to another: its body was let go.
    private static func checkResendable(_ request: CallRequest) throws {
        if let once = request.sentOnce, once.wasTaken {
            throw CallFailure(Worker.bodyGone(function: request.function, bytes: once.byteCount))
        }
    }

    private func pickWorker() -> Worker? {
        lock.withLock {
            var best: Worker?
            var bestLoad = Int.max
            for worker in workers where worker.isAvailable {
                let load = worker.inFlight
                if load < bestLoad {
                    best = worker
                    bestLoad = load
                    if load == 0 { break }
                }
            }
            // Counted at once, so that the next pick sees this worker busier.
            best?.reserve()
            return best
        }
    }

    /// Stops taking calls, waits for those in flight (up to `drainTimeout`), then stops the workers.
    func drainAndStop(drainTimeout: Duration = .seconds(300)) async {
        let deadline = ContinuousClock.now + drainTimeout
        while inFlight > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await stop(grace: .seconds(5))
    }

    /// Asks each worker to exit, then kills those still running after `grace`.
    func stop(grace: Duration) async {
        let current: [Worker] = lock.withLock {
            stopped = true
            return workers
        }
        for worker in current { worker.requestShutdown() }
        for worker in current { worker.signal(SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while current.contains(where: { $0.state != .exited }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for worker in current where worker.state != .exited { worker.signal(SIGKILL) }
        for worker in current { registry.remove(worker) }
    }

    func noteHello(_ hello: WorkerHello) {
        lock.withLock { if _functions.isEmpty { _functions = hello.functions } }
    }

    private func spawn(index: Int) throws -> Worker {
        let worker = Worker(app: app, index: index, logPath: launch.logPath)
        worker.onExit = { [weak self] worker, reason in self?.workerExited(worker, reason: reason) }
        worker.onStuck = { [weak self] worker, function in
            self?.appendToLog("hoist: worker \(worker.index) of app '\(worker.app)' (pid \(worker.pid)) did not stop '\(function)' within \(Worker.cancelGrace) of its deadline; killing it")
        }
        registry.add(worker, pool: self)

        var environment = launch.environment
        environment[HoistEnvironment.role] = "worker"
        environment[HoistEnvironment.workerSocket] = launch.socketPath
        environment[HoistEnvironment.workerToken] = worker.token
        environment[HoistEnvironment.appName] = app
        environment[HoistEnvironment.appVersion] = launch.version
        environment[HoistEnvironment.workerIndex] = String(index)
        HoistEnvironment.addMallocTunables(to: &environment)
        let crashDirectory = launch.crashDirectory + "/\(index)-\(worker.token.prefix(8))"
        try? FileManager.default.createDirectory(atPath: crashDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        environment[HoistEnvironment.crashDirectory] = crashDirectory
        if environment["SWIFT_BACKTRACE"] == nil {
            environment["SWIFT_BACKTRACE"] = CrashReport.backtraceSetting(directory: crashDirectory, libraryPath: environment["LD_LIBRARY_PATH"])
        }

        let logFD = open(launch.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else {
            registry.remove(worker)
            throw HoistError(.deployFailed, "could not open the app log \(launch.logPath): \(String(cString: strerror(errno)))")
        }
        let log = FileHandle(fileDescriptor: logFD, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launch.executable)
        process.arguments = []
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: launch.workingDirectory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let executable = launch.executable
        process.terminationHandler = { process in
            let signalled = process.terminationReason == .uncaughtSignal
            let status = process.terminationStatus
            guard signalled else {
                try? FileManager.default.removeItem(atPath: crashDirectory)
                return worker.exited(status: status, signalled: false)
            }
            // A crash leaves a report to read first; the worker takes no new calls meanwhile.
            worker.markDying()
            Task {
                let report = await CrashReport.collect(directory: crashDirectory, executable: executable)
                let call = CrashReport.crashedCall(directory: crashDirectory)
                try? FileManager.default.removeItem(atPath: crashDirectory)
                worker.exited(status: status, signalled: true, crash: report, crashedCall: call)
            }
        }
        do {
            try process.run()
        } catch {
            registry.remove(worker)
            throw HoistError(.deployFailed, "could not start a worker of app '\(app)' from \(launch.executable): \(error)")
        }
        worker.setPID(process.processIdentifier)
        logger.info("started worker", metadata: ["app": "\(app)", "worker": "\(index)", "pid": "\(process.processIdentifier)"])
        return worker
    }

    private func workerExited(_ worker: Worker, reason: String) {
        registry.remove(worker)
        let restartDelay: Duration? = lock.withLock {
            guard !stopped, let position = workers.firstIndex(where: { $0 === worker }) else { return nil }
            _ = position
            let crashes = (consecutiveCrashes[worker.index] ?? 0) + 1
            consecutiveCrashes[worker.index] = crashes
            // Back off when a worker keeps dying, so a broken app does not spin the machine.
            return .milliseconds(min(5_000, 50 * (1 << min(crashes - 1, 7))))
        }
        guard let restartDelay else { return }
        logger.warning("worker exited; restarting", metadata: ["app": "\(app)", "worker": "\(worker.index)", "reason": "\(reason)"])
        appendToLog("hoist: worker \(worker.index) of app '\(app)' (pid \(worker.pid)) \(reason); restarting it")
        Task {
            try? await Task.sleep(for: restartDelay)
            guard !self.lock.withLock({ self.stopped }) else { return }
            do {
                let replacement = try self.spawn(index: worker.index)
                self.lock.withLock {
                    if let position = self.workers.firstIndex(where: { $0 === worker }) {
                        self.workers[position] = replacement
                    }
                }
                try await replacement.waitReady(timeout: .seconds(60))
                self.lock.withLock { self.consecutiveCrashes[worker.index] = 0 }
            } catch {
                self.logger.error("could not restart worker", metadata: ["app": "\(self.app)", "error": "\(error)"])
            }
        }
    }

    func appendToLog(_ line: String) {
        Self.append(line, toLog: launch.logPath)
    }

    /// Appends a line to a log file with O_APPEND: workers, pools and the daemon share app logs.
    static func append(_ line: String, toLog path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let text = line.hasSuffix("\n") ? line : line + "\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
    }
}
