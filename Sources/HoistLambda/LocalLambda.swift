import Foundation
import HoistCore
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// A local Lambda: the Invoke and function-management API for clients (boto3, the AWS CLI,
/// Hoist), the Runtime API for the functions' environments. No containers: each environment is
/// a process, kept warm, one per concurrent invocation.
///
/// `POST /` also answers the IAM role calls (`CreateRole`, `GetRole`, `DeleteRole`, inline
/// policies; STS's `GetCallerIdentity`) and the CloudWatch Logs calls (`CreateLogGroup`,
/// `DescribeLogGroups`, `PutRetentionPolicy`, `DeleteLogGroup`, `FilterLogEvents` over the
/// functions' log streams) that a deploy makes, so that one `AWS_ENDPOINT_URL` serves all of
/// it; see ``AWSRoutes``.
///
/// ```swift
/// try await LocalLambda(settings: LocalLambdaSettings(root: HoistHome.current.root + "/lambda")).run()
/// // aws lambda invoke --endpoint-url http://127.0.0.1:9001 --function-name summer out.json
/// // aws logs filter-log-events --endpoint-url http://127.0.0.1:9001 --log-group-name /aws/lambda/summer
/// ```
public final class LocalLambda: Sendable {
    public let settings: LocalLambdaSettings
    let store: FunctionStore
    let roles: IAMRoles
    let logGroups: LogGroups
    let counter: ConcurrencyCounter
    private let pools = NIOLockedValueBox<[String: FunctionPool]>([:])
    let urls = FunctionURLs()
    let logger = Logger(label: "hoist.lambda")

    public init(settings: LocalLambdaSettings) throws {
        // A Python given that cannot run python3.x functions is refused now, with the command
        // that fixes it, rather than failing each Python invocation with Runtime.ExitError.
        if let python = settings.python, !LocalLambdaSettings.hasRuntimeClient(python) {
            let problem = FileManager.default.isExecutableFile(atPath: python) ? "cannot import awslambdaric" : "is not an executable file"
            throw HoistError(.invalidConfiguration, "the Python for python3.x functions, \(python), \(problem); install AWS's runtime client into it with `\(python) -m pip install awslambdaric`, or pass --python a python3 that has it")
        }
        self.settings = settings
        try FileManager.default.createDirectory(atPath: settings.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        store = try FunctionStore(root: settings.functionsDirectory)
        roles = IAMRoles(path: settings.rolesFile)
        logGroups = LogGroups(root: settings.root)
        counter = ConcurrencyCounter(limit: settings.concurrency)
    }

    /// Serves until SIGTERM or SIGINT, then stops every environment.
    public func run() async throws {
        guard let lock = ProcessSupport.tryLock(settings.root + "/lambda.lock") else {
            let pid = (try? String(contentsOfFile: settings.pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw HoistError(.daemonUnavailable, "another local Lambda (pid \(pid)) already serves from \(settings.root); stop it first, or give this one another HOIST_HOME")
        }
        defer { close(lock) }
        try "\(getpid())\n".write(toFile: settings.pidFile, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: settings.portFile)
        defer {
            try? FileManager.default.removeItem(atPath: settings.pidFile)
            try? FileManager.default.removeItem(atPath: settings.portFile)
        }
        signal(SIGPIPE, SIG_IGN)
        let router = Router(context: BasicRequestContext.self)
        LambdaRoutes(lambda: self).register(on: router)
        AWSRoutes(lambda: self).register(on: router)
        let settings = self.settings
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "hoist-lambda"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                try? "\(port)\n".write(toFile: settings.portFile, atomically: true, encoding: .utf8)
                logger.info("local Lambda listening", metadata: ["url": "http://\(settings.host):\(port)", "home": "\(settings.root)", "python": "\(settings.python ?? "none")"])
            },
            logger: logger
        )
        // Function URLs saved before serve again, on their ports when those are free.
        for function in store.all {
            if let url = function.url { _ = try? await urls.start(function.name, port: url.port, host: settings.host, lambda: self) }
        }
        let keepWarm = settings.keepWarm
        let reaper = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: min(keepWarm, .seconds(5)))
                self.pools.withLockedValue { Array($0.values) }.forEach { $0.reap(keepWarm: keepWarm) }
            }
        }
        defer { reaper.cancel() }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        urls.stopAll()
        let all = pools.withLockedValue { pools in
            defer { pools = [:] }
            return Array(pools.values)
        }
        all.forEach { $0.retire() }
    }

    /// The pool of `function`'s current revision (a changed function gets a new pool; the old
    /// one finishes its invocations and stops).
    func pool(for function: LambdaFunction) -> FunctionPool {
        let (pool, old): (FunctionPool, FunctionPool?) = pools.withLockedValue { pools in
            if let pool = pools[function.name], pool.function.revisionID == function.revisionID { return (pool, nil) }
            let pool = FunctionPool(function: function, settings: settings, counter: counter)
            defer { pools[function.name] = pool }
            return (pool, pools[function.name])
        }
        old?.retire()
        return pool
    }

    /// Starts `payload` on `function` in an environment of its own; throws 429 over a limit.
    func start(_ function: LambdaFunction, payload: ByteBuffer, clientContext: String? = nil, requestID: String = UUID().uuidString.lowercased()) throws -> Invocation {
        let invocation = Invocation(payload: payload, timeoutSeconds: function.timeout, clientContext: clientContext, requestID: requestID)
        _ = try pool(for: function).run(invocation, reserved: function.reservedConcurrency)
        return invocation
    }

    /// Stops a function's environments (it was deleted or changed).
    func retirePool(_ name: String) {
        pools.withLockedValue { $0.removeValue(forKey: name) }?.retire()
    }
}
