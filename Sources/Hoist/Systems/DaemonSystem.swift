import Foundation
import HoistClient
import HoistCluster
import HoistCore
import NIOCore

/// Hoist's daemons as a system: the local daemon (one member) or a cluster's hosts (one member
/// each, calls spread over them by ``DaemonGroup``).
struct DaemonSystem: SystemBackend {
    let group: DaemonGroup
    let label: String
    /// The cluster session, for a cluster: its hosts' binaries and system packages.
    let session: ClusterSession?

    func deploy(_ unit: DeployUnit) async throws -> Int {
        let (app, env, secretValues) = (unit.app, unit.env, unit.secretValues)
        let executable = ProcessSupport.executablePath
        // A cluster's daemons read the binary the bootstrap sent (or the host built) from
        // their own blob stores; the local daemon reads it from where it runs.
        var path: String? = executable
        var binaries: [String: String] = [:]
        if let session {
            try await session.ensureSystemPackages(env.systemPackages)
            path = nil
            binaries = session.binaries
        }
        let sha = try ExecutableHash.sha256(of: executable)
        let base = DaemonAPI.DeployRequest(sha256: sha, executablePath: path, env: env, secretValues: secretValues)
        let hostBinaries = binaries
        let isCluster = session != nil
        let members = group.members.filter(\.up)
        // Every daemon of the system gets the app; one that cannot be reached is skipped with
        // a warning (it is set aside for calls too) as long as another one deployed.
        let outcomes = await withTaskGroup(of: Swift.Result<DaemonAPI.DeployResponse, any Error>.self) { tasks in
            for member in members {
                tasks.addTask {
                    do {
                        var request = base
                        request.sha256 = hostBinaries[member.label] ?? sha
                        // The env's setup output, printed as it runs: `[setup]`, or
                        // `[host setup]` on a cluster.
                        let printer = OutputPrinter(function: isCluster ? "\(member.label) setup" : "setup")
                        defer { printer.flush() }
                        return .success(try await member.client.deploy(app: app, request: request) { kind, bytes in printer.write(kind, bytes) })
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var outcomes: [Swift.Result<DaemonAPI.DeployResponse, any Error>] = []
            for await outcome in tasks { outcomes.append(outcome) }
            return outcomes
        }
        var replicas = 0
        var unreachable: (any Error)?
        for outcome in outcomes {
            switch outcome {
            case let .success(deployed): replicas += deployed.app.replicas
            case let .failure(error as HoistError) where error.code == .daemonUnavailable && members.count > 1:
                unreachable = error
                DaemonGroup.standardErrorWarning("deploy of '\(app)' skipped a daemon of \(label): \(error.message)")
            case let .failure(error): throw error
            }
        }
        if replicas == 0, let unreachable { throw unreachable }
        return replicas
    }

    var carriesRawBytes: Bool { true }

    func deployed(app: String) async throws -> Int? {
        try await group.primary.apps().first(where: { $0.name == app })?.replicas
    }

    func call(_ call: SystemCall, output: DaemonClient.OutputHandler?) async throws -> ByteBuffer {
        let send: @Sendable (DaemonClient) async throws -> ByteBuffer = { client in
            try await client.call(app: call.app, function: call.function, body: call.body, deadline: call.deadline, key: call.key, retry: call.retry, bytes: call.bytes, sharedMemory: !call.streaming, resultReader: call.resultReader, output: output)
        }
        return call.spread ? try await group.withMember(send) : try await send(group.primary)
    }

    func cancel(_ key: String) async {
        // Keys are unique: the daemon that runs the call cancels it, and a cancel that reaches
        // one before its call is remembered there for a few seconds.
        await withTaskGroup(of: Void.self) { tasks in
            for member in group.members where member.up {
                tasks.addTask { try? await member.client.cancel(call: key) }
            }
        }
    }

    func spawn(_ call: SystemCall, name: String?) async throws -> any RunHandle {
        let spawn: @Sendable (DaemonClient) async throws -> DaemonRun = { client in
            DaemonRun(key: try await client.spawn(app: call.app, function: call.function, body: call.body, name: name, deadline: call.deadline, retry: call.retry), client: client)
        }
        // Unnamed runs spread over the daemons; a named run goes to the primary, so that a
        // name is taken once per system.
        return name == nil ? try await group.withMember(spawn) : try await spawn(group.primary)
    }

    func getOrCall(_ call: SystemCall, name: String) async throws -> ByteBuffer {
        // A named run lives on one daemon: every caller of one name meets it on the primary.
        try await group.primary.getOrCall(app: call.app, function: call.function, body: call.body, name: name, deadline: call.deadline)
    }

    func run(_ key: String) async throws -> any RunHandle {
        // On a cluster, the host that has the run is found by asking each in turn.
        var lastError: (any Error)?
        for member in group.members where member.up {
            do {
                _ = try await member.client.run(key)
                return DaemonRun(key: key, client: member.client)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? HoistError(.unknownRun, "no run '\(key)' on \(label)")
    }

    func endpoint(app: String, function: String) -> URL {
        URL(string: "\(group.primary.endpointBase)/\(app)/\(function)")!
    }
}

/// A run on one daemon.
struct DaemonRun: RunHandle {
    let key: String
    let client: DaemonClient

    func record() async throws -> RunRecord { try await client.run(key) }
    func wait(timeout: Double) async throws -> RunRecord { try await client.waitForRun(key, timeout: timeout) }
    func cancel() async throws -> RunRecord { try await client.cancelRun(key) }
}
