import NIOCore

/// Frames for one channel, flushed once for all those written in one pass of its event loop's
/// tasks: under load, many frames go out in one `write(2)` and wake their reader once, rather
/// than a system call and a wake-up each. A lone frame is flushed by the next task on the loop.
package final class FlushCoalescer: @unchecked Sendable {
    private let channel: any Channel
    /// Touched on the channel's event loop only.
    private var scheduled = false

    package init(channel: any Channel) {
        self.channel = channel
    }

    /// Writes `frame`, from any thread; it is flushed after what the loop has queued already.
    package func send(_ frame: WorkerFrame) {
        if channel.eventLoop.inEventLoop {
            write(frame)
        } else {
            channel.eventLoop.execute { self.write(frame) }
        }
    }

    private func write(_ frame: WorkerFrame) {
        channel.write(frame, promise: nil)
        guard !scheduled else { return }
        scheduled = true
        channel.eventLoop.execute {
            self.scheduled = false
            self.channel.flush()
        }
    }
}
