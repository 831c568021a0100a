import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// An environment's standard output and error: one pipe, read by a thread of its own, written
/// to the environment's log stream file and to the invocation it belongs to. When each line
/// arrived goes to the stream's ``LogTimes`` file beside it, so that `FilterLogEvents` can give
/// every line a time of its own.
final class LogPipe: @unchecked Sendable {
    let writeEnd: FileHandle
    private let readFD: Int32
    private let logPath: String
    private var logFD: Int32 = -1
    private var times = LogTimes.Writer()
    private let lock = NIOLock()
    private var sink: Invocation?
    private var closed = false

    init(logPath: String) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw LambdaAPIError.service("pipe(): \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        readFD = fds[0]
        writeEnd = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        self.logPath = logPath
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        openFiles()
        let thread = Thread { [self] in self.loop() }
        thread.name = "hoist-lambda-log"
        thread.start()
    }

    /// Routes output to `invocation` (its `Tail`) until the next call.
    func route(to invocation: Invocation?) {
        lock.withLock { sink = invocation }
    }

    /// A line the server writes itself (START, END, REPORT), after what the environment printed.
    func note(_ line: String) {
        lock.withLock {
            drainLocked()
            append(Data((line + "\n").utf8))
        }
    }

    /// Reads what the environment has printed so far.
    func drain() { lock.withLock { drainLocked() } }

    func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            drainLocked()
            Glibc.close(readFD)
            Glibc.close(logFD)
            times.close()
        }
    }

    private func loop() {
        var fds = [pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)]
        while true {
            if lock.withLock({ closed }) { return }
            let ready = poll(&fds, 1, 200)
            if ready < 0 && errno != EINTR { return }
            if ready > 0 {
                let hungUp = fds[0].revents & Int16(POLLHUP) != 0
                lock.withLock { if !closed { drainLocked() } }
                if hungUp && fds[0].revents & Int16(POLLIN) == 0 { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
    }

    private func drainLocked() {
        guard !closed else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress!, $0.count) }
            if count <= 0 { return }
            append(Data(buffer[0..<count]))
        }
    }

    /// Opens (again) the stream file and its times file: a `DeleteLogGroup` may have removed
    /// them while the environment was warm, and Lambda makes the group again when it logs.
    private func openFiles() {
        if logFD >= 0 { Glibc.close(logFD) }
        try? FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        times.open(LogTimes.path(forStream: logPath), streamSize: logFD >= 0 ? Int64(lseek(logFD, 0, SEEK_END)) : 0)
    }

    private func append(_ data: Data) {
        // After close the descriptors are gone (their numbers may be another file's by now);
        // the invocation still gets the line.
        if !closed {
            if access(logPath, F_OK) != 0 { openFiles() }
            times.record(data)
            _ = data.withUnsafeBytes { write(logFD, $0.baseAddress!, $0.count) }
        }
        sink?.log.withLockedValue { $0.append(data) }
    }
}
