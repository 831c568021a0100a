import Crypto
import Foundation
import NIOCore
import HoistCore
import Logging
import NIOConcurrencyHelpers

/// The apps a daemon serves. Deploys are serialised here; the call path only reads the
/// current pool of an app through ``lookup(_:)``, which takes a lock and nothing else.
actor AppManager {
    struct Entry: Sendable {
        let manifest: AppStore.Manifest
        let pool: WorkerPool
        /// Identifies what is deployed: binary, env and secrets.
        let fingerprint: String
    }

    nonisolated let store: AppStore
    private let home: HoistHome
    /// This daemon among others, for nested calls (``NestedCall/daemonVariable``).
    private let daemonID = UUID().uuidString.prefix(8).lowercased()
    private let registry: WorkerRegistry
    private let logger: Logger
    private nonisolated let entries = NIOLockedValueBox<[String: Entry]>([:])
    /// The last deploy request body found unchanged for each app, with the fingerprint it
    /// matched: the same bytes again need neither decoding nor hashing.
    private nonisolated let unchangedBodies = NIOLockedValueBox<[String: (body: ByteBuffer, fingerprint: String)]>([:])

    init(home: HoistHome, registry: WorkerRegistry, logger: Logger) {
        self.home = home
        self.store = AppStore(home: home)
        self.registry = registry
        self.logger = logger
    }

    nonisolated func lookup(_ app: String) -> Entry? {
        entries.withLockedValue { $0[app] }
    }

    nonisolated var all: [Entry] {
        entries.withLockedValue { $0.values.sorted { $0.manifest.name < $1.manifest.name } }
    }

    nonisolated func info(_ entry: Entry) -> DaemonAPI.AppInfo {
        DaemonAPI.AppInfo(
            name: entry.manifest.name,
            sha256: entry.manifest.sha256,
            env: entry.manifest.env.name,
            replicas: entry.manifest.env.replicas,
            readyWorkers: entry.pool.readyCount,
            functions: entry.manifest.functions,
            deployedAt: entry.manifest.deployedAt
        )
    }

    /// Installs and starts a version of an app. The same binary, env and secrets again is a
    /// no-op; anything else starts new workers, switches to them once all are ready, and drains
    /// the old ones. If the new workers fail to start, the old version keeps serving.
    /// Setup output as it is printed, for a deploying caller that asked to see it.
    typealias SetupOutput = @Sendable (ByteBuffer) -> Void

    /// The answer to a deploy of what `app` already runs (same binary, env and secrets, and
    /// serving), or `nil` when the deploy would change something or fail.
    /// `body` is the request as it arrived.
    nonisolated func unchanged(app: String, request: DaemonAPI.DeployRequest, body: ByteBuffer) -> DaemonAPI.DeployResponse? {
        let secrets = request.secretValues.filter { request.env.secrets.contains($0.key) }
        let fingerprint = Self.fingerprint(sha256: request.sha256, env: request.env, secrets: secrets)
        guard let response = serving(app, fingerprint: fingerprint) else { return nil }
        unchangedBodies.withLockedValue { $0[app] = (body, fingerprint) }
        return response
    }

    /// ``unchanged(app:request:body:)`` for the very bytes of a request found unchanged before.
    nonisolated func unchanged(app: String, body: ByteBuffer) -> DaemonAPI.DeployResponse? {
        guard let known = unchangedBodies.withLockedValue({ $0[app] }), known.body == body else { return nil }
        return serving(app, fingerprint: known.fingerprint)
    }

    /// The answer "unchanged" when `app` runs the version `fingerprint` names and serves.
    private nonisolated func serving(_ app: String, fingerprint: String) -> DaemonAPI.DeployResponse? {
        guard let current = lookup(app), current.fingerprint == fingerprint, current.pool.readyCount > 0 else { return nil }
        return DaemonAPI.DeployResponse(changed: false, app: info(current))
    }

    func deploy(app: String, request: DaemonAPI.DeployRequest, setupOutput output: SetupOutput? = nil) async throws -> DaemonAPI.DeployResponse {
        if let problem = FunctionTable.problem(withName: app) {
            throw HoistError(.invalidName, "app name '\(app)': \(problem)")
        }
        guard request.sha256.count == 64, request.sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw HoistError(.invalidConfiguration, "sha256 must be 64 lower-case hex digits")
        }
        try request.env.validate()
        let missing = request.env.secrets.filter { request.secretValues[$0] == nil }
        if !missing.isEmpty {
            throw HoistError(.invalidConfiguration, "Env '\(request.env.name)' names secrets that were not provided: \(missing.joined(separator: ", ")); set them in the deploying process's environment")
        }
        let secrets = request.secretValues.filter { request.env.secrets.contains($0.key) }
        let fingerprint = Self.fingerprint(sha256: request.sha256, env: request.env, secrets: secrets)
        if let unchanged = serving(app, fingerprint: fingerprint) { return unchanged }

        let executable = try store.ensureBlob(sha256: request.sha256, from: request.executablePath)
        let workingDirectory = try prepareWorkingDirectory(app: app, env: request.env)
        let setupOutput = try await runSetup(app: app, env: request.env, secrets: secrets, workingDirectory: workingDirectory, output: output)

        let pool = makePool(app: app, sha256: request.sha256, executable: executable, env: request.env, secrets: secrets, workingDirectory: workingDirectory)
        let logStart = logSize(app)
        do {
            try await pool.start()
        } catch {
            let tail = logTail(app, from: logStart)
            let previous = lookup(app) != nil ? "; the previous version is still serving" : ""
            throw HoistError(.deployFailed, "the new version of app '\(app)' did not start: \(error)\(previous)" + (tail.isEmpty ? "" : "\n--- app log ---\n\(tail)"))
        }
        let manifest = AppStore.Manifest(
            name: app,
            sha256: request.sha256,
            env: request.env,
            functions: pool.functions,
            deployedAt: Date().timeIntervalSince1970,
            secretsDigest: AppStore.digest(secrets)
        )
        do {
            try store.save(manifest, secrets: secrets)
        } catch {
            await pool.stop(grace: .seconds(1))
            throw error
        }
        let entry = Entry(manifest: manifest, pool: pool, fingerprint: fingerprint)
        let previous = entries.withLockedValue { entries in
            defer { entries[app] = entry }
            return entries[app]
        }
        pool.appendToLog("hoist: app '\(app)' version \(request.sha256.prefix(12)) is serving with \(request.env.replicas) worker(s)")
        logger.info("deployed", metadata: ["app": "\(app)", "sha256": "\(request.sha256.prefix(12))"])
        if let previous {
            Task { await previous.pool.drainAndStop() }
        }
        return DaemonAPI.DeployResponse(changed: true, app: info(entry), setupOutput: setupOutput)
    }

    /// Stops an app's workers and forgets it.
    func remove(app: String) async throws {
        guard let entry = entries.withLockedValue({ $0.removeValue(forKey: app) }) else {
            throw HoistError(.unknownApp, "no app named '\(app)' is deployed")
        }
        await entry.pool.drainAndStop(drainTimeout: .seconds(30))
        store.remove(app)
    }

    /// Starts the workers of every saved app, for a daemon that just started.
    func restoreAll() async {
        for (manifest, secrets) in store.loadAll() {
            let executable = home.blob(manifest.sha256)
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                logger.error("the executable of app '\(manifest.name)' is missing from the store; deploy it again")
                continue
            }
            let workingDirectory = (try? prepareWorkingDirectory(app: manifest.name, env: manifest.env)) ?? home.appDirectory(manifest.name)
            let pool = makePool(app: manifest.name, sha256: manifest.sha256, executable: executable, env: manifest.env, secrets: secrets, workingDirectory: workingDirectory)
            let entry = Entry(manifest: manifest, pool: pool, fingerprint: Self.fingerprint(sha256: manifest.sha256, env: manifest.env, secrets: secrets))
            // Route calls to it at once: they wait for a ready worker rather than get a 404.
            entries.withLockedValue { $0[manifest.name] = entry }
            do {
                try await pool.start()
            } catch {
                logger.error("could not restart app '\(manifest.name)': \(error)")
            }
        }
    }

    func stopAll() async {
        let all = entries.withLockedValue { entries in
            defer { entries = [:] }
            return Array(entries.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for entry in all {
                group.addTask { await entry.pool.stop(grace: .seconds(3)) }
            }
        }
    }

    private func makePool(app: String, sha256: String, executable: String, env: Env, secrets: [String: String], workingDirectory: String) -> WorkerPool {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("HOIST_") { environment.removeValue(forKey: key) }
        environment[HoistEnvironment.home] = home.root
        environment[NestedCall.daemonVariable] = String(daemonID)
        environment.merge(env.environment) { _, new in new }
        environment.merge(secrets) { _, new in new }
        let launch = WorkerPool.Launch(
            executable: executable,
            workingDirectory: workingDirectory,
            environment: environment,
            logPath: home.appLog(app),
            socketPath: home.workerSocket,
            version: sha256,
            crashDirectory: home.appDirectory(app) + "/crashes"
        )
        return WorkerPool(app: app, launch: launch, replicas: env.replicas, registry: registry, logger: logger)
    }

    private func prepareWorkingDirectory(app: String, env: Env) throws -> String {
        let path = env.workingDirectory.map { NSString(string: $0).expandingTildeInPath } ?? (home.appDirectory(app) + "/work")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Checks system packages and runs the env's setup commands once per version of the env.
    /// Returns what the commands printed when they ran (`nil` when they had run before).
    private func runSetup(app: String, env: Env, secrets: [String: String], workingDirectory: String, output: SetupOutput?) async throws -> String? {
        if !env.systemPackages.isEmpty {
            let missing = env.systemPackages.filter { !Self.isDebianPackageInstalled($0) }
            if !missing.isEmpty {
                throw HoistError(.deployFailed, "Env '\(env.name)' needs system packages that are not installed on this machine: \(missing.joined(separator: ", ")); install them with `sudo apt-get install -y \(missing.joined(separator: " "))`")
            }
        }
        guard !env.setup.isEmpty else { return nil }
        var hasher = SHA256()
        hasher.update(data: (try? JSONEncoder().encode([env.setup, [workingDirectory]])) ?? Data())
        let marker = home.appDirectory(app) + "/setup-" + hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(16) + ".done"
        if FileManager.default.fileExists(atPath: marker) { return nil }
        try FileManager.default.createDirectory(atPath: home.appDirectory(app), withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env.environment) { _, new in new }
        environment.merge(secrets) { _, new in new }
        let setupStart = logSize(app)
        for command in env.setup {
            let logStart = logSize(app)
            appendToLog(app, "hoist: setup for env '\(env.name)': \(command)")
            output?(ByteBuffer(string: "$ \(command)\n"))
            let status = try await Self.runShell(command, environment: environment, workingDirectory: workingDirectory, logPath: home.appLog(app), output: output)
            if status != 0 {
                throw HoistError(.deployFailed, "setup command `\(command)` of env '\(env.name)' exited with status \(status)\n--- output ---\n\(logTail(app, from: logStart))")
            }
        }
        _ = FileManager.default.createFile(atPath: marker, contents: Data())
        return logTail(app, from: setupStart)
    }

    /// Runs a setup command with its output appended to the app's log and, when asked, handed
    /// to `output` as it comes.
    private static func runShell(_ command: String, environment: [String: String], workingDirectory: String, logPath: String, output: SetupOutput?) async throws -> Int32 {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        process.standardInput = FileHandle.nullDevice
        guard let output else {
            process.standardOutput = log
            process.standardError = log
            return try await withCheckedThrowingContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try process.run() } catch { continuation.resume(throwing: error) }
            }
        }
        // Through a pipe, copied to the log and to the caller until the command closes it.
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        try? pipe.fileHandleForWriting.close()
        let reader = pipe.fileHandleForReading
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                // `availableData` returns what the pipe holds now (read(upToCount:) would wait
                // for the whole count), and an empty Data at the end.
                while case let chunk = reader.availableData, !chunk.isEmpty {
                    log.write(chunk)
                    output(ByteBuffer(bytes: chunk))
                }
                done.resume()
            }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    private static func isDebianPackageInstalled(_ name: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-query")
        process.arguments = ["-W", "-f=${Status}", name]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).hasSuffix("installed") && process.terminationStatus == 0
    }

    private func appendToLog(_ app: String, _ line: String) {
        WorkerPool.append(line, toLog: home.appLog(app))
    }

    private func logSize(_ app: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: home.appLog(app)))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    private func logTail(_ app: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: home.appLog(app)) else { return "" }
        defer { try? handle.close() }
        let size = handle.seekToEndOfFile()
        let start = max(offset, size > 4096 ? size - 4096 : 0)
        handle.seek(toFileOffset: start)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func fingerprint(sha256: String, env: Env, secrets: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var hasher = SHA256()
        hasher.update(data: Data(sha256.utf8))
        hasher.update(data: (try? encoder.encode(env)) ?? Data())
        hasher.update(data: Data(AppStore.digest(secrets).utf8))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
