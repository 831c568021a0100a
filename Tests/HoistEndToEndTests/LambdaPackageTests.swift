import Foundation
import HoistCore
import HoistLambdaPackage
import Testing

/// Lambda zips: a Hoist app as a `bootstrap` that runs in an empty `chroot` (nothing but the
/// unzipped package at /var/task and a /proc, so nothing of this machine's glibc or Swift), handler
/// files with their requirements, and the limits.
@Suite("Lambda packages", .serialized)
struct LambdaPackageTests {
    /// The static release build of the test app that scripts/test makes before `swift test`
    /// (`swift build -c release --static-swift-stdlib --product hoist-test-app --scratch-path .build-lambda`).
    static let releaseTestApp = Binaries.packageRoot + "/.build-lambda/release/hoist-test-app"

    @Test("the debug test app, bundled with its loader and libraries, runs in an empty chroot")
    func bundledDebugApp() async throws {
        try await withScratch { scratch in
            let package = try await LambdaPackager.package(executable: Binaries.testApp, options: LambdaPackageOptions(outputDirectory: scratch))
            #expect(package.zipPath == scratch + "/hoist-test-app.zip")
            #expect(package.manifest.method == .bundledLoader)
            #expect(package.manifest.interpreter == "/var/task/lib/ld-linux-x86-64.so.2")
            // A debug binary links the Swift runtime dynamically: it travels too.
            for library in ["lib/ld-linux-x86-64.so.2", "lib/libc.so.6", "lib/libstdc++.so.6", "lib/libgcc_s.so.1", "lib/libswiftCore.so", "lib/libFoundation.so"] {
                #expect(package.manifest.libraries.contains(library), "no \(library) in \(package.manifest.libraries)")
            }
            let run = try await runsInEmptyRoot(package, scratch: scratch, environment: ["HOIST_ROLE": "describe"])
            let description = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            #expect(description?["name"] as? String == "testapp", "\(run.stdout)")

            // Lambda sets LD_LIBRARY_PATH to its own /lib64 (glibc 2.34) first: the bundled
            // libraries must still win. A libc there that cannot load stands in for it.
            let root = scratch + "/root"
            try FileManager.default.createDirectory(atPath: root + "/lib64", withIntermediateDirectories: true)
            try write(root + "/lib64/libc.so.6", "not the bundled libc")
            try FileManager.default.copyItem(atPath: root + "/lib64/libc.so.6", toPath: root + "/lib64/libstdc++.so.6")
            let withSystemPath = try runInRoot(root, environment: ["HOIST_ROLE": "describe", "LD_LIBRARY_PATH": "/lib64"])
            #expect(withSystemPath.status == 0, "with LD_LIBRARY_PATH=/lib64: \(withSystemPath.stderr)")
            let again = try? JSONSerialization.jsonObject(with: Data(withSystemPath.stdout.utf8)) as? [String: Any]
            #expect(again?["name"] as? String == "testapp", "\(withSystemPath.stdout)")
        }
    }

