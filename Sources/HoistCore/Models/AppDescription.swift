/// What an app binary says about itself when started with `HOIST_ROLE=describe`.
public struct AppDescription: Codable, Sendable {
    public var name: String
    public var functions: [FunctionDescriptor]

    public init(name: String, functions: [FunctionDescriptor]) {
        self.name = name
        self.functions = functions
    }
}
