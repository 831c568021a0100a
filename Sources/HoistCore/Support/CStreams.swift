import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The C library's `stdout` and `stderr` streams. Swift 6 refuses to read those globals
/// directly (shared mutable state); looking up the symbols gives the same pointers.
public enum CStreams {
    public static var stdout: UnsafeMutablePointer<FILE>? { stream("stdout") }
    public static var stderr: UnsafeMutablePointer<FILE>? { stream("stderr") }

    private static func stream(_ name: String) -> UnsafeMutablePointer<FILE>? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee
    }
}
