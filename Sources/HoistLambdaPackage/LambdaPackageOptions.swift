import Foundation

/// Where and how ``LambdaPackager`` builds and writes a package.
public struct LambdaPackageOptions: Sendable {
    /// The folder relative paths start from: the Swift package for a product, the folder of the
    /// handler files for a handler package (their paths in the zip are relative to it).
    public var directory: String
    /// Where the zip is written, as `<name>.zip` (default: `.build-lambda/lambda` in ``directory``).
    public var outputDirectory: String?
    /// The zip's name without `.zip` (default: the product, or the handler's module).
    public var name: String?
    /// The architecture the function runs on.
    public var architecture: LambdaArchitecture
    /// SwiftPM's scratch path for the release build, relative to ``directory``. A build of its own:
    /// `--static-swift-stdlib` and `-c release` would otherwise rebuild `.build` from scratch, and
    /// `swift test` holds the lock on `.build` while it runs.
    public var scratchPath: String
    /// Build with the Static Linux SDK (musl): `nil` uses it when `swift sdk list` shows one.
    public var useStaticLinuxSDK: Bool?
    /// The Python whose pip installs a handler's `requirements.txt` (default: `python3` on `PATH`,
    /// a virtualenv's when one is active).
    public var python: String
    /// Progress lines (the build's output, each step); the CLI prints them to standard error.
    public var log: @Sendable (String) -> Void

    public init(
        directory: String = FileManager.default.currentDirectoryPath,
        outputDirectory: String? = nil,
        name: String? = nil,
        architecture: LambdaArchitecture = .host,
        scratchPath: String = ".build-lambda",
        useStaticLinuxSDK: Bool? = nil,
        python: String = "python3",
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.directory = directory
        self.outputDirectory = outputDirectory
        self.name = name
        self.architecture = architecture
        self.scratchPath = scratchPath
        self.useStaticLinuxSDK = useStaticLinuxSDK
        self.python = python
        self.log = log
    }

    /// ``directory`` as an absolute path.
    var resolvedDirectory: String { Self.absolute(directory, base: FileManager.default.currentDirectoryPath) }

    /// The folder the zip goes to, absolute.
    var resolvedOutputDirectory: String {
        if let outputDirectory { return Self.absolute(outputDirectory, base: FileManager.default.currentDirectoryPath) }
        return resolvedScratchPath + "/lambda"
    }

    /// ``scratchPath`` as an absolute path.
    var resolvedScratchPath: String { Self.absolute(scratchPath, base: resolvedDirectory) }

    static func absolute(_ path: String, base: String) -> String {
        let expanded = NSString(string: path).expandingTildeInPath
        let url = expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded) : URL(fileURLWithPath: base).appendingPathComponent(expanded)
        return url.standardizedFileURL.path
    }
}
