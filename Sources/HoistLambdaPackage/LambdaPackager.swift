import Crypto
import Foundation
import HoistCore

/// Builds Lambda zips: a Hoist app as a self-contained `bootstrap`, and handler files with their
/// requirements.
///
/// A Swift executable linked on a newer Linux than Lambda's (glibc 2.35+ here, 2.34 on
/// `provided.al2023`) would not start there, and no container is needed to fix that: with a
/// Static Linux SDK installed the app is built fully static (method `musl`); without one, the zip
/// carries the dynamic loader and every library the binary loads in `lib/`, and the binary is
/// pointed at them (method `bundled-loader`). The manifest `hoist-lambda.json` in the zip says which.
///
/// ```swift
/// let package = try await LambdaPackager.package(product: "my-app")
/// print(package.summary)   // wrote …/.build-lambda/lambda/my-app.zip, its sizes, how to create it
///
/// let python = try await LambdaPackager.package(
///     handler: "handler.my_calc", runtime: .python3_12, files: ["handler.py", "util.py"])
/// ```
public enum LambdaPackager {
    /// Where Lambda unzips a package; the bundled loader and libraries are found under it.
    public static let taskRoot = "/var/task"

    /// Builds `product` (an executable linking Hoist) in release with `--static-swift-stdlib`,
    /// strips it and writes `<product>.zip` with it as `bootstrap`, for `provided.al2023`.
    ///
    /// The build has its own scratch path (``LambdaPackageOptions/scratchPath``, `.build-lambda`);
    /// a first build takes minutes, later ones seconds.
    public static func package(product: String, options: LambdaPackageOptions = LambdaPackageOptions()) async throws -> LambdaPackage {
        guard !product.isEmpty, !product.contains("/") else {
            throw HoistError(.invalidConfiguration, "'\(product)' is not a product name; give the name of an executable product of the package (hoist lambda package my-app)")
        }
        let musl = try await useStaticLinuxSDK(options)
        if !musl { try checkCanBundle(options.architecture, what: "an \(options.architecture) package of \(product)") }
        try checkTools(bundling: !musl)
        let executable = try await SwiftBuild.build(
            product: product,
            sdk: musl ? options.architecture.muslSDK : nil,
            crossCompiling: options.architecture != .host,
            options: options
        )
        return try await packageBinary(executable, product: product, method: musl ? .musl : .bundledLoader, options: options)
    }

