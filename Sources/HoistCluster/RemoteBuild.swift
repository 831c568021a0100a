import Foundation
import HoistCore
import HoistSSH

/// Builds the app on a host from its package: sync the package's files with rsync (only what
/// changed), `swift build` there with the output streamed to this process, and store the
/// product in the host's blob store by its SHA-256.
struct RemoteBuild: Sendable {
    let host: SSHHost
    let options: Cluster.BuildOptions
    /// Where the toolchain's `swift` is on the host.
    let swift: String
    /// The host's Hoist home.
    let home: String

    var ssh: SSHTransport { SSHTransport(host: host) }

    /// Builds and returns the SHA-256 of the product, now at `<home>/blobs/<sha>`.
    func run() async throws -> String {
        let directory = try options.packageDirectory.map { NSString(string: $0).expandingTildeInPath } ?? PackageSync.findPackage()
        let product = options.product ?? URL(fileURLWithPath: ProcessSupport.executablePath).lastPathComponent
        let package = try await PackageSync.scan(directory)
        try package.check(limit: options.syncLimitBytes)
        let name = URL(fileURLWithPath: directory).lastPathComponent.filter { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        let source = "\(home)/src/\(name.isEmpty ? "package" : name)"
        report("syncing \(directory) to \(host):\(source): \(package.summary)")

        let list = NSTemporaryDirectory() + "hoist-sync-\(UUID().uuidString).txt"
        try package.files.joined(separator: "\n").write(toFile: list, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: list) }
        try await ssh.check("mkdir -p \(quoted(source))")
        try await removeStale(in: source, keeping: Set(package.files))
        try await ssh.upload(directory + "/", to: source + "/", extraArguments: ["--files-from=\(list)"])

        report("building \(product) (\(options.configuration)) on \(host)")
        let label = "[\(host) build]"
        let status = try await ssh.stream("cd \(quoted(source)) && \(quoted(swift)) build -c \(quoted(options.configuration)) --product \(quoted(product))") { line in
            FileHandle.standardError.write(Data("\(label) \(line)\n".utf8))
        }
        guard status == 0 else {
            throw HoistError(.deployFailed, "`swift build` of \(product) failed on \(host) (status \(status)); its output is above")
        }
        let binPath = try await ssh.check("cd \(quoted(source)) && \(quoted(swift)) build -c \(quoted(options.configuration)) --show-bin-path").trimmingCharacters(in: .whitespacesAndNewlines)
        let binary = binPath + "/" + product
        let sha = try await ssh.check("sha256sum \(quoted(binary)) | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        guard sha.count == 64 else {
            throw HoistError(.deployFailed, "could not hash the built \(binary) on \(host) (got '\(sha)')")
        }
        // The hash is 64 hex digits (checked above); the home is quoted.
        let blobs = quoted(home) + "/blobs", blob = quoted(home) + "/blobs/" + sha
        try await ssh.check("mkdir -p \(blobs) && test -x \(blob) || { cp \(quoted(binary)) \(blob).partial && chmod 755 \(blob).partial && mv \(blob).partial \(blob); }")
        return sha
    }

    /// Removes the files an earlier sync left on the host that the package no longer has (a
    /// renamed or deleted source file would otherwise still be compiled there); the host's own
    /// build products stay.
    private func removeStale(in source: String, keeping files: Set<String>) async throws {
        let listing = try await ssh.check("cd \(quoted(source)) && find . \\( -path ./.build -o -path './.build-*' -o -path ./.swiftpm \\) -prune -o -type f -print")
        let stale = listing.split(separator: "\n").map { String($0.dropFirst(2)) }
            .filter { !$0.isEmpty && !files.contains($0) && $0 != "Package.resolved" }
        guard !stale.isEmpty else { return }
        report("removing \(stale.count) file(s) on \(host) that the package no longer has")
        for chunk in stride(from: 0, to: stale.count, by: 200).map({ stale[$0..<min($0 + 200, stale.count)] }) {
            try await ssh.check("cd \(quoted(source)) && rm -f -- " + chunk.map(quoted).joined(separator: " "))
        }
    }

    private func report(_ message: String) {
        FileHandle.standardError.write(Data("hoist: \(message)\n".utf8))
    }
}
