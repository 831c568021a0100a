import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// TCP ports on this machine's IPv4 addresses: which are free, which accept connections.
public enum LocalPorts {
    /// A port the kernel considers free on `host` now (it may be taken again before use).
    public static func free(host: String = "127.0.0.1") throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HoistError(.internalError, "cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = Self.address(host: host, port: 0)
        guard withSockaddr(&address, { bind(fd, $0, $1) }) == 0 else {
            throw HoistError(.internalError, "no free port on \(host)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether `port` on `host` can be bound now.
    public static func canBind(_ port: Int, host: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.address(host: host, port: port)
        return withSockaddr(&address) { bind(fd, $0, $1) } == 0
    }

    /// Whether something accepts TCP connections on `host:port`. On loopback a refused
    /// connection answers at once, unlike an HTTP client that retries until its deadline.
    public static func isListening(_ port: Int, host: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.address(host: host, port: port)
        return withSockaddr(&address) { connect(fd, $0, $1) } == 0
    }

    private static func address(host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        return address
    }

    private static func withSockaddr(_ address: inout sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
