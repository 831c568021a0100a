import Foundation
import HoistClient
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct WorkerInfo: Decodable {
    var pid: Int32
    var version: String
    var mode: String?
    var secretLength: Int?
    var directory: String
}

extension TestDaemon {
    func whoami() async throws -> WorkerInfo {
        try JSONDecoder().decode(WorkerInfo.self, from: Data(try await call("whoami", "").utf8))
    }

    /// A copy of the test app with a few bytes appended: the same program, another hash.
    func changedBinary() throws -> String {
        let copy = home.root + "/testapp-changed"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: Binaries.testApp, toPath: copy)
        let handle = try #require(FileHandle(forWritingAtPath: copy))
        handle.seekToEndOfFile()
        handle.write(Data("hoist-test-\(UUID().uuidString)".utf8))
        try handle.close()
        return copy
    }
}

@Suite("Deploys, redeploys and crashes", .serialized)
struct DeployTests {
    @Test("an env's setup output reaches the deploying caller while the setup still runs, once per env version")
    func setupOutputStreams() async throws {
        try await withDaemon { daemon in
            // The setup waits for a file that the caller creates only when it has seen the
            // setup's first line: it finishes only if that line arrived while it ran (it waits up
            // to 60 s, for a machine loaded by the rest of the suite).
            let flag = daemon.home.root + "/setup-seen"
            let env = Env(name: "staged", setup: ["echo ready; i=0; while [ $i -lt 600 ]; do [ -f \(flag) ] && echo done && exit 0; sleep 0.1; i=$((i+1)); done; exit 1"])
            let request = DaemonAPI.DeployRequest(sha256: try ExecutableHash.computeSHA256(of: Binaries.testApp), executablePath: Binaries.testApp, env: env, secretValues: [:])
            let seen = NIOLockedValueBox("")
            let response = try await daemon.client.deploy(app: "testapp", request: request) { kind, bytes in
                let text = seen.withLockedValue { $0 += String(buffer: bytes); return $0 }
                #expect(kind == .stderr)
                if text.contains("ready\n") { FileManager.default.createFile(atPath: flag, contents: nil) }
            }
            #expect(response.changed)
            #expect(seen.withLockedValue { $0 }.contains("ready\ndone\n"), "\(seen.withLockedValue { $0 })")
            #expect(try await daemon.call("add", "[1,2]") == "3")
            // The same env again: setup does not run, nothing is printed.
            let quiet = NIOLockedValueBox(0)
            _ = try await daemon.client.deploy(app: "testapp", request: request) { _, _ in quiet.withLockedValue { $0 += 1 } }
            #expect(quiet.withLockedValue { $0 } == 0)
        }
    }

    @Test("redeploying the same binary and env changes nothing")
    func unchangedRedeploy() async throws {
        try await withDaemon { daemon in
            let first = try await daemon.deploy()
            #expect(first.changed)
            let before = try await daemon.whoami()
            let second = try await daemon.deploy()
            #expect(!second.changed)
            #expect(second.app.sha256 == first.app.sha256)
            #expect(try await daemon.whoami().pid == before.pid)
        }
    }

