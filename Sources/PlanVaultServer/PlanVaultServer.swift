import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PlanVaultCore

/// `planvault serve`: a small HTTPS server holding repositories for agents at the main site.
public enum PlanVaultServer {
    /// Runs until SIGTERM or SIGINT; in-flight requests get `drainTimeout` seconds to finish (partial
    /// uploads are discarded) before it returns. `onListening` receives the bound address, e.g. "127.0.0.1:41234".
    public static func run(_ options: ServerOptions, logger: Logger, onListening: @escaping @Sendable (String) -> Void) async throws {
        try options.validate()
        let tokens = try TokenStore(path: options.tokensPath, logger: logger)
        if tokens.current.tokens.isEmpty {
            logger.warning("the tokens file has no tokens: every request will be refused (add one with `planvault serve token add`)")
        }
        let store = ObjectStore(root: options.root)
        let stale = store.removeUnfinishedUploads()
        if stale > 0 { logger.notice("removed \(stale) unfinished upload(s) left by an earlier run") }
        let responder = ObjectResponder(store: store, tokens: tokens, appendOnly: options.appendOnly,
                                        maxObjectSize: options.maxObjectSize,
                                        usage: RepositoryUsage(store: store, limit: options.maxRepositorySize),
                                        accessLog: AccessLog(logger: logger))
        let timeout = TimeAmount.seconds(options.idleTimeout), drain = TimeAmount.seconds(options.drainTimeout)
        // Hummingbird's idle timer is off: ConnectionGuard replaces it, in both directions.
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [ConnectionGuard(timeout: timeout, drainTimeout: drain, logger: logger)], idleTimeout: nil))
        let server: HTTPServerBuilder
        if let cert = options.tlsCertificatePath, let key = options.tlsKeyPath {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            tls.cipherSuiteValues = tls12CipherSuites
            // A closing connection waits this long for the client's close_notify (default 5 s). A client
            // still sending a refused body never sends one, and would hold the connection (and shutdown).
            tls.shutdownTimeout = .seconds(1)
            server = try .tls(http1, tlsConfiguration: tls)
        } else {
            server = http1
        }
        let scheme = options.tlsCertificatePath == nil ? "http" : "https"
        let app = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "planvault",
                                 availableConnectionsDelegate: MaximumAvailableConnections(options.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                let host = options.host.contains(":") ? "[\(options.host)]" : options.host
                logger.notice("listening on \(scheme)://\(host):\(port) (root \(options.root)\(options.appendOnly ? ", append-only" : ""))")
                onListening("\(host):\(port)")
            },
            logger: logger
        )
        try await app.runService()
    }

    /// TLS 1.2 suites with forward secrecy and AEAD only (no CBC, no SHA-1 MACs); TLS 1.3 suites are all AEAD.
    static let tls12CipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
}
