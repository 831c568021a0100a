import Foundation
import HoistCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import HoistWorker

@Suite("A worker's call queue")
struct CallQueueTests {
    private func call(_ id: UInt64) -> CallQueue.Item {
        .batched(id: id, request: CallRequest(function: "f", wantsOutput: false, body: ByteBuffer(string: "[]")))
    }

    @Test("a cancel that overtakes its call's frame answers the call cancelled when it arrives, and never runs it")
    func cancelBeforeCall() throws {
        let served = NIOLockedValueBox<[UInt64]>([])
        let queue = CallQueue(running: RunningCall()) { _, id, _ in
            served.withLockedValue { $0.append(id) }
            return WorkerFrame(kind: .result, callID: id, payload: ByteBuffer(string: "null"))
        }
        let channel = EmbeddedChannel()
        queue.cancel(7)
        queue.enqueue([call(7)], on: channel)
        let answer = try #require(try channel.readOutbound(as: WorkerFrame.self))
        #expect(answer.kind == .failure && answer.callID == 7)
        #expect(String(buffer: answer.payload).contains("cancelled before it started"))
        #expect(served.withLockedValue { $0 }.isEmpty)
        #expect(queue.rememberedCancels == 0)
    }

    @Test("cancels for calls that never arrive are forgotten past a bound")
    func earlyCancelsAreBounded() throws {
        let queue = CallQueue(running: RunningCall()) { _, id, _ in
            WorkerFrame(kind: .result, callID: id, payload: ByteBuffer(string: "null"))
        }
        let channel = EmbeddedChannel()
        let newest = UInt64(CallQueue.earlyCancelLimit + 10)
        for id in 1...newest { queue.cancel(id) }
        #expect(queue.rememberedCancels == CallQueue.earlyCancelLimit)
        // The newest is still known: its call is refused when it comes.
        queue.enqueue([call(newest)], on: channel)
        let answer = try #require(try channel.readOutbound(as: WorkerFrame.self))
        #expect(answer.callID == newest && answer.kind == .failure)
        #expect(queue.rememberedCancels == CallQueue.earlyCancelLimit - 1)
    }
}
