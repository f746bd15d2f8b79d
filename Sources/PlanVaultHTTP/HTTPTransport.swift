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

        /// The bytes of `range` from a successful GET (200 or 206). A server that ignores Range
        /// and sends everything had only the range kept as the body arrived (`ResponseBody`); a
        /// body shorter than asked is damage.
        func bytes(of range: Range<UInt64>?, kind: ObjectKind, name: String) throws -> [UInt8] {
            guard let range, body.count != range.count else { return body }
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "short read: wanted \(range.count) bytes, got \(body.count) (truncated?)")
        }
    }

    init(location: String, caCertificatePath: String?, logger: Logger, attempts: Int) throws {
        self.location = location
        self.logger = logger
        self.attempts = max(1, attempts)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let ca = caCertificatePath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw PlanVaultError.invalidArgument("cannot read CA certificate \(ca): it must be a PEM file with one or more certificates")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(120)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        // A failed connection fails the request at once, so that this class decides what to retry
        // (the client's own pool would retry a bad certificate until the connect timeout).
        configuration.connectionPool.retryConnectionEstablishment = false
        // A redirect could move the token to another host, or from https to http: never followed.
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    deinit {
        try? client.syncShutdown()
    }

    /// Sends a request; `headers` is called for every attempt (so signatures carry a fresh date).
    /// Transient failures are retried with exponential backoff, each retry reported on the logger
    /// (stderr) with its cause; permanent ones (see `TransportFailure`) throw at once.
    /// `limit`: the longest body accepted; `range`: the bytes a ranged GET asks for (see
    /// `ResponseBody.bytes`).
    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, limit: Int = 1 << 30, range: Range<UInt64>? = nil,
              headers: () -> [(String, String)]) async throws -> Reply {
        var delay: UInt64 = 500_000_000
        var cause = "no attempt made"
        for attempt in 1...attempts {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in headers() { request.headers.replaceOrAdd(name: name, value: value) }
            if let body { request.body = .bytes(body) }
            do {
                let response = try await client.execute(request, timeout: .seconds(600))
                let bytes = try await ResponseBody.bytes(of: response, limit: limit, range: range)
                let reply = Reply(status: response.status, headers: response.headers, body: bytes)
                guard Self.isTransient(reply.status) else { return reply }
                cause = "the server answered HTTP \(reply.status.code) \(reply.status.reasonPhrase)"
            } catch {
                let failure = await TransportFailure.explained(error, url: url, fallbackHost: location)
                if failure.permanent {
                    logger.debug("\(method) \(url): \(String(reflecting: error))")
                    throw PlanVaultError.backend(location: location, message: failure.message)
                }
                cause = failure.message
            }
            guard attempt < attempts else { break }
            logger.warning("retrying in \(Self.seconds(delay)) s: \(cause) (attempt \(attempt + 1) of \(attempts))")
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 8_000_000_000)
        }
        throw PlanVaultError.backend(location: location, message: "gave up after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(cause); check that the server is running and reachable, then run the command again\(attempts < 21 ? " (--retries 20 tries for longer)" : "")")
    }

    /// The longest body a GET of `kind` may bring: the range asked for, or the largest object of
    /// the kind (FORMAT.md §14), and never more than 1 GiB, the most one reply is held in memory.
    static func readLimit(_ kind: ObjectKind, _ range: Range<UInt64>?) -> Int {
        min(range.map { Int(clamping: $0.count) } ?? Int(clamping: Limits.maxObjectSize(kind)), 1 << 30)
    }

    /// 429 and 5xx may pass on a later attempt; 501 (not implemented), 505 (version) and 507
    /// (the repository is full) will not, and are returned to the caller to explain.
    static func isTransient(_ status: HTTPResponseStatus) -> Bool {
        status == .tooManyRequests || (status.code >= 500 && ![501, 505, 507].contains(status.code))
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)" : String(format: "%.1f", Double(nanoseconds) / 1e9)
    }
}
