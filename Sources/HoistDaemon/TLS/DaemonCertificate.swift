import Crypto
import Foundation
import HoistCore
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's TLS identity: a P-256 key and a self-signed certificate that names the listen
/// host. Made on first start and reused on later ones, so that clients' pins stay valid.
struct DaemonCertificate {
    /// Hex SHA-256 of the certificate's DER: what clients pin.
    let fingerprint: String
    let serverConfiguration: TLSConfiguration
    private let der: [UInt8]

    /// The identity in `home`'s `tls` directory, made there first when there is none.
    static func loadOrCreate(home: HoistHome, host: String, logger: Logger) throws -> DaemonCertificate {
        let files = FileManager.default
        if !files.fileExists(atPath: home.tlsCertificateFile) {
            // A key without a certificate is left from an interrupted first start: nothing can
            // have pinned it yet, so it is replaced.
            try create(home: home, host: host)
            logger.info("made a self-signed TLS certificate", metadata: ["certificate": "\(home.tlsCertificateFile)"])
        } else if !files.fileExists(atPath: home.tlsKeyFile) {
            throw HoistError(
                .invalidConfiguration,
                "\(home.tlsCertificateFile) has no key beside it (\(home.tlsKeyFile)); restore the key, or remove \(home.tlsDirectory) to have a new certificate made (clients must then pin the new one)"
            )
        }
        let certificate = try load(home: home)
        if !isWildcard(host), !certificate.names(host) {
            // Made for another listen host; replacing it would break every client's pin.
            logger.warning("the TLS certificate does not name the listen host: Hoist clients pin it and do not mind, clients that check host names refuse it", metadata: ["host": "\(host)", "certificate": "\(home.tlsCertificateFile)"])
        }
        return certificate
    }

    /// Whether the certificate's subjectAltName holds `host`.
    func names(_ host: String) -> Bool {
        guard let names = try? Certificate(derEncoded: der).extensions.subjectAlternativeNames else { return false }
        return names.contains(Self.alternativeName(host))
    }

    private static func load(home: HoistHome) throws -> DaemonCertificate {
        let advice = "remove \(home.tlsDirectory) to have a new certificate made (clients must then pin the new one)"
        let certificatePEM: String
        let certificates: [NIOSSLCertificate]
        do {
            certificatePEM = try String(contentsOfFile: home.tlsCertificateFile, encoding: .utf8)
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        } catch {
            throw HoistError(.invalidConfiguration, "\(home.tlsCertificateFile) is not a readable PEM certificate (\(error)); \(advice)")
        }
        guard let leaf = certificates.first else {
            throw HoistError(.invalidConfiguration, "\(home.tlsCertificateFile) holds no certificate; \(advice)")
        }
        // The key's own text never goes into a message: only that it could not be used.
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: home.tlsKeyFile, format: .pem)
        } catch {
            throw HoistError(.invalidConfiguration, "\(home.tlsKeyFile) is not a readable PEM private key; \(advice)")
        }
        // A key someone made readable to others is put back to owner-only.
        chmod(home.tlsKeyFile, 0o600)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(leaf)], privateKey: .privateKey(key))
        // Closing a connection waits this long for the client's close_notify (default 5 s): with
        // Hummingbird's half-closed connections it is waited out in full, delaying every stop.
        configuration.shutdownTimeout = .milliseconds(500)
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw HoistError(.invalidConfiguration, "\(home.tlsKeyFile) is not the key of \(home.tlsCertificateFile); \(advice)")
        }
        let der = try leaf.toDERBytes()
        let fingerprint = SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
        return DaemonCertificate(fingerprint: fingerprint, serverConfiguration: configuration, der: der)
    }

    private static func create(home: HoistHome, host: String) throws {
        try FileManager.default.createDirectory(atPath: home.tlsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let signingKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName { CommonName("Hoist daemon on \(host)") }
        var names: [GeneralName] = []
        for candidate in (isWildcard(host) ? [hostName()] : [host]) + ["127.0.0.1", "localhost"] {
            let name = alternativeName(candidate)
            if !names.contains(name) { names.append(name) }
        }
        let extensions = try Certificate.Extensions {
            // Its own CA: OpenSSL and BoringSSL take a self-signed certificate as a trust root
            // (which is how clients pin it) only when it may sign certificates.
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: signingKey.publicKey,
            // An hour back, for clients whose clocks run a little behind.
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365.25 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: signingKey
        )
        // Key first: a certificate on disk always has its key beside it.
        try writeFile(key.pemRepresentation, to: home.tlsKeyFile, mode: 0o600)
        try writeFile(try certificate.serializeAsPEM().pemString + "\n", to: home.tlsCertificateFile, mode: 0o644)
    }

    /// Writes through a temporary file created with `mode`, so the key is never readable by others.
    private static func writeFile(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw HoistError(.internalError, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // The umask must not change the modes clients and the owner rely on.
        let ok = written == bytes.count && fchmod(fd, mode) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw HoistError(.internalError, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// An IP address name for an address, a DNS name otherwise.
    private static func alternativeName(_ host: String) -> GeneralName {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: &v4) { Array($0)[...] }))
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: &v6) { Array($0)[...] }))
        }
        return .dnsName(host)
    }

    /// Listening on every address: the certificate names the machine instead.
    private static func isWildcard(_ host: String) -> Bool {
        ["0.0.0.0", "::", "*"].contains(host)
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
