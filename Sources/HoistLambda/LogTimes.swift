import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// When each line of a log stream arrived: a file beside the stream (`<stream>.times`) with
/// one `<epoch-ms> <byte-offset>` line for each line the stream file holds, the offset being
/// where that line starts. The stream file itself stays plain text.
enum LogTimes {
    static let suffix = ".times"

    static func path(forStream path: String) -> String { path + suffix }

    /// Appends an entry for each line that starts in what is appended to the stream.
    struct Writer {
        private var fd: Int32 = -1
        private var offset: Int64 = 0
        private var atLineStart = true

        mutating func open(_ path: String, streamSize: Int64) {
            close()
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            offset = streamSize
            atLineStart = true
        }

        /// Call before `data` is written to the stream.
        mutating func record(_ data: Data) {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var entries = ""
            for (index, byte) in data.enumerated() {
                if atLineStart { entries += "\(now) \(offset + Int64(index))\n" }
                atLineStart = byte == UInt8(ascii: "\n")
            }
            offset += Int64(data.count)
            guard fd >= 0, !entries.isEmpty else { return }
            _ = entries.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count - 1) }
        }

        mutating func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    /// A stream's lines with their times: each line keeps its newline, as Lambda's events do.
    /// A line with no entry (written before times were kept) takes the previous line's time,
    /// or the file's modification time.
    static func lines(ofStream path: String) -> [(offset: Int64, timestamp: Int64, text: String)] {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return [] }
        var times: [Int64: Int64] = [:]
        if let text = try? String(contentsOfFile: self.path(forStream: path), encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count == 2, let time = Int64(fields[0]), let offset = Int64(fields[1]) { times[offset] = time }
            }
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date).map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        var result: [(offset: Int64, timestamp: Int64, text: String)] = []
        var start = data.startIndex
        var last = modified
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.endIndex
            let offset = Int64(start - data.startIndex)
            last = times[offset] ?? last
            result.append((offset, last, String(decoding: data[start..<end], as: UTF8.self)))
            start = end
        }
        return result
    }
}
