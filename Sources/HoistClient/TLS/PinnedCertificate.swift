import Foundation
import HoistCore
import NIOSSL

/// The one certificate a client trusts for a daemon served over TLS: the only trust root, with
/// host names unchecked, since the pin (not a name) is what identifies the daemon.
struct PinnedCertificate: Sendable {
    /// Hex SHA-256 of the pinned certificate's DER.
    let fingerprint: String
    let tlsConfiguration: TLSConfiguration

    init(pem: String) throws {
        fingerprint = try CertificateFingerprint.sha256(pem: pem)
        let certificate: NIOSSLCertificate
        do {
            certificate = try NIOSSLCertificate(bytes: Array(try CertificateFingerprint.der(pem: pem)), format: .der)
        } catch let error as HoistError {
            throw error
        } catch {
            throw HoistError(.invalidConfiguration, "the pinned certificate cannot be read (\(error)); pass the daemon's tls/cert.pem unchanged")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([certificate])
        configuration.certificateVerification = .noHostnameVerification
        tlsConfiguration = configuration
    }

    /// The error to show for a connection to `url` that failed in its TLS handshake, or `nil`
    /// when `error` is not a TLS failure.
    func failure(_ error: any Error, url: String) -> HoistError? {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return HoistError(
                .certificateMismatch,
                "the daemon at \(url) presented a certificate that does not match the pinned one (SHA-256 \(fingerprint)), or the pinned one has expired; if that daemon's certificate was made anew, pin its new tls/cert.pem, otherwise check that \(url) is the daemon you meant"
            )
        }
        guard error is NIOSSLError || error is BoringSSLError else { return nil }
        return HoistError(
            .daemonUnavailable,
            "the daemon at \(url) did not complete a TLS handshake (\(error)); check that it was started with \(HoistEnvironment.tls)=1 and that this is its port"
        )
    }
}
