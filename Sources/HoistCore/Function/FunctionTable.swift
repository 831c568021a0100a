/// An app's functions by name: what a worker (and later the Lambda bootstrap) serves.
public struct FunctionTable: Sendable {
    public let functions: [any HoistFunction]
    private let byName: [String: any HoistFunction]

    /// Builds the table, refusing invalid and duplicate names.
    public init(_ functions: [any HoistFunction]) throws {
        var byName: [String: any HoistFunction] = [:]
        for function in functions {
            if let problem = Self.problem(withName: function.name) {
                throw HoistError(.invalidName, "function name '\(function.name)': \(problem)")
            }
            if byName[function.name] != nil {
                throw HoistError(
                    .duplicateFunction,
                    "two functions are named '\(function.name)'; give each function in the app's `functions` list its own name"
                )
            }
            byName[function.name] = function
        }
        self.functions = functions
        self.byName = byName
    }

    public subscript(name: String) -> (any HoistFunction)? { byName[name] }

    public var names: [String] { functions.map(\.name) }
    public var descriptors: [FunctionDescriptor] { functions.map(\.descriptor) }

    /// What is wrong with a function or app name, or `nil` when it is fine. Names become URL
    /// path segments and file names, so they are kept to a portable set.
    public static func problem(withName name: String) -> String? {
        if name.isEmpty { return "a name must not be empty" }
        if name.utf8.count > 64 { return "a name must be at most 64 characters" }
        if name.hasPrefix("_") || name.hasPrefix(".") || name.hasPrefix("-") {
            return "a name must start with a letter or digit (names starting with '_' are Hoist's own routes)"
        }
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
        if !allowed { return "use only letters, digits, '-', '_' and '.'" }
        return nil
    }
}
