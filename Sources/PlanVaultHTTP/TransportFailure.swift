import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// What went wrong with a request that got no HTTP answer, in the user's words, and whether
/// trying again can help. Certificate, hostname and handshake failures are permanent (they fail
/// at once with what to do); refused or reset connections, handshakes the server hung up on, and
/// timeouts are transient.
/// Messages never carry a library's type names.
struct TransportFailure {
    var permanent: Bool
    var message: String
    /// The certificate is valid but issued for other names: `explained` can say which.
    var hostnameMismatch = false

    init(_ error: Error, host: String) {
        if let ssl = Self.find(NIOSSLError.self, in: error) {
            self = Self.tls(ssl, host: host)
        } else if let extra = Self.find(NIOSSLExtraError.self, in: error) {
            if extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch {
                self.init(permanent: true, message: Self.wrongName(host: host, names: []))
                hostnameMismatch = true
            } else {
                self.init(permanent: true, message: "the TLS connection to \(host) could not be set up (\(extra.description.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown reason"))")
            }
        } else if let io = Self.find(IOError.self, in: error) {
            self.init(permanent: false, message: Self.describe(errno: io.errnoCode))
        } else if let client = error as? HTTPClientError {
            self = Self.client(client)
        } else if let channel = Self.find(ChannelError.self, in: error) {
            switch channel {
            case .connectTimeout: self.init(permanent: false, message: "connection timed out")
            default: self.init(permanent: false, message: "the server closed the connection")
            }
        } else {
            self.init(permanent: false, message: "the connection failed unexpectedly")
        }
    }

    /// The failure for a request to `url`; a certificate for other names is asked for its names
    /// (a separate handshake that sends nothing), so the message says which would work.
    static func explained(_ error: Error, url: String, fallbackHost: String) async -> TransportFailure {
        let parsed = URL(string: url)
        let host = parsed?.host ?? fallbackHost
        var failure = TransportFailure(error, host: host)
        if failure.hostnameMismatch, let parsed, let host = parsed.host {
            let names = await CertificateNames.probe(host: host, port: parsed.port ?? (parsed.scheme == "http" ? 80 : 443))
            if !names.isEmpty { failure.message = wrongName(host: host, names: names) }
        }
        return failure
    }

    static func wrongName(host: String, names: [String]) -> String {
        if names.isEmpty {
            return "the server's certificate is not for \(host): use the name the certificate was issued for in the address, or reissue the certificate with \(host) in its subjectAltName"
        }
        return "the server's certificate is not for \(host): it is for \(names.joined(separator: ", ")). Use \(names.count == 1 ? "that name" : "one of those names") in the address instead of \(host), or reissue the certificate with \(host) in its subjectAltName"
    }

    init(permanent: Bool, message: String) {
        self.permanent = permanent
        self.message = message
    }

    private static func tls(_ error: NIOSSLError, host: String) -> TransportFailure {
        guard case .handshakeFailed(let detail) = error else {
            if error == .uncleanShutdown { return TransportFailure(permanent: false, message: "the server closed the TLS connection abruptly") }
            return TransportFailure(permanent: true, message: "the TLS connection to \(host) failed")
        }
        // The peer hung up before the handshake finished (a server restarting or shedding load):
        // nothing was refused, so another attempt can pass.
        switch detail {
        case .syscallError, .zeroReturn:
            return TransportFailure(permanent: false, message: "the server closed the connection during the TLS handshake")
        case .sslError(let stack) where stack.contains(.eofDuringHandshake) || stack.contains(.eofDuringAdditionalCertficiateChainValidation):
            return TransportFailure(permanent: false, message: "the server closed the connection during the TLS handshake")
        default: break
        }
        let text = "\(detail)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return TransportFailure(permanent: true, message: "the server's certificate is not trusted (or has expired): pass --cacert FILE (or set PLANVAULT_CACERT) with the CA that signed it")
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PROTOCOL_VERSION") || text.contains("UNSUPPORTED_PROTOCOL") {
            return TransportFailure(permanent: true, message: "the TLS handshake with \(host) failed: it does not offer TLS 1.2 or later (or is not a TLS server)")
        }
        return TransportFailure(permanent: true, message: "the TLS handshake with \(host) failed: it offers no TLS version or cipher this agent accepts (TLS 1.2 or later with an AEAD cipher), or is not a PlanVault server")
    }

    private static func client(_ error: HTTPClientError) -> TransportFailure {
        switch error {
        case .connectTimeout: return TransportFailure(permanent: false, message: "connection timed out")
        case .tlsHandshakeTimeout: return TransportFailure(permanent: false, message: "the TLS handshake timed out")
        case .readTimeout: return TransportFailure(permanent: false, message: "the server stopped answering (read timeout)")
        case .deadlineExceeded: return TransportFailure(permanent: false, message: "the request took too long (over 10 minutes)")
        case .remoteConnectionClosed: return TransportFailure(permanent: false, message: "the server closed the connection")
        case .invalidURL, .emptyHost, .emptyScheme:
            return TransportFailure(permanent: true, message: "the repository URL is not a valid http(s) address")
        default: return TransportFailure(permanent: false, message: "the connection failed unexpectedly")
        }
    }

    private static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "the connection was reset by the server"
        case EPIPE: return "the server closed the connection"
        case ETIMEDOUT: return "connection timed out"
        case EHOSTUNREACH, ENETUNREACH: return "the server's network is unreachable"
        default: return String(cString: strerror(code)).lowercased()
        }
    }

    /// The first value of type `T` in `error` or anything it wraps (the HTTP client nests the
    /// socket's error inside its own), looked up by reflection a few levels deep.
    static func find<T>(_ type: T.Type, in value: Any, depth: Int = 4) -> T? {
        if let match = value as? T { return match }
        guard depth > 0 else { return nil }
        for child in Mirror(reflecting: value).children {
            if let match = find(type, in: child.value, depth: depth - 1) { return match }
        }
        return nil
    }
}
