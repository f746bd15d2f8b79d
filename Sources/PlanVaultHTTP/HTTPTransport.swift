import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PlanVaultCore

/// One HTTP client for a remote target, with retries: connection errors, timeouts, 429 and
/// 5xx (S3's 503 SlowDown included) are retried with exponential backoff; anything else is
/// returned to the caller, who knows what it means.
final class HTTPTransport: @unchecked Sendable {
    let client: HTTPClient
    let logger: Logger
    let attempts: Int
    let location: String

    struct Reply {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: [UInt8]

        /// The bytes of `range` from a successful GET (200 or 206). A server may ignore Range and
        /// send everything, or answer 200 with just the range; a body shorter than asked is damage.
        func bytes(of range: Range<UInt64>?, kind: ObjectKind, name: String) throws -> [UInt8] {
            guard let range else { return body }
            let count = UInt64(body.count)
            if count == UInt64(range.count) { return body }
            if status == .ok, count >= range.upperBound { return Array(body[Int(range.lowerBound)..<Int(range.upperBound)]) }
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "short read: wanted \(range.count) bytes, got \(count) (truncated?)")
        }
    }

    init(location: String, caCertificatePath: String?, logger: Logger, attempts: Int) throws {
        self.location = location
        self.logger = logger
        self.attempts = max(1, attempts)
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = caCertificatePath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw PlanVaultError.invalidArgument("cannot read CA certificate \(ca): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(15), read: .seconds(120)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    deinit {
        try? client.syncShutdown()
    }

    /// Sends a request; `headers` is called for every attempt (so signatures carry a fresh date).
    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, limit: Int = 1 << 30,
              headers: () -> [(String, String)]) async throws -> Reply {
        var delay: UInt64 = 250_000_000
        var lastError = "no attempt made"
        for attempt in 1...attempts {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in headers() { request.headers.replaceOrAdd(name: name, value: value) }
            if let body { request.body = .bytes(body) }
            do {
                let response = try await client.execute(request, timeout: .seconds(600))
                let bytes = try await response.body.collect(upTo: limit)
                let reply = Reply(status: response.status, headers: response.headers, body: Array(buffer: bytes))
                if reply.status.code >= 500 || reply.status == .tooManyRequests {
                    lastError = "HTTP \(reply.status.code) \(String(decoding: reply.body.prefix(200), as: UTF8.self))"
                } else {
                    return reply
                }
            } catch {
                lastError = "\(error)"
            }
            guard attempt < attempts else { break }
            logger.info("\(method) \(url) failed (\(lastError)); retrying in \(delay / 1_000_000) ms")
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 8_000_000_000)
        }
        throw PlanVaultError.backend(location: location, message: "\(method) failed after \(attempts) attempts: \(lastError)")
    }
}
