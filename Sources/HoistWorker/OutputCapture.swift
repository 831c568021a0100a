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
///
/// Standard output is fully buffered, so printing a line costs no system call: the buffer goes
/// out when it fills, when a call ends, every ``flushInterval`` while calls run, so output
/// still streams, and every ``idleFlushInterval`` between calls, so that what a detached task
/// prints reaches the app log too. A crash writes what is left in it to the app log; what a worker killed with
/// SIGKILL printed in its last ``flushInterval`` is lost. Standard error stays unbuffered.
final class OutputCapture: @unchecked Sendable {
    enum Stream { case stdout, stderr }
    typealias Sink = @Sendable (Stream, UnsafeRawBufferPointer) -> Void

    /// How often the reader thread flushes standard output while calls run, in milliseconds.
    static let flushInterval: Int32 = 5
    /// How often the reader thread flushes standard output between calls, in milliseconds
    /// (`HOIST_IDLE_FLUSH_MS` in the app's environment, default 250): a detached task's lines
    /// wait no longer, and an idle worker wakes a few times a second.
    static let idleFlushInterval: Int32 = {
        let milliseconds = ProcessInfo.processInfo.environment[HoistEnvironment.idleFlushMilliseconds].flatMap(Int32.init) ?? 250
        return max(1, milliseconds)
    }()
    /// How long after a call the reader keeps flushing on its timer, so that back-to-back calls
    /// need not wake it, in nanoseconds.
    static let linger: UInt64 = 1_000_000_000
    static let stdoutBufferSize = 32 << 10

    private let lock = NIOLock()
    private var sink: Sink?
    private let readOut: Int32
    private let readErr: Int32
    /// Wakes the reader thread from a poll without a timeout when a call begins.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Where output goes besides the caller: the descriptors the worker was started with (the app log).
    private let logOut: Int32
    private let logErr: Int32
    private var thread: Thread?
    /// One read buffer, used only under `lock`.
    private var buffer = [UInt8](repeating: 0, count: 65536)
    /// Under `lock`: calls running, when the last one ended (monotonic ns), and whether the
    /// reader thread waits on its long timer (and so must be woken when a call begins).
    private var running = 0
    private var lastEnded: UInt64 = 0
    private var idle = false

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
        // Room for bursts while the reader is busy: a writer blocks only past this.
        hoist_pipe_grow(outR, 1 << 20)
        dup2(outW, 1)
        dup2(errW, 2)
        close(outW)
        close(errW)
        readOut = outR
        readErr = errR
        let (wakeR, wakeW) = try makePipe()
        _ = fcntl(wakeW, F_SETFL, fcntl(wakeW, F_GETFL) | O_NONBLOCK)
        _ = fcntl(wakeW, F_SETFD, FD_CLOEXEC)
        wakeRead = wakeR
        wakeWrite = wakeW
        hoist_stdout_buffer(Self.stdoutBufferSize)
        setvbuf(CStreams.stderr, nil, _IONBF, 0)
    }

    /// Hands a crash's last words to the crash report at `path` (see ``CrashReport``).
    func installCrashHandler(reportPath: String) {
        hoist_crash_install(readOut, readErr, logErr, reportPath)
    }

    /// Starts the reader thread. From now on SIGTERM (the daemon stopping the worker) lets the
    /// thread hand on what was printed and not yet read before the process ends by it.
    func start() {
        hoist_term_install(wakeWrite)
        let thread = Thread { [self] in self.loop() }
        thread.name = "hoist-output"
        thread.start()
        self.thread = thread
    }

    /// A call starts; its output goes to `sink` (nil: only to the app log) until ``end()``.
    /// What earlier calls wrote and the reader thread has not taken yet is theirs: it goes to
    /// the app log first, not to this call's caller.
    func begin(_ sink: Sink?) {
        if sink != nil { fflush(nil) }
        let wake = lock.withLock { () -> Bool in
            if sink != nil {
                drainLocked(readOut, .stdout)
                drainLocked(readErr, .stderr)
                self.sink = sink
            }
            running += 1
            defer { idle = false }
            return idle
        }
        if wake {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    /// Flushes what the call wrote, hands it to the call's sink (or the app log), and stops
    /// routing to it. Bytes written before this returns are delivered before it returns. A
    /// call that printed nothing and has no sink costs a look at the buffer here.
    func end() {
        let hadSink = lock.withLock { sink != nil }
        let printed = hadSink || hoist_stdout_pending() > 0
        if printed { fflush(nil) }
        let now = Self.monotonicNow()
        lock.withLock {
            if printed {
                drainLocked(readOut, .stdout)
                drainLocked(readErr, .stderr)
            }
            sink = nil
            running -= 1
            lastEnded = now
        }
    }

    /// Hands on what is printed and not yet read (standard output's buffer, both pipes): the
    /// worker is about to end. Output printed outside any call (a detached task's) would
    /// otherwise wait in the buffer for the next call, or the next tick of the reader's timer,
    /// and be lost with the process.
    func finish() {
        // Not `fflush`: a function blocked writing into the full pipe holds the stream, and only
        // the drain below empties that pipe.
        _ = hoist_stdout_try_flush()
        lock.withLock {
            drainLocked(readOut, .stdout)
            drainLocked(readErr, .stderr)
        }
        _ = hoist_stdout_try_flush()
        lock.withLock { drainLocked(readOut, .stdout) }
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
        var fds = [
            pollfd(fd: readOut, events: Int16(POLLIN), revents: 0), pollfd(fd: readErr, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            // On a short timer while calls run (and a while after), so that buffered output
            // streams; otherwise on a long one, or until something arrives or a call begins.
            let timeout = lock.withLock { () -> Int32 in
                let recent = running > 0 || Self.monotonicNow() &- lastEnded < Self.linger
                idle = !recent && hoist_stdout_pending() == 0
                return idle ? Self.idleFlushInterval : Self.flushInterval
            }
            let ready = poll(&fds, 3, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[2].revents != 0 {
                var bytes = (0 as UInt64)
                while read(wakeRead, &bytes, 8) > 0 {}
                if hoist_term_requested() != 0 {
                    finish()
                    hoist_term_reraise()
                }
            }
            lock.withLock {
                if fds[0].revents != 0 { drainLocked(readOut, .stdout) }
                if fds[1].revents != 0 { drainLocked(readErr, .stderr) }
            }
            // Never waits for the stream: a function blocked writing a large print into the
            // full pipe holds it until this thread drains the pipe.
            if hoist_stdout_pending() > 0 { _ = hoist_stdout_try_flush() }
        }
    }

    private static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
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

