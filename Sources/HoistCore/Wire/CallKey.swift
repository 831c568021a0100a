import Foundation
import Synchronization

/// A caller-chosen id for a call in flight (`Hoist-Call-Id`), by which it can be cancelled.
public enum CallKey {
    public static let header = "Hoist-Call-Id"

    /// Why a key is unusable, or `nil`: keys appear in URLs, so they are kept short and plain.
    public static func problem(with key: String) -> String? {
        guard !key.isEmpty, key.utf8.count <= 128 else { return "a call id must be 1 to 128 characters" }
        let plain = key.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
        return plain ? nil : "a call id may hold only letters, digits, '-', '_' and '.'"
    }
}

extension CallKey {
    /// This process's part of the keys it makes: random, so that no two processes' keys meet.
    private static let processPart = UUID().uuidString.lowercased()
    private static let counter = Atomic<UInt64>(0)

    /// A key no other call of any process uses: this process's random part and a count. Cheaper
    /// than a UUID a call (which reads the kernel's random source each time).
    package static func unique() -> String {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return processPart + "-" + String(count, radix: 36)
    }
}
