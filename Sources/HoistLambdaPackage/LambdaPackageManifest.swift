import Foundation

/// What a package holds and how it was made; written into the zip as ``fileName``.
public struct LambdaPackageManifest: Codable, Sendable, Equatable {
    /// The manifest's name at the zip's root.
    public static let fileName = "hoist-lambda.json"

    /// How the package makes its code run on Lambda whatever Linux built it.
    public enum Method: String, Codable, Sendable {
        /// Built with the Static Linux SDK: a fully static `bootstrap`, no libraries needed.
        case musl
        /// A glibc `bootstrap` with the dynamic loader and every library it loads in `lib/`,
        /// pointed at them (interpreter and rpath under `/var/task/lib`).
        case bundledLoader = "bundled-loader"
        /// A statically linked executable given as it was.
        case staticExecutable = "static"
        /// Python or Node handler files (and their installed requirements).
        case handlerFiles = "handler-files"
    }

    public var method: Method
    /// The Swift product a `bootstrap` was built from.
    public var product: String?
    /// The handler (`module.function`) of a handler package.
    public var handler: String?
    /// The Lambda runtime to create the function with.
    public var runtime: String
    public var architecture: LambdaArchitecture
    /// The size of `bootstrap` as zipped (stripped and patched).
    public var binarySize: Int64?
    /// The hex SHA-256 of `bootstrap` as zipped.
    public var binarySHA256: String?
    /// The interpreter `bootstrap` was pointed at (bundled-loader).
    public var interpreter: String?
    /// The bundled loader and libraries, as paths in the zip (bundled-loader).
    public var libraries: [String]
    /// The handler files, as paths in the zip (handler packages).
    public var files: [String]
    /// The requirements file installed into the zip at package time, if any.
    public var requirements: String?
    /// The bytes of every file in the zip but this manifest, unzipped.
    public var contentSize: Int64
    /// The Hoist version that made the package.
    public var hoistVersion: String
}
