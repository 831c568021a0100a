#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore

/// Where a large payload lies in a caller's ``PayloadRegion``: a call on the daemon's machine
/// sends this instead of the payload, and the worker reads the argument from the region and
/// writes a large result into it, so that neither crosses the daemon's sockets.
///
/// The worker opens the region as `/proc/<pid>/fd/<fd>` and checks that it found the file the
/// reference names (its device and inode) before it reads a byte.
package struct RegionReference: Sendable, Equatable {
    package static let size = 40

    package var pid: Int32
    package var fd: Int32
    package var device: UInt64
    package var inode: UInt64
    package var offset: UInt32
    package var length: UInt32

    package init(pid: Int32, fd: Int32, device: UInt64, inode: UInt64, offset: UInt32, length: UInt32) {
        self.pid = pid
        self.fd = fd
        self.device = device
        self.inode = inode
        self.offset = offset
        self.length = length
    }

    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(pid)
        buffer.writeInteger(fd)
        buffer.writeInteger(device)
        buffer.writeInteger(inode)
        buffer.writeInteger(offset)
        buffer.writeInteger(length)
        buffer.writeInteger(UInt64(0))
    }

    package var buffer: ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: Self.size)
        write(to: &buffer)
        return buffer
    }

    package init(decoding buffer: ByteBuffer) throws {
        var buffer = buffer
        guard buffer.readableBytes == Self.size,
              let pid = buffer.readInteger(as: Int32.self), let fd = buffer.readInteger(as: Int32.self),
              let device = buffer.readInteger(as: UInt64.self), let inode = buffer.readInteger(as: UInt64.self),
              let offset = buffer.readInteger(as: UInt32.self), let length = buffer.readInteger(as: UInt32.self)
        else {
            throw HoistError(.badArguments, "a call's payload region reference is \(buffer.readableBytes) bytes, not \(Self.size)")
        }
        self.init(pid: pid, fd: fd, device: device, inode: inode, offset: offset, length: length)
    }

    /// Where a result goes after an argument that ends at `end`: the next page.
    package static func resultOffset(after end: Int) -> Int {
        (end + 4095) & ~4095
    }

    /// Results from this size on go into the region; smaller ones come back in the answer.
    package static let resultThreshold = 64 << 10

    /// What a worker answers a call that came with a region: one byte, then the result itself
    /// (`inline`) or a reference to where it lies in the region (`inRegion`).
    package enum Answer: UInt8 {
        case inline = 0
        case inRegion = 1
    }
}

/// A file in shared memory (`/dev/shm`, removed from the directory as soon as it is open) that a
/// caller keeps mapped and reuses for its large calls: its pages stay the caller's, so that an
/// argument is copied into memory already in place rather than into fresh pages each call.
package final class PayloadRegion: @unchecked Sendable {
    package let fd: Int32
    package let device: UInt64
    package let inode: UInt64
    private(set) var base: UnsafeMutableRawPointer
    /// The mapped size (the file may be larger, if a worker grew it for a result).
    private(set) var mapped: Int
    package var capacity: Int { mapped }

    private init(fd: Int32, device: UInt64, inode: UInt64, base: UnsafeMutableRawPointer, mapped: Int) {
        self.fd = fd
        self.device = device
        self.inode = inode
        self.base = base
        self.mapped = mapped
    }

    /// A new region of at least `capacity` bytes, or `nil` where shared memory is not available.
    package static func make(capacity: Int) -> PayloadRegion? {
        #if os(Linux)
        let name = "/dev/shm/hoist-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        unlink(name)
        var info = stat()
        let size = roundUp(capacity)
        guard fstat(fd, &info) == 0, ftruncate(fd, off_t(size)) == 0,
              let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED
        else {
            close(fd)
            return nil
        }
        return PayloadRegion(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), base: base, mapped: size)
        #else
        return nil
        #endif
    }

    /// Makes the file and its mapping at least `size` bytes; false when it cannot.
    package func reserve(_ size: Int) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        if Int(info.st_size) < size, ftruncate(fd, off_t(Self.roundUp(size))) != 0 { return false }
        return remap(atLeast: size)
    }

    /// The mapping grown to cover the file's first `size` bytes, which a worker may have made.
    private func remap(atLeast size: Int) -> Bool {
        guard size > mapped else { return true }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) >= size else { return false }
        let length = Int(info.st_size)
        guard let grown = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), grown != MAP_FAILED else { return false }
        munmap(base, mapped)
        base = grown
        mapped = length
        return true
    }

    /// Copies `bytes` to the start of the region (made large enough) and returns where they lie.
    package func write(_ bytes: ByteBuffer) -> RegionReference? {
        let count = bytes.readableBytes
        guard count <= Int(UInt32.max), reserve(count) else { return nil }
        bytes.withUnsafeReadableBytes { source in
            if let from = source.baseAddress { base.copyMemory(from: from, byteCount: count) }
        }
        return RegionReference(pid: getpid(), fd: fd, device: device, inode: inode, offset: 0, length: UInt32(count))
    }

    /// Hands `reader` the bytes `reference` names where they lie; false when they are not in
    /// this region.
    package func read(_ reference: RegionReference, into reader: ResultReader) throws -> Bool {
        let end = Int(reference.offset) + Int(reference.length)
        guard reference.fd == fd, reference.inode == inode, remap(atLeast: end) else { return false }
        try reader.read(UnsafeRawBufferPointer(start: base + Int(reference.offset), count: Int(reference.length)))
        return true
    }

    /// The bytes `reference` names, copied into a buffer; `nil` when they are not in this region.
    package func read(_ reference: RegionReference) -> ByteBuffer? {
        let end = Int(reference.offset) + Int(reference.length)
        guard reference.fd == fd, reference.inode == inode, remap(atLeast: end) else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(reference.length))
        buffer.adviseHugePages()
        buffer.writeBytes(UnsafeRawBufferPointer(start: base + Int(reference.offset), count: Int(reference.length)))
        return buffer
    }

    static func roundUp(_ size: Int) -> Int {
        max(4096, (size + 4095) & ~4095)
    }

    deinit {
        munmap(base, mapped)
        close(fd)
    }
}

