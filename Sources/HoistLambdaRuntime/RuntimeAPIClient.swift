import Foundation
import HoistCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// HTTP/1.1 to the Lambda Runtime API over one kept-alive TCP connection, with blocking
/// sockets: a bootstrap does one thing at a time, and plain sockets start in microseconds
/// where an event loop, an HTTP client and TLS would not.
final class RuntimeAPIClient: @unchecked Sendable {
    struct Response {
        var status: Int
        /// Header names in lower case.
        var headers: [String: String]
        var body: [UInt8]
    }

    let host: String
    let port: UInt16
    private var fd: Int32 = -1
    /// Bytes read past the end of the last response.
    private var pending: [UInt8] = []

    /// `api` is `AWS_LAMBDA_RUNTIME_API`: `HOST:PORT`.
    init(api: String) throws {
        guard let colon = api.lastIndex(of: ":"), let port = UInt16(api[api.index(after: colon)...]) else {
            throw HoistError(.invalidConfiguration, "AWS_LAMBDA_RUNTIME_API is '\(api)', not HOST:PORT")
        }
        let host = String(api[..<colon])
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
    }

    deinit { if fd >= 0 { close(fd) } }

    /// One request with a whole body; reconnects once when the kept-alive connection was closed.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        for attempt in 0..<2 {
            do {
                try connectIfNeeded()
                try write(Array(head.utf8) + body)
                return try readResponse()
            } catch where attempt == 0 {
                disconnect()
            }
        }
        throw HoistError(.daemonUnavailable, "the Lambda Runtime API at \(host):\(port) did not answer \(method) \(path)")
    }

    /// Starts a request whose body follows in chunks (``writeChunk(_:)``, ``finishChunked(trailers:)``).
    func beginChunked(_ method: String, _ path: String, headers: [(String, String)]) throws {
        try connectIfNeeded()
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nTransfer-Encoding: chunked\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try write(Array(head.utf8))
    }

    func writeChunk(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try write(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8))
    }

    /// Ends a chunked body, with trailers, and reads the answer.
    func finishChunked(trailers: [(String, String)] = []) throws -> Response {
        var end = "0\r\n"
        for (name, value) in trailers { end += "\(name): \(value)\r\n" }
        end += "\r\n"
        try write(Array(end.utf8))
        return try readResponse()
    }

    private func connectIfNeeded() throws {
        guard fd < 0 else { return }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw HoistError(.internalError, "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(socket)
            throw HoistError(.invalidConfiguration, "AWS_LAMBDA_RUNTIME_API host '\(host)' is not an IPv4 address")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            throw HoistError(.daemonUnavailable, "cannot connect to the Lambda Runtime API at \(host):\(port): \(reason)")
        }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = socket
        pending = []
    }

    private func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        pending = []
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw HoistError(.daemonUnavailable, "the Runtime API connection closed while sending") }
            offset += written
        }
    }

    /// Reads more bytes into `pending`; throws when the connection closed.
    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw HoistError(.daemonUnavailable, "the Runtime API closed the connection") }
            pending.append(contentsOf: buffer[0..<count])
            return
        }
    }

    private func readLine() throws -> String {
        while true {
            if let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[..<end]
                pending.removeSubrange(...end)
                return String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
            }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while pending.count < count { try fill() }
        let bytes = Array(pending[..<count])
        pending.removeFirst(count)
        return bytes
    }

    private func readResponse() throws -> Response {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw HoistError(.badResponse, "the Runtime API answered '\(statusLine)'")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let size = Int(try readLine().split(separator: ";").first ?? "0", radix: 16) ?? 0
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readBytes(size)
                _ = try readLine()
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            body = try readBytes(length)
        }
        if headers["connection"]?.lowercased() == "close" { disconnect() }
        return Response(status: status, headers: headers, body: body)
    }
}
