import ArgumentParser
import Foundation
import HoistCore
import HoistLambdaPackage

/// `hoist lambda package`: a Lambda zip of a Hoist app (`bootstrap`), or of handler files.
struct LambdaPackageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Write a Lambda zip: a Hoist app as `bootstrap`, or Python/Node handler files.",
        discussion: """
            A Hoist app is built in release with --static-swift-stdlib (in .build-lambda), stripped and \
            zipped as `bootstrap` for provided.al2023. With a Static Linux SDK installed it is built fully \
            static (musl); otherwise the zip carries the dynamic loader and the libraries the app loads in \
            lib/, so it runs on Lambda whatever Linux built it (needs patchelf). hoist-lambda.json in the \
            zip says which. Handler files keep their paths relative to --directory; a requirements.txt \
            beside a Python handler is installed into the zip now, for Lambda's platform.

              hoist lambda package my-app
              hoist lambda package my-app --executable .build-lambda/release/my-app
              hoist lambda package --handler handler.my_calc --runtime python3.12 handler.py util.py
            """
    )

    @Argument(help: "The app's executable product; with --handler, the handler's files and folders.")
    var arguments: [String] = []
    @Option(help: "The folder the zip is written to (default: .build-lambda/lambda).") var output: String?
    @Option(help: "Package this built executable instead of building the product.") var executable: String?
    @Option(help: "x86_64 or arm64 (default: this machine's).") var architecture: String?
    @Option(help: "The handler of handler files, MODULE.FUNCTION (handler.main).") var handler: String?
    @Option(help: "The runtime of handler files: python3.9–python3.13, nodejs18.x–nodejs22.x, provided.al2, provided.al2023.") var runtime: String?
    @Option(help: "The zip's name without .zip (default: the product, or the handler's module).") var name: String?
    @Option(help: "The Swift package, or the folder the handler files' paths start from (default: the current folder).") var directory: String?
    @Option(name: .customLong("scratch-path"), help: "SwiftPM's scratch path for the release build.") var scratchPath = ".build-lambda"
    @Option(help: "The Python whose pip installs requirements.txt (default: python3 on PATH).") var python = "python3"
    @Flag(inversion: .prefixedNo, help: "Build with the Static Linux SDK (musl) or not (default: when `swift sdk list` shows one).")
    var staticLinuxSDK: Bool?
    @Flag(help: "Print the package's sizes and manifest as JSON.") var json = false
    @Flag(help: "Do not print the build's progress.") var quiet = false

    func run() async throws {
        try await withExitCodes {
            let quiet = self.quiet
            var options = LambdaPackageOptions(
                outputDirectory: output, name: name, scratchPath: scratchPath, python: python,
                log: { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
            )
            options.useStaticLinuxSDK = staticLinuxSDK
            if let directory { options.directory = directory }
            if let architecture { options.architecture = try LambdaArchitecture(named: architecture) }

            let package: LambdaPackage
            if let handler {
                guard let runtime else {
                    throw HoistError(.invalidConfiguration, "--handler needs --runtime (python3.12, nodejs20.x, …)")
                }
                guard executable == nil else {
                    throw HoistError(.invalidConfiguration, "--executable packages a Hoist app; leave out --handler, or package handler files without --executable")
                }
                package = try await LambdaPackager.package(handler: handler, runtime: try LambdaRuntime(named: runtime), files: arguments, options: options)
            } else {
                if let runtime {
                    throw HoistError(.invalidConfiguration, "--runtime \(runtime) is for handler files (with --handler); a Hoist app's bootstrap runs on provided.al2023")
                }
                if let executable {
                    guard arguments.count <= 1 else {
                        throw HoistError(.invalidConfiguration, "with --executable, give at most the product's name (for the zip's name), got \(arguments.joined(separator: " "))")
                    }
                    if options.name == nil { options.name = arguments.first }
                    package = try await LambdaPackager.package(executable: executable, options: options)
                } else {
                    guard arguments.count == 1, let product = arguments.first else {
                        throw HoistError(.invalidConfiguration, "give one executable product to package (hoist lambda package my-app), or --handler and its files")
                    }
                    package = try await LambdaPackager.package(product: product, options: options)
                }
            }
            if json {
                print(try prettyJSON(package))
            } else {
                print(package.summary)
            }
            for warning in package.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
        }
    }
}
