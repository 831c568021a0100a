import Foundation
import HoistClient
import HoistCore
import Testing

@Suite("Functions that call functions")
struct NestedTests {
    @Test("a function calls, maps over, spawns and streams its app's functions on the daemon it runs on, without a redeploy")
    func nestedOnLocalDaemon() async throws {
        try await withDaemon { daemon in
            let deployed = try await daemon.deploy(env: Env(replicas: 2))
            #expect(try await daemon.call("nested", "[20,1]") == "42")
            // 10 sums of (i, i), a spawned 10 + 1, and 0 + 1 + 2 streamed.
            let fanned = try await daemon.call("fanOut", "10")
            #expect(fanned == "[90,11,3]", "\(fanned)")
            // Nothing was deployed again: the app's version is the one deployed above.
            let app = try #require(try await daemon.client.apps().first { $0.name == "testapp" })
            #expect(app.sha256 == deployed.app.sha256 && app.deployedAt == deployed.app.deployedAt)
            // One level of recursion fits two workers.
            #expect(try await daemon.call("recurse", "1") == "1")
        }
    }

    @Test("a function sends its app to another system and calls it there")
    func nestedOnAnotherSystem() async throws {
        try await withDaemon { daemon in
            try await daemon.deploy()
            let other = try await TestDaemon.started()
            defer { other.shutdown() }
            let before = try await other.client.apps()
            #expect(before.isEmpty)
            let answer = try await daemon.call("elsewhere", #"["\#(other.home.root)", \#(other.port)]"#)
            #expect(answer == "42")
            let after = try await other.client.apps()
            #expect(after.map(\.name) == ["testapp"])
        }
    }

    @Test("a nested call that no worker could ever take fails at once with a clear error, and the workers serve on")
    func nestedDeadlockRefused() async throws {
        try await withDaemon { daemon in
            _ = try await daemon.deploy(env: Env(replicas: 2))
            let started = ContinuousClock.now
            // Depth 2 needs three workers at once: the third level finds both blocked.
            // The error the innermost call got reaches the outermost caller as it is.
            let error = await #expect(throws: HoistError.self) { _ = try await daemon.call("recurse", "2") }
            #expect(error?.code == .noFreeWorker, "\(String(describing: error))")
            #expect(error?.message.contains("Env(replicas:)") == true)
            // Refused, not deadlocked: the bound catches a hang, not a slow machine.
            #expect(ContinuousClock.now - started < .seconds(30))
            // One worker: a function calling its own app can never be served.
            _ = try await daemon.deploy(env: Env(name: "single", replicas: 1))
            let single = await #expect(throws: HoistError.self) { _ = try await daemon.call("nested", "[1,2]") }
            #expect(single?.code == .noFreeWorker, "\(String(describing: single))")
            #expect(try await daemon.call("add", "[2,3]") == "5")
        }
    }
}
