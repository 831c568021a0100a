#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Transparent huge pages for a large buffer Hoist is about to fill. glibc maps every block over
/// 32 MB afresh, so each 64 MB payload buffer is first touched page by page: with 4 KB pages that
/// is 16,384 faults, with 2 MB pages 32. Hoist's daemon and workers get the same from glibc's
/// tunable (``HoistEnvironment/mallocTunables``); a caller's process was started by its user, so
/// Hoist asks for its own large buffers there. Kernels that offer huge pages only on request
/// (`madvise`, the common default) give them to ranges that ask; others ignore the advice.
package enum HugePages {
    /// Smaller buffers are left alone: the advice costs a system call.
    package static let threshold = 4 << 20
    private static let pageSize = 2 << 20

    /// Advises the whole 2 MB pages inside `bytes`; call it before they are first written.
    package static func advise(_ bytes: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return }
        let start = (Int(bitPattern: base) + pageSize - 1) & ~(pageSize - 1)
        let end = (Int(bitPattern: base) + bytes.count) & ~(pageSize - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, MADV_HUGEPAGE)
        #endif
    }
}

extension ByteBuffer {
    /// ``HugePages/advise(_:)`` for this buffer's writable bytes, when there are enough of them.
    package mutating func adviseHugePages() {
        guard writableBytes >= HugePages.threshold else { return }
        withUnsafeMutableWritableBytes { HugePages.advise($0) }
    }
}
