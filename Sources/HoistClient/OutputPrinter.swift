import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Prints a remote function's output locally, a line at a time, with the function's name as prefix:
/// `[shout] shouting hi`. Partial lines wait for their end (or for ``flush()``).
public final class OutputPrinter: Sendable {
    private let prefix: String
    private let pending = NIOLockedValueBox<(stdout: [UInt8], stderr: [UInt8])>(([], []))

    public init(function: String) {
        self.prefix = "[\(function)] "
    }

    public func write(_ kind: CallStream.Kind, _ bytes: ByteBuffer) {
        guard kind == .stdout || kind == .stderr else { return }
        let lines: [String] = pending.withLockedValue { state in
            var buffer = kind == .stderr ? state.stderr : state.stdout
            buffer.append(contentsOf: bytes.readableBytesView)
            var lines: [String] = []
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                buffer.removeSubrange(...newline)
            }
            if kind == .stderr { state.stderr = buffer } else { state.stdout = buffer }
            return lines
        }
        emit(lines, stderr: kind == .stderr)
    }

    /// Prints what is left of unfinished lines.
    public func flush() {
        let rest = pending.withLockedValue { state in
            defer { state = ([], []) }
            return state
        }
        if !rest.stdout.isEmpty { emit([String(decoding: rest.stdout, as: UTF8.self)], stderr: false) }
        if !rest.stderr.isEmpty { emit([String(decoding: rest.stderr, as: UTF8.self)], stderr: true) }
    }

    /// Writes through C stdio, as `print` does, so that remote lines and the program's own
    /// prints keep their order.
    private func emit(_ lines: [String], stderr: Bool) {
        guard !lines.isEmpty, let stream = stderr ? CStreams.stderr : CStreams.stdout else { return }
        let text = lines.map { prefix + $0 + "\n" }.joined()
        fputs(text, stream)
        fflush(stream)
    }
}