    @Test("a changed binary takes over while calls in flight finish on the old one")
    func changedRedeployWithCallsInFlight() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let old = try await daemon.whoami()
            let inFlight = Task { try await daemon.call("sleepy", "800") }
            try await Task.sleep(for: .milliseconds(200))
            let changed = try daemon.changedBinary()
            let response = try await daemon.deploy(changed)
            #expect(response.changed)
            let new = try await daemon.whoami()
            #expect(new.version == response.app.sha256)
            #expect(new.version != old.version)
            #expect(new.pid != old.pid)
            // The call that was running when the deploy happened completed on the old worker.
            #expect(try await inFlight.value == String(old.pid))
        }
    }

    @Test("a deploy that fails to start leaves the previous version serving")
    func failedDeployKeepsOldVersion() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let before = try await daemon.whoami()
            // /bin/true starts and exits at once: it never connects as a worker.
            let error = await #expect(throws: HoistError.self) {
                try await daemon.deploy("/bin/true")
            }
            #expect(error?.code == .deployFailed)
            #expect(error?.message.contains("previous version is still serving") == true)
            #expect(try await daemon.whoami().version == before.version)
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }

    @Test("a worker killed mid-call fails that call with the signal, and is replaced")
    func workerKilledMidCall() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let victim = try await daemon.whoami().pid
            // `chatter` prints as it starts and goes on for minutes: the kill comes only once the
            // call is known to be running on the worker, and before it can have finished, however
            // slowly a loaded machine runs this test (a 5 s call once ended before the kill).
            let call = await daemon.callRunning("chatter", #"["T", 100000]"#)
            // Queued behind the running call on the only worker: never started, so it is rerun.
            let queued = Task { try await daemon.call("add", "[20,3]") }
            // A large body queued behind it too: the daemon keeps it to send it again.
            let large = String(repeating: "z", count: 1 << 20)
            let queuedLarge = Task { try await daemon.call("size", "\"\(large)\"") }
            try await Task.sleep(for: .milliseconds(100))
            kill(victim, SIGKILL)
            let error = await #expect(throws: HoistError.self) { _ = try await call.value }
            #expect(error?.code == .workerCrashed)
            #expect(error?.message.contains("SIGKILL") == true)
            #expect(error?.message.contains("chatter") == true)
            #expect(error?.message.contains("pid \(victim)") == true)
            #expect(try await queued.value == "23")
            #expect(try await queuedLarge.value == String(1 << 20))
            // A new worker takes the next call.
            let replacement = try await daemon.whoami()
            #expect(replacement.pid != victim)
            #expect(try await daemon.call("add", "[5,5]") == "10")
        }
    }

    @Test("bad calls never kill the worker")
    func badCallsKeepWorker() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let pid = try await daemon.whoami().pid
            for body in ["[1", "[1]", #"["a","b"]"#, "{}", #"{"a":1,"c":2}"#, "null"] {
                await #expect(throws: HoistError.self) { _ = try await daemon.call("add", body) }
            }
            await #expect(throws: RemoteError.self) { _ = try await daemon.call("refuse", #""x""#) }
            #expect(try await daemon.whoami().pid == pid)
        }
    }

    @Test("a daemon restart serves the deployed apps again")
    func restartKeepsApps() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy(env: Env(environment: ["MODE": "kept"]))
            daemon.stop()
            try await daemon.start()
            let info = try await daemon.whoami()
            #expect(info.mode == "kept")
            #expect(try await daemon.call("add", "[20,22]") == "42")
        }
    }

    @Test("env variables, secrets and working directory reach the workers; secrets stay out of logs")
    func envAndSecrets() async throws {
        try await withDaemon { daemon in
            let secret = "s3cr3t-" + UUID().uuidString
            let workdir = daemon.home.root + "/work-here"
            try await daemon.deploy(
                env: Env(name: "custom", environment: ["MODE": "fast"], secrets: ["HOIST_TEST_SECRET"], workingDirectory: workdir, replicas: 2),
                secrets: ["HOIST_TEST_SECRET": secret]
            )
            let info = try await daemon.whoami()
            #expect(info.mode == "fast")
            #expect(info.secretLength == secret.count)
            #expect(info.directory == workdir)
            let apps = try await daemon.client.apps()
            #expect(apps.first?.readyWorkers == 2)
            #expect(apps.first?.env == "custom")
            let secretsFile = daemon.home.appDirectory("testapp") + "/secrets.json"
            let attributes = try FileManager.default.attributesOfItem(atPath: secretsFile)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            // The value is in the 0600 file and nowhere else the daemon writes.
            for path in [daemon.home.daemonLog, daemon.home.appLog("testapp"), daemon.home.appDirectory("testapp") + "/app.json"] {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                #expect(!text.contains(secret), "secret leaked into \(path)")
            }
        }
    }

    @Test("a secret the env names but the deploy does not give is a clear error")
    func missingSecret() async throws {
        try await withDaemon { daemon in
            let error = await #expect(throws: HoistError.self) {
                try await daemon.deploy(env: Env(secrets: ["NOT_GIVEN"]))
            }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains("NOT_GIVEN") == true)
        }
    }

    @Test("setup commands run once per env version, in the working directory")
    func setupCommands() async throws {
        try await withDaemon { daemon in
            let workdir = daemon.home.root + "/setup-dir"
            let env = Env(setup: ["echo ran >> setup-count"], workingDirectory: workdir)
            try await daemon.deploy(env: env)
            try await daemon.deploy(daemon.changedBinary(), env: env)
            let count = try String(contentsOfFile: workdir + "/setup-count", encoding: .utf8)
            #expect(count == "ran\n")
            let failing = await #expect(throws: HoistError.self) {
                try await daemon.deploy(env: Env(setup: ["echo failing-setup; exit 3"]))
            }
            #expect(failing?.message.contains("exited with status 3") == true)
            #expect(failing?.message.contains("failing-setup") == true)
            #expect(try await daemon.call("add", "[1,2]") == "3")
        }
    }
}
