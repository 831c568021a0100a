/// An error thrown by the function itself, on the system where it ran.
///
/// ```swift
/// do { try await remoteDivide(1, 0) }
/// catch let error as RemoteError { print(error.type, error.message) }   // "Demo.MathError", "division by zero"
/// ```
public struct RemoteError: Error, CustomStringConvertible, Sendable, Codable, Equatable {
    /// The function that threw.
    public var function: String
    /// The thrown error's type, fully qualified (`Demo.MathError`).
    public var type: String
    /// The error's description (`String(describing:)`, or `errorDescription` for a `LocalizedError`).
    public var message: String
    /// Frames of the remote stack, where the platform can provide them; often empty for Swift errors.
    public var backtrace: [String]

    public init(function: String, type: String, message: String, backtrace: [String] = []) {
        self.function = function
        self.type = type
        self.message = message
        self.backtrace = backtrace
    }

    public var description: String {
        "\(function) threw \(type): \(message)"
    }
}