    /// Packages an executable that is already built (by CI, or by a test that reuses one build)
    /// as `bootstrap`: a static one as it is, a dynamic one with its loader and libraries.
    ///
    /// ```swift
    /// let package = try await LambdaPackager.package(executable: ".build-lambda/release/my-app")
    /// ```
    public static func package(executable: String, options: LambdaPackageOptions = LambdaPackageOptions()) async throws -> LambdaPackage {
        let path = LambdaPackageOptions.absolute(executable, base: FileManager.default.currentDirectoryPath)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HoistError(.invalidConfiguration, "\(executable) is not an executable file")
        }
        let elf = try ELFFile(path: path)
        guard let architecture = elf.architecture else {
            throw HoistError(.invalidConfiguration, "\(executable) is built for ELF machine \(elf.machine), which Lambda does not run; Lambda runs x86_64 and arm64")
        }
        guard architecture == options.architecture else {
            throw HoistError(.invalidConfiguration, "\(executable) is an \(architecture) executable, but the package was asked for \(options.architecture); pass --architecture \(architecture), or build it for \(options.architecture)")
        }
        let dynamic = elf.interpreter != nil
        if dynamic { try checkCanBundle(architecture, what: "an \(architecture) package of the dynamically linked \(executable)") }
        try checkTools(bundling: dynamic)
        let product = URL(fileURLWithPath: path).lastPathComponent
        return try await packageBinary(path, product: product, method: dynamic ? .bundledLoader : .staticExecutable, options: options)
    }

    /// Zips Python or Node handler files (and a Python handler's requirements, installed now) for
    /// `runtime`. Paths in the zip are relative to ``LambdaPackageOptions/directory``; a
    /// `requirements.txt` beside the handler's file is installed into the zip with pip, as wheels
    /// for Lambda's platform and the runtime's Python, never at cold start.
    ///
    /// ```swift
    /// let package = try await LambdaPackager.package(
    ///     handler: "handler.my_calc", runtime: .python3_12, files: ["handler.py", "util.py"])
    /// ```
    public static func package(
        handler: String, runtime: LambdaRuntime, files: [String], options: LambdaPackageOptions = LambdaPackageOptions()
    ) async throws -> LambdaPackage {
        let directory = options.resolvedDirectory
        let handlerFiles = try HandlerFiles.collect(files, directory: directory)
        let entry = try handlerFiles.entryFile(handler: handler, runtime: runtime)
        let name = options.name ?? URL(fileURLWithPath: entry).deletingPathExtension().lastPathComponent
        let staging = try stagingDirectory(name: name, options: options)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try handlerFiles.copy(to: staging)

        var installed: String?
        let requirements = URL(fileURLWithPath: directory + "/" + entry).deletingLastPathComponent().appendingPathComponent("requirements.txt").path
        if runtime.pythonVersion != nil, FileManager.default.fileExists(atPath: requirements) {
            try await PythonRequirements.install(requirements, into: staging, runtime: runtime, options: options)
            installed = requirements.hasPrefix(directory + "/") ? String(requirements.dropFirst(directory.count + 1)) : requirements
        }
        let manifest = LambdaPackageManifest(
            method: .handlerFiles, product: nil, handler: handler, runtime: runtime.rawValue, architecture: options.architecture,
            binarySize: nil, binarySHA256: nil, interpreter: nil, libraries: [],
            files: handlerFiles.files.map(\.path), requirements: installed, contentSize: 0, hoistVersion: HoistVersion.current
        )
        return try finish(staging, name: name, manifest: manifest, options: options)
    }

    // MARK: - Steps

    /// Copies the executable in as `bootstrap`, strips it, bundles what it loads when it is
    /// dynamic, and zips it with its manifest.
    private static func packageBinary(
        _ executable: String, product: String, method: LambdaPackageManifest.Method, options: LambdaPackageOptions
    ) async throws -> LambdaPackage {
        let name = options.name ?? product
        let staging = try stagingDirectory(name: name, options: options)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let bootstrap = staging + "/bootstrap"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: executable).resolvingSymlinksInPath().path, toPath: bootstrap)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bootstrap)
        options.log("stripping bootstrap (\(LambdaLimits.format(try fileSize(bootstrap))))")
        if options.architecture == .host || method == .bundledLoader {
            try await PackagingTool.strip.run([bootstrap])
        }  // else the cross build stripped it at link time (the host's strip cannot read it)

        var libraries: [String] = []
        var interpreter: String?
        if method == .bundledLoader {
            // Ask ldd before patching: afterwards the binary looks for its libraries under /var/task.
            let shared = try await SharedLibraries.of(bootstrap)
            let copied = try shared.copy(to: staging + "/lib")
            libraries = copied.names.map { "lib/" + $0 }
            interpreter = "\(taskRoot)/lib/\(copied.loader)"
            // --force-rpath writes DT_RPATH, not DT_RUNPATH: DT_RPATH is searched before
            // LD_LIBRARY_PATH (which Lambda sets to its own /lib64 first) and also for the
            // libraries' own dependencies, so no system glibc can be mixed with the bundled loader.
            try await PackagingTool.patchelf.run(["--set-interpreter", interpreter!, "--force-rpath", "--set-rpath", "\(taskRoot)/lib", bootstrap])
            options.log("bundled the loader and \(shared.libraries.count) libraries in lib/: \(copied.names.joined(separator: " "))")
        }
        let manifest = LambdaPackageManifest(
            method: method, product: product, handler: nil, runtime: LambdaRuntime.providedAL2023.rawValue, architecture: options.architecture,
            binarySize: try fileSize(bootstrap), binarySHA256: try sha256(of: bootstrap), interpreter: interpreter, libraries: libraries,
            files: ["bootstrap"], requirements: nil, contentSize: 0, hoistVersion: HoistVersion.current
        )
        return try finish(staging, name: name, manifest: manifest, options: options)
    }

    /// Checks the unzipped size against Lambda's limit, writes the manifest and the zip.
    private static func finish(_ staging: String, name: String, manifest: LambdaPackageManifest, options: LambdaPackageOptions) throws -> LambdaPackage {
        let sizes = try ZipWriter.sizes(in: staging)
        var manifest = manifest
        manifest.contentSize = sizes.reduce(0) { $0 + $1.size }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let manifestData = try encoder.encode(manifest)
        let unzippedSize = manifest.contentSize + Int64(manifestData.count)
        // Refused before zipping: Lambda would refuse it at create, after the upload.
        try LambdaLimits.checkUnzipped(unzippedSize, largest: sizes.sorted { $0.size > $1.size })
        try manifestData.write(to: URL(fileURLWithPath: staging + "/" + LambdaPackageManifest.fileName))

        let zipPath = options.resolvedOutputDirectory + "/" + name + ".zip"
        options.log("writing \(zipPath)")
        try ZipWriter.write(staging, to: zipPath)
        let zippedSize = try fileSize(zipPath)
        return LambdaPackage(
            zipPath: zipPath, manifest: manifest, zippedSize: zippedSize, unzippedSize: unzippedSize,
            warnings: LambdaLimits.warnings(zippedSize: zippedSize)
        )
    }

    /// A fresh folder beside the zip where its content is put together.
    private static func stagingDirectory(name: String, options: LambdaPackageOptions) throws -> String {
        guard !name.isEmpty, !name.contains("/") else {
            throw HoistError(.invalidConfiguration, "'\(name)' cannot name a zip; pass a name without '/'")
        }
        let output = options.resolvedOutputDirectory
        let staging = output + "/." + name + ".staging"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw HoistError(.invalidConfiguration, "cannot create \(staging) for the package: \(error.localizedDescription); pass another --output")
        }
        return staging
    }

    /// Whether to build with the Static Linux SDK: as asked, or when `swift sdk list` shows one.
    private static func useStaticLinuxSDK(_ options: LambdaPackageOptions) async throws -> Bool {
        if let asked = options.useStaticLinuxSDK { return asked }
        let installed = try await SwiftBuild.hasStaticLinuxSDK()
        options.log(installed ? "a Static Linux SDK is installed: building a fully static bootstrap (musl)" : "no Static Linux SDK installed (`swift sdk list`): bundling the loader and libraries (bundled-loader)")
        return installed
    }

    /// A bundled-loader package carries this machine's loader and libraries, so it can only be
    /// made for this machine's architecture.
    private static func checkCanBundle(_ architecture: LambdaArchitecture, what: String) throws {
        guard architecture != .host else { return }
        throw HoistError(
            .invalidConfiguration,
            "\(what) needs an \(architecture) build machine or the Static Linux SDK: this machine is \(LambdaArchitecture.host), and a package without the SDK carries this machine's own loader and libraries. Package it on an \(architecture) Linux machine, or install the Static Linux SDK (https://www.swift.org/documentation/articles/static-linux-getting-started.html), which builds a static \(architecture) bootstrap here"
        )
    }

    /// Fails fast, before a build of minutes, when a tool packaging needs is missing.
    private static func checkTools(bundling: Bool) throws {
        _ = try PackagingTool.strip.resolve()
        if bundling {
            _ = try PackagingTool.ldd.resolve()
            _ = try PackagingTool.patchelf.resolve()
        }
    }

    private static func fileSize(_ path: String) throws -> Int64 {
        ((try FileManager.default.attributesOfItem(atPath: path))[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// The hex SHA-256 of a file, read in chunks (a bootstrap is tens of megabytes).
    private static func sha256(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HoistError(.internalError, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
