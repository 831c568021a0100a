import Foundation
import HoistCore
import Testing

/// The remote-build path builds this package on the host from scratch, which takes minutes:
/// `scripts/test` runs this suite on its own after the others, so that the build does not
/// compete with their timing. It uses its own host (hoist-builder), so it can also run alongside.
@Suite("Building on the host", .serialized)
struct RemoteBuildTests {
    @Test("a host that is asked to build gets the package synced, builds it, and serves what it built")
    func buildOnHost() async throws {
        let run = try TestHosts.scenario("cluster-build", environment: ["HOIST_TEST_SSH_HOST": "hoist-builder"])
        #expect(run.status == 0, "\(run.stderr.suffix(3000))")
        let lines = Set(run.stdout.split(separator: "\n").map(String.init))
        for line in ["builtAdd=42", "builtThere=true", "staleRemoved=true", "syncLimit=true", "builtDown=ok"] {
            #expect(lines.contains(line), "missing \(line) in \(run.stdout)")
        }
        // What was synced is reported, and the build's output streamed back as it ran: its
        // `Compiling` lines, or only its start and end when the host kept an up-to-date build
        // from an earlier run of this test.
        #expect(run.stderr.contains("hoist: syncing ") && run.stderr.contains(" files, "), "\(run.stderr.prefix(2000))")
        #expect(run.stderr.contains("[hoist-builder build] ") && (run.stderr.contains("Compiling") || run.stderr.contains("[hoist-builder build] Build")), "\(run.stderr.prefix(2000))")
        // Never the build directory, and only what git would commit.
        let synced = "/home/hoist-builder/.hoist/src/" + URL(fileURLWithPath: Binaries.packageRoot).lastPathComponent
        #expect(FileManager.default.fileExists(atPath: synced + "/Package.swift"))
        #expect(!FileManager.default.fileExists(atPath: synced + "/.build-testbed"))
        #expect(!FileManager.default.fileExists(atPath: synced + "/.git"))
    }
}
