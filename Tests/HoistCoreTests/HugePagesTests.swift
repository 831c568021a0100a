import Foundation
import HoistCore
import NIOCore
import Testing

/// Whether this kernel gives transparent huge pages to a range that asks (`always` or `madvise`).
private let hugePagesOffered = ((try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "").contains("[never]") == false
    && FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled")

/// The `AnonHugePages` of the mapping of this process that holds `address`, in kB.
private func anonHugePages(at address: UInt) throws -> Int? {
    // Read to the end: a /proc file has no size, and String(contentsOfFile:) stops early.
    guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
    let smaps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
    var inside = false
    for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
            let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
            inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
        } else if inside, fields.first == "AnonHugePages:" {
            return Int(fields[1])
        }
    }
    return nil
}

@Suite("Huge pages for large buffers")
struct HugePagesTests {
    @Test("a large buffer advised before it is filled is backed by huge pages", .enabled(if: hugePagesOffered, "the kernel offers no transparent huge pages (enabled is [never] or absent)"))
    func advisedBuffer() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 16 << 20)
        buffer.adviseHugePages()
        buffer.writeRepeatingByte(0x61, count: 16 << 20)
        let address = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } + (8 << 20)
        let huge = try #require(try anonHugePages(at: address), "no mapping holds the buffer")
        #expect(huge >= 2048, "AnonHugePages \(huge) kB for a 16 MB buffer")
    }

    @Test("small buffers are left alone")
    func smallBuffer() {
        var buffer = ByteBufferAllocator().buffer(capacity: 64 << 10)
        buffer.adviseHugePages()
        buffer.writeRepeatingByte(0x61, count: 64 << 10)
        #expect(buffer.readableBytes == 64 << 10)
    }
}
