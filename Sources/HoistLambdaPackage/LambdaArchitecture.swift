import HoistCore

/// The instruction set a Lambda function runs on (its `Architectures` setting).
public enum LambdaArchitecture: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case x86_64
    case arm64

    /// The architecture of the machine this code runs on.
    public static var host: LambdaArchitecture {
        #if arch(arm64)
        .arm64
        #else
        .x86_64
        #endif
    }

    /// The architecture named as Lambda (`x86_64`, `arm64`) or as Linux (`amd64`, `aarch64`) names it.
    public init(named name: String) throws {
        switch name.lowercased() {
        case "x86_64", "x86-64", "amd64": self = .x86_64
        case "arm64", "aarch64": self = .arm64
        default: throw HoistError(.invalidConfiguration, "'\(name)' is not a Lambda architecture; use x86_64 or arm64")
        }
    }

    public var description: String { rawValue }

    /// `e_machine` in an ELF header of this architecture.
    var elfMachine: UInt16 {
        switch self {
        case .x86_64: 62
        case .arm64: 183
        }
    }

    /// The Static Linux SDK's target for this architecture (`swift build --swift-sdk`).
    var muslSDK: String {
        switch self {
        case .x86_64: "x86_64-swift-linux-musl"
        case .arm64: "aarch64-swift-linux-musl"
        }
    }

    /// The wheel platform Lambda's Python runtimes accept (`pip install --platform`).
    var pipPlatform: String {
        switch self {
        case .x86_64: "manylinux2014_x86_64"
        case .arm64: "manylinux2014_aarch64"
        }
    }
}
