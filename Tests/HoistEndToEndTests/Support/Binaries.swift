import Foundation

/// The executables the end-to-end tests run: built by `scripts/test` before `swift test`.
enum Binaries {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["HOIST_TEST_BIN_DIR"], !dir.isEmpty { return dir }
        return packageRoot + "/.build/debug"
    }

    static var hoist: String { path("hoist") }
    static var testApp: String { path("hoist-test-app") }
    static var demo: String { path("hoist-demo") }

    private static func path(_ name: String) -> String {
        let path = directory + "/" + name
        precondition(
            FileManager.default.isExecutableFile(atPath: path),
            "\(path) is missing: build the executables first (`swift build`), or run the tests with scripts/test"
        )
        return path
    }
}
