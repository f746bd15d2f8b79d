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
    /// Runs until SIGTERM or SIGINT; in-flight requests finish (or their partial uploads are
    /// discarded) before it returns. `onListening` receives the bound address, e.g. "127.0.0.1:41234".
    public static func run(_ options: ServerOptions, logger: Logger, onListening: @escaping @Sendable (String) -> Void) async throws {
        try options.validate()
        let tokens = try TokenStore(path: options.tokensPath, logger: logger)
        if tokens.current.tokens.isEmpty {
            logger.warning("the tokens file has no tokens: every request will be refused (add one with `planvault serve token add`)")
        }
        let responder = ObjectResponder(store: ObjectStore(root: options.root), tokens: tokens, appendOnly: options.appendOnly,
                                        maxObjectSize: options.maxObjectSize, accessLog: AccessLog(logger: logger))
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(options.idleTimeout)))
        let server: HTTPServerBuilder
        if let cert = options.tlsCertificatePath, let key = options.tlsKeyPath {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(http1, tlsConfiguration: tls)
        } else {
            server = http1
        }
        let scheme = options.tlsCertificatePath == nil ? "http" : "https"
        let app = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "planvault"),
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
}
