import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PlanVaultCore

/// Signed requests with S3-aware retries, and S3 error replies turned into messages that say what to do.
extension S3Backend {
    typealias Reply = HTTPTransport.Reply

    /// `bodyHash`: the body's SHA-256 in hex when the caller knows it already (a content-addressed
    /// object is named by it), so 16 MiB bundles are not hashed a second time to sign them. A
    /// wrong one is refused by the server (XAmzContentSHA256Mismatch), never stored.
    func send(_ operation: S3Operation, _ method: HTTPMethod, key: String?, query: [(String, String)] = [],
              headers extra: [String: String] = [:], body: [UInt8]? = nil, bodyHash: String? = nil,
              range: Range<UInt64>? = nil) async throws -> Reply {
        try await sendCounting(operation, method, key: key, query: query, headers: extra, body: body, bodyHash: bodyHash, range: range).reply
    }

    /// Sends a request, retrying what can pass; also returns how many attempts it took, so that a
    /// non-idempotent caller can recognise its own earlier success behind a later error.
    func sendCounting(_ operation: S3Operation, _ method: HTTPMethod, key: String?, query: [(String, String)] = [],
                      headers extra: [String: String] = [:], body: [UInt8]? = nil,
                      bodyHash: String? = nil, range: Range<UInt64>? = nil) async throws -> (reply: Reply, attempts: Int) {
        let path = path(key)
        let encodedQuery = SigV4.canonicalQuery(query)
        let url = "\(scheme)://\(host)\(SigV4.uriEncode(path, keepSlash: true))\(encodedQuery.isEmpty ? "" : "?" + encodedQuery)"
        let payloadHash = body.map { bodyHash ?? LibCrypto.sha256($0).hex } ?? SigV4.emptyPayloadHash
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = method
            var headers = extra
            headers["host"] = host
            // Signed afresh for every attempt: a signature is valid for 15 minutes only.
            for (name, value) in signer.sign(method: method.rawValue, path: path, query: query, headers: headers,
                                             payloadHash: payloadHash, date: clock()) {
                request.headers.replaceOrAdd(name: name, value: value)
            }
            if let body { request.body = .bytes(body) }
            let cause: String
            var wait: Double?
            do {
                let response = try await transport.client.execute(request, timeout: .seconds(600))
                let bytes = try await ResponseBody.bytes(of: response, limit: operation.limit, range: range)
                let reply = Reply(status: response.status, headers: response.headers, body: bytes)
                // A whole object sent for a range had only the range kept: what it should hold is
                // the part of the range the declared length covers.
                var expected = reply.headers.first(name: "Content-Length").flatMap(Int.init)
                if let range, let declared = expected, ResponseBody.isWholeObject(response, for: range) {
                    expected = Int(min(UInt64(declared), range.upperBound) - min(UInt64(declared), range.lowerBound))
                }
                if method != .HEAD, let expected, expected != reply.body.count {
                    cause = "the reply was cut short (\(reply.body.count) of \(expected) bytes)"
                } else if let why = S3RetryPolicy.retryCause(reply, operation) {
                    cause = why
                    wait = retry.retryAfter(reply.headers, now: Date())
                } else {
                    return (reply, attempt)
                }
            } catch {
                let (message, retryable) = await S3RetryPolicy.describe(error, endpoint: options.endpoint)
                guard retryable else { throw PlanVaultError.backend(location: location, message: "S3 \(operation.description): \(message)") }
                cause = message
            }
            guard attempt < retry.attempts else {
                throw PlanVaultError.backend(location: location,
                                             message: "S3 \(operation.description) failed after \(attempt) attempts: \(cause); try again later")
            }
            let delay = wait ?? retry.backoff(afterAttempt: attempt)
            report("retrying in \(S3RetryPolicy.formatDelay(delay)): \(cause) (\(operation.description), attempt \(attempt) of \(retry.attempts))")
            try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
        }
    }

    /// HEAD replies carry no body, so a bare 403 does not say why; a one-byte GET of the same
    /// object (or a one-key listing of the bucket) brings S3's reason.
    func explainBareRefusal(_ reply: Reply, _ operation: S3Operation, key: String?) async -> Reply {
        guard reply.status == .forbidden, reply.body.isEmpty else { return reply }
        let probe = key == nil
            ? try? await send(operation, .GET, key: nil, query: [("list-type", "2"), ("max-keys", "1")])
            : try? await send(operation, .GET, key: key, headers: ["range": "bytes=0-0"])
        guard let probe, S3XML.errorCode(probe.body) != nil else { return reply }
        return probe
    }

    /// Turns an S3 error reply into a message that names the operation and says what to do.
    func failure(_ reply: Reply, _ operation: S3Operation) -> PlanVaultError {
        let document = S3XML.document(reply.body, elements: ["Code", "Message", "ServerTime"])
        let isError = document?.root == "Error"
        // A bodiless 403 is a refusal all the same.
        let code = (isError ? document?.values["Code"]?.first : nil) ?? (reply.status == .forbidden ? "AccessDenied" : "HTTP \(reply.status.code)")
        let detail = (isError ? document?.values["Message"]?.first : nil).map { " (\($0))" } ?? ""
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "InvalidSecurity":
            let token = options.credentials.sessionToken == nil ? "" : " and AWS_SESSION_TOKEN"
            return .backend(location: location, message: "S3 refused the request (\(code)) for \(operation.description): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\(token) (or the keys file)\(detail)")
        case "AccessDenied", "AllAccessDisabled":
            return .backend(location: location, message: "S3 refused \(operation.description): \(code) — the credentials lack \(operation.permission), or a bucket policy forbids it")
        case "RequestTimeTooSkewed":
            return .backend(location: location, message: "S3 refused \(operation.description) because the local clock differs from the server's\(skew(reply, serverTime: document?.values["ServerTime"]?.first)) and S3 allows 15 minutes: set this machine's clock right (enable NTP, e.g. `timedatectl set-ntp true`) and try again")
        case "NoSuchBucket":
            return .repositoryNotFound(location: location)
        default:
            return .backend(location: location, message: "S3 \(operation.description) failed: \(code)\(detail)")
        }
    }

    /// " by about N minutes (local …, server …)", from the error's ServerTime or the reply's Date.
    private func skew(_ reply: Reply, serverTime: String?) -> String {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX")
        http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let server = serverTime.flatMap { iso.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) }
            ?? reply.headers.first(name: "Date").flatMap { http.date(from: $0) }
        guard let server else { return "" }
        let local = clock()
        let minutes = Int((abs(local.timeIntervalSince(server)) / 60).rounded())
        return " by about \(minutes) minutes (this machine: \(Self.isoDate(local)), S3: \(Self.isoDate(server)))"
    }
}