    @Test("the static release build, packaged, runs in an empty chroot; its sizes are reported")
    func staticReleaseApp() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.releaseTestApp),
            "\(Self.releaseTestApp) is missing: scripts/test builds it before `swift test`"
        )
        try await withScratch { scratch in
            let started = ContinuousClock.now
            let package = try await LambdaPackager.package(executable: Self.releaseTestApp, options: LambdaPackageOptions(outputDirectory: scratch))
            print("static release package: \(LambdaLimits.format(package.zippedSize)) zipped, \(LambdaLimits.format(package.unzippedSize)) unzipped, bootstrap \(LambdaLimits.format(package.manifest.binarySize ?? 0)), in \(ContinuousClock.now - started)")
            #expect(package.manifest.method == .bundledLoader)
            #expect(package.manifest.product == "hoist-test-app")
            #expect(package.manifest.runtime == "provided.al2023")
            // --static-swift-stdlib: only the C and C++ libraries remain to bundle.
            #expect(!package.manifest.libraries.contains { $0.contains("libswift") || $0.contains("Foundation") }, "\(package.manifest.libraries)")
            #expect(package.manifest.libraries.contains("lib/libc.so.6"))
            #expect(package.unzippedSize < LambdaLimits.unzippedBytes)
            #expect(package.zippedSize < package.unzippedSize)
            #expect(package.summary.contains("\(LambdaLimits.format(package.zippedSize)) zipped, \(LambdaLimits.format(package.unzippedSize)) unzipped"))
            #expect(package.summary.contains("method: bundled-loader"))
            // Warned about exactly when the zip is over the direct-upload limit.
            #expect(package.warnings.isEmpty == (package.zippedSize <= LambdaLimits.directUploadBytes))
            // Stripped: the release binary as built is larger than the bootstrap.
            let built = try FileManager.default.attributesOfItem(atPath: Self.releaseTestApp)[.size] as? Int ?? 0
            #expect(Int64(built) > package.manifest.binarySize ?? .max)
            let run = try await runsInEmptyRoot(package, scratch: scratch, environment: ["HOIST_ROLE": "describe"])
            let description = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            #expect(description?["name"] as? String == "testapp", "\(run.stdout)")
        }
    }

    @Test("a product is built in release with the static Swift stdlib in its own scratch path, stripped and packaged")
    func builtProduct() async throws {
        try await withScratch { scratch in
            // A package of its own, small enough to build in seconds: the test app's release build
            // is made once by scripts/test, and a build under `swift test` sees another environment
            // and would redo part of it.
            // At a fixed path: SwiftPM leaves lock files in /tmp named after the scratch path.
            let project = NSTemporaryDirectory() + "hoist-lambda-hello"
            try? FileManager.default.removeItem(atPath: project)
            defer { try? FileManager.default.removeItem(atPath: project) }
            try FileManager.default.createDirectory(atPath: project + "/Sources/hello", withIntermediateDirectories: true)
            try write(project + "/Package.swift", """
                // swift-tools-version:6.1
                import PackageDescription
                let package = Package(name: "hello", targets: [.executableTarget(name: "hello")])
                """)
            // Not CommandLine.arguments: a static-stdlib binary reads them from /proc, which Lambda
            // has and the empty root has not.
            try write(project + "/Sources/hello/main.swift", "print(\"hello from Lambda, \\(6 * 7)\")\n")
            let package = try await LambdaPackager.package(product: "hello", options: LambdaPackageOptions(directory: project, useStaticLinuxSDK: false))
            #expect(package.zipPath == project + "/.build-lambda/lambda/hello.zip")
            #expect(FileManager.default.isExecutableFile(atPath: project + "/.build-lambda/release/hello"))
            #expect(!FileManager.default.fileExists(atPath: project + "/.build"), "the package's own .build was used")
            #expect(package.manifest.product == "hello")
            #expect(!package.manifest.libraries.contains { $0.contains("libswift") }, "\(package.manifest.libraries)")
            let run = try await runsInEmptyRoot(package, scratch: scratch)
            #expect(run.stdout == "hello from Lambda, 42\n")

            let missing = await #expect(throws: HoistError.self) {
                _ = try await LambdaPackager.package(product: "nosuch", options: LambdaPackageOptions(directory: project, useStaticLinuxSDK: false))
            }
            #expect(missing?.message.contains("swift build of nosuch in \(project) failed") == true, "\(String(describing: missing))")
        }
    }

    @Test("sizes over Lambda's limits: above 250 MB unzipped is refused with the figures, above 50 MB zipped warned about")
    func limits() throws {
        try LambdaLimits.checkUnzipped(262_144_000)
        let error = #expect(throws: HoistError.self) {
            try LambdaLimits.checkUnzipped(300_000_000, largest: [("lib/lib_FoundationICU.so", 40_000_000), ("bootstrap", 250_000_000)])
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("286.1 MB (300,000,000 bytes) unzipped, over Lambda's limit of 250.0 MB (262,144,000 bytes)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("bootstrap 238.4 MB") == true)
        #expect(LambdaLimits.format(38_540) == "37.6 KB")
        #expect(LambdaLimits.warnings(zippedSize: 52_428_800).isEmpty)
        let warnings = LambdaLimits.warnings(zippedSize: 60_000_000)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("57.2 MB, over the 50.0 MB Lambda takes in a direct upload") == true, "\(warnings)")
    }

    @Test("a Python handler's requirements.txt is installed into the zip at package time and imports from it")
    func pythonRequirements() async throws {
        try await withScratch { scratch in
            let source = scratch + "/src"
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            try write(source + "/handler.py", """
                import six
                import util

                def my_calc(event, context):
                    return {"sum": util.add(event["a"], event["b"]), "six": six.__file__}
                """)
            try write(source + "/util.py", "def add(a, b):\n    return a + b\n")
            try write(source + "/requirements.txt", "six\n")
            let package = try await LambdaPackager.package(
                handler: "handler.my_calc", runtime: .python3_12, files: [source + "/handler.py", source + "/util.py"],
                options: LambdaPackageOptions(directory: source, outputDirectory: scratch)
            )
            #expect(package.zipPath == scratch + "/handler.zip")
            #expect(package.manifest.method == .handlerFiles)
            #expect(package.manifest.files == ["handler.py", "util.py"])
            #expect(package.manifest.requirements == "requirements.txt")
            let task = try unzip(package, into: scratch + "/task")
            let listing = try FileManager.default.contentsOfDirectory(atPath: task)
            #expect(listing.contains("six.py"), "\(listing)")
            #expect(listing.contains { $0.hasPrefix("six-") && $0.hasSuffix(".dist-info") }, "\(listing)")
            #expect(!listing.contains("__pycache__"), "byte code of this machine's Python in \(listing)")
            // -S: no site-packages, so `six` can only come from the unzipped folder, as on Lambda.
            let run = try Command.run("/usr/bin/env", ["python3", "-S", "-c", """
                import sys, json; sys.path.insert(0, \(pythonString(task)))
                import handler; print(json.dumps(handler.my_calc({"a": 2, "b": 3}, None)))
                """])
            #expect(run.status == 0, "\(run.stderr)")
            let result = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            #expect(result?["sum"] as? Int == 5, "\(run.stdout)")
            #expect((result?["six"] as? String)?.hasPrefix(task + "/") == true, "six imported from \(String(describing: result?["six"])), not from the package")
        }
    }

    @Test("handler files keep their relative paths; a handler whose file is not among them is refused")
    func handlerFiles() async throws {
        try await withScratch { scratch in
            let source = scratch + "/web"
            try FileManager.default.createDirectory(atPath: source + "/lib", withIntermediateDirectories: true)
            try write(source + "/index.mjs", "export const handler = async (event) => event;\n")
            try write(source + "/lib/util.js", "module.exports = {};\n")
            let package = try await LambdaPackager.package(
                handler: "index.handler", runtime: .nodejs20, files: [source + "/index.mjs", source + "/lib"],
                options: LambdaPackageOptions(directory: source, outputDirectory: scratch)
            )
            let task = try unzip(package, into: scratch + "/task")
            #expect(FileManager.default.fileExists(atPath: task + "/index.mjs"))
            #expect(FileManager.default.fileExists(atPath: task + "/lib/util.js"))
            #expect(package.manifest.runtime == "nodejs20.x")

            let missing = await #expect(throws: HoistError.self) {
                _ = try await LambdaPackager.package(
                    handler: "app.handler", runtime: .nodejs20, files: [source + "/index.mjs"],
                    options: LambdaPackageOptions(directory: source, outputDirectory: scratch)
                )
            }
            #expect(missing?.message.contains("the handler app.handler is in app.js, which is not among the files given (index.mjs)") == true, "\(String(describing: missing))")
            let runtime = #expect(throws: HoistError.self) { _ = try LambdaRuntime(named: "python2.7") }
            #expect(runtime?.message.contains("python3.13") == true)
        }
    }

    @Test("a package for the other architecture than this machine's is refused with what it needs")
    func otherArchitecture() async throws {
        let other: LambdaArchitecture = LambdaArchitecture.host == .x86_64 ? .arm64 : .x86_64
        let build = await #expect(throws: HoistError.self) {
            _ = try await LambdaPackager.package(
                product: "hoist-test-app",
                options: LambdaPackageOptions(directory: Binaries.packageRoot, architecture: other, useStaticLinuxSDK: false)
            )
        }
        #expect(build?.code == .invalidConfiguration)
        #expect(build?.message.contains("needs an \(other) build machine or the Static Linux SDK: this machine is \(LambdaArchitecture.host)") == true, "\(String(describing: build))")
        let prebuilt = await #expect(throws: HoistError.self) {
            _ = try await LambdaPackager.package(executable: Binaries.testApp, options: LambdaPackageOptions(architecture: other))
        }
        #expect(prebuilt?.message.contains("is an \(LambdaArchitecture.host) executable, but the package was asked for \(other)") == true, "\(String(describing: prebuilt))")
        #expect(try LambdaArchitecture(named: "aarch64") == .arm64)
    }

    // MARK: - Helpers

    /// Unzips the package as the only content of a fresh root (at /var/task), checks its
    /// manifest, bootstrap and sizes, and runs the bootstrap there (``runInRoot(_:environment:)``);
    /// returns what it printed.
    private func runsInEmptyRoot(_ package: LambdaPackage, scratch: String, environment: [String: String] = [:]) async throws -> Command.Output {
        let root = scratch + "/root"
        let task = try unzip(package, into: root + "/var/task")
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["proc", "var"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/var") == ["task"])

        let bootstrap = task + "/bootstrap"
        #expect(FileManager.default.isExecutableFile(atPath: bootstrap), "bootstrap lost its mode in the zip")
        let manifest = try JSONDecoder().decode(LambdaPackageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: task + "/" + LambdaPackageManifest.fileName)))
        #expect(manifest == package.manifest)
        #expect(manifest.method == .bundledLoader)
        let size = try FileManager.default.attributesOfItem(atPath: bootstrap)[.size] as? Int ?? 0
        #expect(Int64(size) == manifest.binarySize)
        let sha = try Command.run("/usr/bin/sha256sum", [bootstrap])
        #expect(sha.stdout.hasPrefix(manifest.binarySHA256 ?? "?"), "\(sha.stdout) vs \(String(describing: manifest.binarySHA256))")
        let interpreter = try Command.run("/usr/bin/patchelf", ["--print-interpreter", bootstrap])
        #expect(interpreter.stdout == "/var/task/lib/ld-linux-x86-64.so.2\n", "\(interpreter.stdout)\(interpreter.stderr)")
        let rpath = try Command.run("/usr/bin/patchelf", ["--print-rpath", bootstrap])
        #expect(rpath.stdout == "/var/task/lib\n")
        for library in manifest.libraries {
            #expect(FileManager.default.fileExists(atPath: task + "/" + library), "\(library) is not in the zip")
        }

        // The sizes reported are the zip's and its files'.
        let zipSize = try FileManager.default.attributesOfItem(atPath: package.zipPath)[.size] as? Int ?? 0
        #expect(Int64(zipSize) == package.zippedSize)
        #expect(try folderSize(task) == package.unzippedSize)

        let run = try runInRoot(root, environment: environment)
        #expect(run.status == 0, "bootstrap in the empty root exited \(run.status): \(run.stderr)")
        return run
    }

    /// Runs /var/task/bootstrap chrooted into `root`, with a /proc of its own as Lambda has one:
    /// libdispatch's thread-pool monitor reads /proc and crashes the process without it (in most
    /// runs of a debug binary, some of a release one). The proc mount lives in a private mount
    /// namespace, so nothing is left mounted under the test's folder.
    private func runInRoot(_ root: String, environment: [String: String]) throws -> Command.Output {
        try Command.run("/usr/bin/unshare", ["--fork", "--pid", "--mount", "--mount-proc", "--root=\(root)", "/var/task/bootstrap"], environment: environment)
    }

    private func unzip(_ package: LambdaPackage, into directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let unzip = try Command.run("/usr/bin/unzip", ["-q", package.zipPath, "-d", directory])
        try #require(unzip.status == 0, "unzip failed: \(unzip.stderr)")
        return directory
    }

    private func folderSize(_ directory: String) throws -> Int64 {
        var total: Int64 = 0
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + path)
            if attributes[.type] as? FileAttributeType == .typeRegular { total += (attributes[.size] as? NSNumber)?.int64Value ?? 0 }
        }
        return total
    }

    private func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func pythonString(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// Runs `body` with a fresh folder that is removed afterwards.
    private func withScratch(_ body: (String) async throws -> Void) async throws {
        let scratch = NSTemporaryDirectory() + "hoist-lambda-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await body(scratch)
    }
}
