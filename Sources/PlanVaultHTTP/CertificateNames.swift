import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// The names a TLS server's certificate carries, for a hostname-mismatch message that says which
/// name would work. Read by a separate handshake that trusts nothing it sees: the callback records
/// the leaf certificate's names and refuses it, so no request is ever sent on that connection.
enum CertificateNames {
    static func probe(host: String, port: Int, timeout: TimeAmount = .seconds(5)) async -> [String] {
        let seen = Seen()
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .noHostnameVerification
            let context = try NIOSSLContext(configuration: tls)
            let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let refuse: NIOSSLCustomVerificationCallback = { certificates, promise in
                            seen.set(certificates.first.map(names(of:)) ?? [])
                            promise.succeed(NIOSSLVerificationResult.failed)
                        }
                        let handler = try NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: refuse)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
            let channel = try await bootstrap.connect(host: host, port: port).get()
            // The refused handshake closes the channel; a server that never answers is cut off.
            let deadline = channel.eventLoop.scheduleTask(in: timeout) { _ = channel.close() }
            try? await channel.closeFuture.get()
            deadline.cancel()
        } catch {
            return seen.value
        }
        return seen.value
    }

    /// DNS names and IP addresses from the subjectAltName extension, in certificate order.
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        var out: [String] = []
        for name in certificate._subjectAlternativeNames() {
            let bytes = Array(name.contents)
            if name.nameType == .dnsName {
                out.append(String(decoding: bytes, as: UTF8.self))
            } else if name.nameType == .ipAddress, bytes.count == 4 || bytes.count == 16 {
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
                let family = bytes.count == 4 ? AF_INET : AF_INET6
                if bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }) != nil {
                    out.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            }
        }
        return out
    }

    private final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var names: [String] = []
        func set(_ value: [String]) { lock.lock(); names = value; lock.unlock() }
        var value: [String] { lock.lock(); defer { lock.unlock() }; return names }
    }
}
