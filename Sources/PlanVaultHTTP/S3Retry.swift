import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// What an S3 request does, in the user's words: messages name the operation and the object.
struct S3Operation: Sendable {
    /// "PUT", "DELETE", "GET", "HEAD", "LIST", "completing the multipart upload of", ...
    var verb: String
    /// The object relative to the repository ("snapshots/ab12cd34ef56…", "config") or "bucket NAME".
    var object: String
    /// The IAM permission the request needs, named when S3 answers AccessDenied.
    var permission: String
    /// CompleteMultipartUpload (and CopyObject) may fail inside a 200 reply whose body is an <Error>.
    var errorIn200 = false
    /// Largest reply body accepted: XML replies are small, object bodies up to a bundle.
    var limit = 1 << 30

    var description: String { "\(verb) of \(object)" }
}

/// When and how long to retry. Only what can pass is retried: 5xx, 429, S3's retryable error
/// codes (also inside a 200 reply), timeouts and dropped connections; never a refused signature,
/// a missing object or an untrusted certificate.
struct S3RetryPolicy: Sendable {
    var attempts = 6
    /// The first delay; each further one doubles, up to `maxDelay`.
    var baseDelay: Double = 1
    var maxDelay: Double = 16
    /// A server's Retry-After is honoured up to this many seconds.
    var maxRetryAfter: Double = 60

    static let retryableCodes: Set<String> = ["InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout",
                                              "Throttling", "ThrottlingException", "RequestLimitExceeded", "OperationAborted"]

    func backoff(afterAttempt attempt: Int) -> Double {
        min(maxDelay, baseDelay * pow(2, Double(attempt - 1)))
    }

    /// Seconds from a Retry-After header (delta-seconds or an HTTP date), bounded; nil if absent or unreadable.
    func retryAfter(_ headers: HTTPHeaders, now: Date) -> Double? {
        guard let value = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds.isFinite { return min(max(0, seconds), maxRetryAfter) }
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX")
        http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = http.date(from: value) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), maxRetryAfter)
    }

    /// Why a reply should be retried, or nil if it is final (success or a permanent failure).
    static func retryCause(_ reply: HTTPTransport.Reply, _ operation: S3Operation) -> String? {
        let code = S3XML.errorCode(reply.body)
        let status = reply.status.code
        // 501 (not implemented) and 505 (HTTP version) will not pass on a later attempt.
        if (status >= 500 && status != 501 && status != 505) || status == 429 || status == 408 {
            return "S3 answered \(status)\(code.map { " " + $0 } ?? "")"
        }
        if let code, retryableCodes.contains(code), status == 400 || status == 409 || (status == 200 && operation.errorIn200) {
            return "S3 answered \(status) \(code)"
        }
        return nil
    }

    /// A connection-level failure in words, and whether trying again can help.
    static func describe(_ error: any Error, endpoint: String) async -> (message: String, retryable: Bool) {
        // The HTTP client may wrap the TLS error: looked for inside, so that an untrusted or
        // misnamed certificate stops at once with what to do, instead of being retried.
        if TransportFailure.find(NIOSSLError.self, in: error) != nil || TransportFailure.find(NIOSSLExtraError.self, in: error) != nil {
            let failure = await TransportFailure.explained(error, url: endpoint, fallbackHost: endpoint)
            return ("the TLS connection to \(endpoint) failed: \(failure.message)", !failure.permanent)
        }
        if TransportFailure.find(BoringSSLError.self, in: error) != nil {
            return ("the TLS connection to \(endpoint) failed (is its certificate trusted? give the CA certificate with --cacert or PLANVAULT_CACERT)", false)
        }
        if let io = error as? IOError {
            return ("cannot reach \(endpoint): \(String(cString: strerror(io.errnoCode)))", true)
        }
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout: return ("connecting to \(endpoint) timed out", true)
            case .readTimeout, .deadlineExceeded: return ("\(endpoint) did not answer in time", true)
            case .remoteConnectionClosed: return ("\(endpoint) closed the connection before answering", true)
            default: return ("the connection to \(endpoint) failed", true)
            }
        }
        if error is NIOTooManyBytesError { return ("\(endpoint) sent a reply larger than expected", false) }
        return ("cannot reach \(endpoint) (connection refused, reset or unreachable)", true)
    }

    static func formatDelay(_ seconds: Double) -> String {
        seconds >= 1 && seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.2g s", seconds)
    }
}
