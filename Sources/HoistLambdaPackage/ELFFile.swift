import Foundation
import HoistCore

/// The two facts packaging needs from an executable's ELF header: its architecture, and whether
/// it names a dynamic loader (`PT_INTERP`) or is statically linked. Read directly, because `ldd`
/// cannot be trusted to answer for another architecture's binary.
package struct ELFFile: Sendable {
    /// `e_machine`: 62 for x86_64, 183 for aarch64.
    package let machine: UInt16
    /// The loader named by `PT_INTERP` (`/lib64/ld-linux-x86-64.so.2`), `nil` for a static executable.
    package let interpreter: String?

    var architecture: LambdaArchitecture? { LambdaArchitecture.allCases.first { $0.elfMachine == machine } }

    package init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw HoistError(.invalidConfiguration, "cannot read \(path)")
        }
        defer { try? handle.close() }
        let header = try handle.read(upToCount: 64) ?? Data()
        // 64-bit (class 2), little-endian (data 1) ELF: what Lambda runs.
        guard header.count == 64, header.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else {
            throw HoistError(.invalidConfiguration, "\(path) is not a Linux executable (no ELF header); give the path of an executable built on Linux")
        }
        guard header[4] == 2, header[5] == 1 else {
            throw HoistError(.invalidConfiguration, "\(path) is not a 64-bit little-endian executable; Lambda runs x86_64 and arm64 only")
        }
        machine = Self.integer(header, at: 18, size: 2)
        let programHeaders: UInt64 = Self.integer(header, at: 32, size: 8)
        let entrySize: UInt16 = Self.integer(header, at: 54, size: 2)
        let count: UInt16 = Self.integer(header, at: 56, size: 2)
        var interpreter: String?
        for index in 0..<UInt64(count) {
            try handle.seek(toOffset: programHeaders + index * UInt64(entrySize))
            let entry = try handle.read(upToCount: 56) ?? Data()
            guard entry.count == 56 else { break }
            let type: UInt32 = Self.integer(entry, at: 0, size: 4)
            guard type == 3 else { continue }  // PT_INTERP
            let offset: UInt64 = Self.integer(entry, at: 8, size: 8)
            let size: UInt64 = Self.integer(entry, at: 32, size: 8)
            try handle.seek(toOffset: offset)
            let bytes = try handle.read(upToCount: Int(min(size, 4096))) ?? Data()
            interpreter = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        self.interpreter = interpreter
    }

    /// A little-endian integer of `size` bytes at `offset`.
    private static func integer<T: FixedWidthInteger>(_ data: Data, at offset: Int, size: Int) -> T {
        var value: T = 0
        for index in (0..<size).reversed() {
            value = value << 8 | T(data[data.startIndex + offset + index])
        }
        return value
    }
}
