import Foundation
import HoistCore

/// The release build of a product for Lambda: `swift build -c release --static-swift-stdlib` in a
/// scratch path of its own, with the Static Linux SDK when one is installed.
enum SwiftBuild {
    /// Whether `swift sdk list` shows a Static Linux SDK (its bundles are named
    /// `swift-<version>-RELEASE_static-linux-<n>` and hold the `<arch>-swift-linux-musl` targets).
    static func hasStaticLinuxSDK() async throws -> Bool {
        let output = try await PackagingTool.execute(try PackagingTool.swift.resolve(), ["sdk", "list"])
        guard output.status == 0 else { return false }
        return output.stdout.split(separator: "\n").contains { $0.contains("static-linux") || $0.contains("musl") }
    }

    /// Builds `product` and returns the path of its executable.
    static func build(product: String, sdk: String?, crossCompiling: Bool, options: LambdaPackageOptions) async throws -> String {
        let swift = try PackagingTool.swift.resolve()
        var flags = ["-c", "release", "--static-swift-stdlib", "--scratch-path", options.resolvedScratchPath]
        if let sdk { flags += ["--swift-sdk", sdk] }
        // The host's `strip` does not read another architecture's binaries: let the linker strip.
        if crossCompiling { flags += ["-Xlinker", "-s"] }
        let directory = options.resolvedDirectory
        options.log("building \(product): swift build \((flags + ["--product", product]).joined(separator: " "))")
        let started = ContinuousClock.now
        let build = try await PackagingTool.stream(swift, ["build"] + flags + ["--product", product], in: directory, log: options.log)
        guard build.status == 0 else {
            throw HoistError(.invalidConfiguration, "swift build of \(product) in \(directory) failed (status \(build.status)):\n\(build.tail)")
        }
        options.log("built \(product) in \((ContinuousClock.now - started).formatted(.units(allowed: [.minutes, .seconds], width: .narrow)))")
        let binPath = try await PackagingTool.swift.run(["build"] + flags + ["--show-bin-path"], in: directory)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let executable = binPath + "/" + product
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw HoistError(.invalidConfiguration, "swift build made no executable \(executable): is \(product) an executable product of the package in \(directory)?")
        }
        return executable
    }
}
