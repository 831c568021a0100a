import Crypto
import Foundation
import HoistCore

/// SHA-256 fingerprints of certificates, for pinning a daemon's self-signed certificate.
///
/// ```swift
/// let pin = try CertificateFingerprint.sha256(pem: String(contentsOfFile: "cert.pem", encoding: .utf8))
/// // "3f9a…": `openssl x509 -noout -fingerprint -sha256` without the colons, in lower case
/// ```
public enum CertificateFingerprint {
    /// The lowercase hex SHA-256 of the DER bytes of the first certificate in `pem`.
    ///
    /// Throws ``HoistError/Code/invalidConfiguration`` when `pem` holds no certificate.
    public static func sha256(pem: String) throws -> String {
        sha256(der: try der(pem: pem))
    }

    /// The lowercase hex SHA-256 of a certificate's DER bytes.
    public static func sha256(der: some DataProtocol) -> String {
        SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// The DER bytes of the first `CERTIFICATE` block of a PEM text.
    static func der(pem: String) throws -> Data {
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end, range: start.upperBound..<pem.endIndex) else {
            throw HoistError(.invalidConfiguration, "the text is not a PEM certificate (it has no \(begin) … \(end) block); pass the daemon's tls/cert.pem")
        }
        let base64 = pem[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(base64)), !der.isEmpty else {
            throw HoistError(.invalidConfiguration, "the PEM certificate's body is not valid base64; pass the daemon's tls/cert.pem unchanged")
        }
        return der
    }
}
