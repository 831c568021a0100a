import Foundation

/// A written Lambda zip and what it holds.
public struct LambdaPackage: Sendable, Codable {
    /// The zip's path.
    public let zipPath: String
    /// The manifest written into the zip.
    public let manifest: LambdaPackageManifest
    /// The zip's size on disk.
    public let zippedSize: Int64
    /// The size of its files unzipped, the figure Lambda's 250 MB limit applies to.
    public let unzippedSize: Int64
    /// What the user should know (a zip over the direct-upload limit).
    public let warnings: [String]

    /// A few lines for the user: where the zip is, how it was made, its sizes, how to create it
    /// (``warnings`` are not part of it).
    public var summary: String {
        var lines = ["wrote \(zipPath)"]
        switch manifest.method {
        case .musl: lines.append("  method: musl (built with the Static Linux SDK; a fully static bootstrap)")
        case .bundledLoader: lines.append("  method: bundled-loader (bootstrap runs on its own loader and \(manifest.libraries.count - 1) libraries in lib/)")
        case .staticExecutable: lines.append("  method: static (a statically linked bootstrap)")
        case .handlerFiles: lines.append("  files: \(manifest.files.joined(separator: ", "))\(manifest.requirements.map { " + \($0) installed" } ?? "")")
        }
        lines.append("  size: \(LambdaLimits.format(zippedSize)) zipped, \(LambdaLimits.format(unzippedSize)) unzipped (Lambda allows \(LambdaLimits.format(LambdaLimits.unzippedBytes)) unzipped, \(LambdaLimits.format(LambdaLimits.directUploadBytes)) zipped for a direct upload)")
        let handler = manifest.handler ?? "<function>"
        lines.append("  create with: --runtime \(manifest.runtime) --handler \(handler) --architectures \(manifest.architecture) --zip-file fileb://\(zipPath)")
        return lines.joined(separator: "\n")
    }
}
