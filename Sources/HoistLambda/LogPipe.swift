import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// An environment's standard output and error: one pipe, read by a thread of its own, written
/// to the environment's log stream file and to the invocation it belongs to.
final class LogPipe: @unchecked Sendable {
    let writeEnd: FileHandle
    private let readFD: Int32
    private let logFD: Int32
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
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
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

    private func append(_ data: Data) {
        _ = data.withUnsafeBytes { write(logFD, $0.baseAddress!, $0.count) }
        sink?.log.withLockedValue { $0.append(data) }
    }
}
