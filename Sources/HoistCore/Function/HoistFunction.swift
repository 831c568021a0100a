import Foundation

/// A function that Hoist can run somewhere else: it has a name, describes its parameters,
/// and can be invoked from JSON on the far side.
///
/// ``Function`` is the one conforming type users write; the protocol exists so that an app
/// can list functions of different signatures in one array:
///
/// ```swift
/// static let functions: [any HoistFunction] = [summer, shout]
/// ```
public protocol HoistFunction: Sendable {
    /// The name the function is found by on the far side, and its HTTP route.
    var name: String { get }
    /// What callers over HTTP and tools need to know about the signature.
    var descriptor: FunctionDescriptor { get }
    /// Decodes the arguments from a JSON request body, runs the body, and encodes the result.
    ///
    /// Throws ``ArgumentDecodingError`` when the body does not fit the signature; any other
    /// error is one the function itself threw.
    func invoke(json body: Data) async throws -> Data
    /// For streaming functions: decodes the arguments and hands each element's JSON to `emit`
    /// as it is produced. Others emit their one result.
    func stream(json body: Data, emit: (Data) async throws -> Void) async throws
}

extension HoistFunction {
    public func stream(json body: Data, emit: (Data) async throws -> Void) async throws {
        try await emit(try await invoke(json: body))
    }
}

/// The signature of a function as the daemon, HTTP callers and the OpenAPI document see it.
public struct FunctionDescriptor: Codable, Sendable, Hashable {
    /// One declared parameter.
    public struct Parameter: Codable, Sendable, Hashable {
        /// The declared name, or `nil` when the function was declared without names.
        public var name: String?
        /// The Swift type, as the compiler spells it (`Int`, `[String]`, `Point`).
        public var type: String

        public init(name: String?, type: String) {
            self.name = name
            self.type = type
        }
    }

    public var name: String
    public var parameters: [Parameter]
    /// The Swift type of the result; `Void` for functions that return nothing.
    public var result: String
    /// The default deadline of a call, in seconds; `nil` for none.
    public var timeoutSeconds: Double?
    /// Whether the function streams its elements (a ``StreamingFunction``).
    public var streams: Bool?

    public init(name: String, parameters: [Parameter], result: String, timeoutSeconds: Double? = nil) {
        self.name = name
        self.parameters = parameters
        self.result = result
        self.timeoutSeconds = timeoutSeconds
    }

    /// Pairs declared names (possibly fewer, or none) with the argument types.
    init(name: String, parameterNames: [String], types: [String], result: String, timeout: Duration?) {
        let parameters = types.enumerated().map { index, type in
            Parameter(name: index < parameterNames.count ? parameterNames[index] : nil, type: type)
        }
        self.init(name: name, parameters: parameters, result: result, timeoutSeconds: timeout.map(CallTimeout.seconds))
    }

    /// `summer(a: Int, b: Int) -> Int`, for error messages.
    public var signature: String {
        let params = parameters.map { p in p.name.map { "\($0): \(p.type)" } ?? p.type }
        return "\(name)(\(params.joined(separator: ", "))) -> \(result)"
    }
}
