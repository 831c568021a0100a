import CHoistCrash
import Foundation
import HoistCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Captures the worker's standard output and error so that what a function prints reaches its
/// caller. Both descriptors are pipes read by a thread; bytes read while a call runs belong to
/// that call. A worker runs one call at a time, which is what makes that attribution exact.
final class OutputCapture: @unchecked Sendable {
    enum Stream { case stdout, stderr }
    typealias Sink = @Sendable (Stream, UnsafeRawBufferPointer) -> Void

    private let lock = NIOLock()
    private var sink: Sink?
    private let readOut: Int32
    private let readErr: Int32
    /// Where output goes besides the caller: the descriptors the worker was started with (the app log).
    private let logOut: Int32
    private let logErr: Int32
    private var thread: Thread?
    /// One read buffer, used only under `lock`.
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init() throws {
        func makePipe() throws -> (Int32, Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw HoistError(.internalError, "worker: pipe() failed: \(String(cString: strerror(errno)))") }
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            return (fds[0], fds[1])
        }
        fflush(nil)
        logOut = dup(1)
        logErr = dup(2)
        let (outR, outW) = try makePipe()
        let (errR, errW) = try makePipe()
        dup2(outW, 1)
        dup2(errW, 2)
        close(outW)
        close(errW)
        readOut = outR
        readErr = errR
        // Line-buffer stdout so that output streams while the call runs, not at exit.
        setvbuf(CStreams.stdout, nil, _IOLBF, 0)
        setvbuf(CStreams.stderr, nil, _IONBF, 0)
    }

    /// Hands a crash's last words to the crash report at `path` (see ``CrashReport``).
    func installCrashHandler(reportPath: String) {
        hoist_crash_install(readOut, readErr, logErr, reportPath)
    }

    func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "hoist-output"
        thread.start()
        self.thread = thread
    }

    /// Routes output to `sink` until ``end()``. What earlier calls wrote and the reader thread
    /// has not taken yet is theirs: it goes to the app log first, not to this call's caller.
    func begin(_ sink: Sink?) {
        fflush(nil)
        lock.withLock {
            drainLocked(readOut, .stdout)
            drainLocked(readErr, .stderr)
            self.sink = sink
        }
    }

    /// Flushes what the call wrote, hands it to the call's sink, and stops routing to it.
    /// Bytes written before this returns are delivered before it returns. A call without a
    /// sink costs nothing here: the reader thread takes its output to the app log.
    func end() {
        guard lock.withLock({ sink != nil }) else { return }
        fflush(nil)
        lock.withLock {
            drainLocked(readOut, .stdout)
            drainLocked(readErr, .stderr)
            sink = nil
        }
    }

    /// Writes a line to the app log directly, bypassing capture.
    func log(_ line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        text.utf8CString.withUnsafeBufferPointer { buffer in
            _ = write(logErr, buffer.baseAddress!, buffer.count - 1)
        }
    }

    private func loop() {
        var fds = [pollfd(fd: readOut, events: Int16(POLLIN), revents: 0), pollfd(fd: readErr, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            lock.withLock {
                if fds[0].revents != 0 { drainLocked(readOut, .stdout) }
                if fds[1].revents != 0 { drainLocked(readErr, .stderr) }
            }
        }
    }

    private func drainLocked(_ fd: Int32, _ stream: Stream) {
        while true {
            // The runtime's "Fatal error: …" line is read here just before the crash it
            // announces: it is noted for the crash handler before anything else, and a crash
            // between the read and the note waits for it (hoist_crash_capture_busy).
            if stream == .stderr { hoist_crash_capture_busy(1) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0, stream == .stderr { buffer.withUnsafeBytes { hoist_crash_note($0.baseAddress!, n) } }
            if stream == .stderr { hoist_crash_capture_busy(0) }
            if n <= 0 { return }
            buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                _ = write(stream == .stdout ? logOut : logErr, chunk.baseAddress!, n)
                sink?(stream, chunk)
            }
        }
    }
}

