import NIOCore

/// Frames for one channel: the first of a pass of its event loop's tasks goes out at once, those
/// after it in the same pass are flushed together at its end. Under load many frames then go out
/// in one `write(2)` and wake their reader once, rather than a system call and a wake-up each,
/// and a lone frame is not held back.
package final class FlushCoalescer: @unchecked Sendable {
    package let channel: any Channel
    /// Touched on the channel's event loop only.
    private var scheduled = false

    package init(channel: any Channel) {
        self.channel = channel
    }

    /// Writes `frame`, from any thread; `whenWritten` runs on the event loop just before the
    /// write, so that what it records follows the channel's order of writes.
    package func send(_ frame: WorkerFrame, whenWritten: (@Sendable () -> Void)? = nil) {
        if channel.eventLoop.inEventLoop {
            whenWritten?()
            write(frame)
        } else {
            channel.eventLoop.execute {
                whenWritten?()
                self.write(frame)
            }
        }
    }

    private func write(_ frame: WorkerFrame) {
        guard !scheduled else {
            // Frames after the first in this pass wait for the flush at its end.
            channel.write(frame, promise: nil)
            return
        }
        // The first goes at once: a lone frame is not held back.
        channel.writeAndFlush(frame, promise: nil)
        scheduled = true
        channel.eventLoop.execute {
            self.scheduled = false
            self.channel.flush()
        }
    }
}