/// A worker's view of a caller's region for one call: the argument where it lies, and room for
/// the result after it.
package final class RegionMapping: @unchecked Sendable {
    private let fd: Int32
    private let reference: RegionReference
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int
    /// Where the mapping starts in the file (a page boundary at or before the argument).
    private let mappedOffset: Int

    /// Opens the region `reference` names; throws when it cannot be opened or is not the file
    /// the reference names (the caller went away, or lives where this process cannot see it).
    package init(_ reference: RegionReference) throws {
        let path = "/proc/\(reference.pid)/fd/\(reference.fd)"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw HoistError(.payloadRegion, "could not open the caller's payload region \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, UInt64(info.st_dev) == reference.device, UInt64(info.st_ino) == reference.inode else {
            close(fd)
            throw HoistError(.payloadRegion, "\(path) is not the payload region the call names")
        }
        let end = Int(reference.offset) + Int(reference.length)
        guard Int(info.st_size) >= end else {
            close(fd)
            throw HoistError(.payloadRegion, "the caller's payload region is \(info.st_size) bytes, shorter than the \(end) the call names")
        }
        let start = Int(reference.offset) & ~4095
        let length = max(1, end - start)
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off_t(start)), base != MAP_FAILED else {
            close(fd)
            throw HoistError(.payloadRegion, "could not map the caller's payload region: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.reference = reference
        self.base = base
        self.mappedLength = length
        self.mappedOffset = start
    }

    /// The argument's bytes where they lie, valid as long as this mapping (which the `Data`
    /// keeps) lives.
    package var argument: Data {
        let start = base + (Int(reference.offset) - mappedOffset)
        return Data(bytesNoCopy: start, count: Int(reference.length), deallocator: .custom { [self] _, _ in withExtendedLifetime(self) {} })
    }

    /// Writes `result` after the argument (growing the file if need be), so that a retry still
    /// finds the argument whole, and returns where it lies.
    package func write(result: ByteBuffer) throws -> RegionReference {
        try write(count: result.readableBytes) { target in
            result.withUnsafeReadableBytes { source in
                if let from = source.baseAddress, let to = target.baseAddress { to.copyMemory(from: from, byteCount: source.count) }
            }
        }
    }

    /// Lets `fill` write a result of `count` bytes straight into the region, after the argument.
    package func write(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) throws -> RegionReference {
        let offset = RegionReference.resultOffset(after: Int(reference.offset) + Int(reference.length))
        guard offset + count <= Int(UInt32.max) else {
            throw HoistError(.payloadRegion, "a result of \(count) bytes does not fit a payload region")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw HoistError(.payloadRegion, "the caller's payload region is gone") }
        if Int(info.st_size) < offset + count, ftruncate(fd, off_t(PayloadRegion.roundUp(offset + count))) != 0 {
            throw HoistError(.payloadRegion, "could not grow the caller's payload region to \(offset + count) bytes: \(String(cString: strerror(errno)))")
        }
        guard count > 0 else { return RegionReference(pid: reference.pid, fd: reference.fd, device: reference.device, inode: reference.inode, offset: UInt32(offset), length: 0) }
        guard let target = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(offset)), target != MAP_FAILED else {
            throw HoistError(.payloadRegion, "could not map the caller's payload region for the result: \(String(cString: strerror(errno)))")
        }
        defer { munmap(target, count) }
        fill(UnsafeMutableRawBufferPointer(start: target, count: count))
        return RegionReference(pid: reference.pid, fd: reference.fd, device: reference.device, inode: reference.inode, offset: UInt32(offset), length: UInt32(count))
    }

    deinit {
        munmap(base, mappedLength)
        close(fd)
    }
}

/// Decodes a call's result where it lies, in the caller's payload region, instead of from a copy
/// of it: the caller that knows the result's type makes one per call, and the client that gets a
/// result in a region hands it the bytes.
package final class ResultReader: @unchecked Sendable {
    private let decode: (UnsafeRawBufferPointer) throws -> any Sendable
    private let lock = NSLock()
    private var decoded: (any Sendable)?

    package init(_ decode: @escaping @Sendable (UnsafeRawBufferPointer) throws -> any Sendable) {
        self.decode = decode
    }

    package func read(_ bytes: UnsafeRawBufferPointer) throws {
        let value = try decode(bytes)
        lock.withLock { decoded = value }
    }

    /// The value read, if the result came in a region.
    package var value: (any Sendable)? {
        lock.withLock { decoded }
    }
}
