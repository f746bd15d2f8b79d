import Foundation
import Logging
import NIOHTTP1
import PlanVaultCore

public struct S3Options: Sendable {
    public var bucket: String
    /// Key prefix without leading or trailing "/" (may be empty).
    public var prefix: String
    /// e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000
    public var endpoint: String
    public var region: String
    /// Path-style (`endpoint/bucket/key`) rather than virtual-hosted (`bucket.endpoint/key`).
    public var pathStyle: Bool
    public var credentials: S3Credentials
    /// Object Lock retention given to every object written, if set.
    public var objectLockDays: Int?
    public var objectLockMode = "COMPLIANCE"
    /// Objects larger than this go up in parts of this size.
    public var partSize = 64 * 1024 * 1024

    /// Parses `s3://BUCKET/PREFIX`.
    public static func parse(url: String, endpoint: String?, region: String?, pathStyle: Bool?, credentials: S3Credentials) throws -> S3Options {
        guard url.hasPrefix("s3://") else { throw PlanVaultError.invalidArgument("\(url) is not an s3:// URL") }
        let rest = url.dropFirst(5).split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let bucket = rest.first, !bucket.isEmpty else { throw PlanVaultError.invalidArgument("\(url): expected s3://BUCKET/PREFIX") }
        let region = region ?? "us-east-1"
        var endpoint = endpoint ?? "https://s3.\(region).amazonaws.com"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        // Custom endpoints (MinIO, Ceph, test servers) mostly want path-style; AWS prefers virtual-hosted.
        let isAWS = endpoint.contains("amazonaws.com")
        return S3Options(bucket: bucket, prefix: rest.dropFirst().joined(separator: "/"), endpoint: endpoint, region: region,
                         pathStyle: pathStyle ?? (!isAWS || bucket.contains(".")), credentials: credentials)
    }
}

/// A repository in S3-compatible object storage. Objects keep the directory-target layout under
/// the prefix (`PREFIX/config`, `PREFIX/bundles/NA/NAME`, ...), so they stay plain content-addressed
/// files: `aws s3 ls` lists them and a downloaded bundle hashes to its own name.
public final class S3Backend: Backend, RetentionInspecting, @unchecked Sendable {
    public let options: S3Options
    public let location: String
    let transport: HTTPTransport
    let signer: SigV4
    let host: String
    let scheme: String

    public init(options: S3Options, caCertificatePath: String?, logger: Logger, attempts: Int = 6) throws {
        self.options = options
        location = "s3://\(options.bucket)\(options.prefix.isEmpty ? "" : "/" + options.prefix)"
        guard let endpoint = URL(string: options.endpoint), let scheme = endpoint.scheme, let endpointHost = endpoint.host else {
            throw PlanVaultError.invalidArgument("S3 endpoint \(options.endpoint) is not a URL like https://HOST[:PORT]")
        }
        self.scheme = scheme
        let hostPort = endpoint.port.map { "\(endpointHost):\($0)" } ?? endpointHost
        host = options.pathStyle ? hostPort : "\(options.bucket).\(hostPort)"
        signer = SigV4(credentials: options.credentials, region: options.region)
        transport = try HTTPTransport(location: location, caCertificatePath: caCertificatePath, logger: logger, attempts: attempts)
    }

    // MARK: Requests

    func key(_ kind: ObjectKind, _ name: String) -> String {
        let relative: String
        switch kind {
        case .config: relative = "config"
        case .bundle: relative = "bundles/\(name.prefix(2))/\(name)"
        default: relative = "\(kind.rawValue)/\(name)"
        }
        return options.prefix.isEmpty ? relative : "\(options.prefix)/\(relative)"
    }

    /// The unencoded request path for a key (or the bucket itself when key is nil).
    func path(_ key: String?) -> String {
        let keyPart = key.map { "/" + $0 } ?? "/"
        return options.pathStyle ? "/\(options.bucket)\(key == nil ? "" : keyPart)" : keyPart
    }

    func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [String: String] = [:],
              body: [UInt8]? = nil) async throws -> HTTPTransport.Reply {
        let path = path(key)
        let encodedQuery = SigV4.canonicalQuery(query)
        let url = "\(scheme)://\(host)\(SigV4.uriEncode(path, keepSlash: true))\(encodedQuery.isEmpty ? "" : "?" + encodedQuery)"
        let payloadHash = body.map { LibCrypto.sha256($0).hex } ?? SigV4.emptyPayloadHash
        return try await transport.send(method, url, body: body) {
            var headers = extra
            headers["host"] = host
            return signer.sign(method: method.rawValue, path: path, query: query, headers: headers, payloadHash: payloadHash, date: Date())
                .map { ($0.key, $0.value) }
        }
    }

    /// Turns an S3 error reply into a message that says what to do.
    func failure(_ reply: HTTPTransport.Reply, _ what: String) -> PlanVaultError {
        let fields = S3XML.parse(reply.body, elements: ["Code", "Message"]) ?? [:]
        // HEAD replies carry no body: a bare 403 is a refusal all the same.
        let code = fields["Code"]?.first ?? (reply.status == .forbidden ? "AccessDenied" : "HTTP \(reply.status.code)")
        let message = fields["Message"]?.first ?? ""
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken":
            return .backend(location: location, message: "S3 refused the request (\(code)): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the keys file) and the clock. \(message)")
        case "NoSuchBucket":
            return .repositoryNotFound(location: location)
        default:
            return .backend(location: location, message: "S3 \(what) failed: \(code) \(message)")
        }
    }

    // MARK: Backend

    public func prepare() async throws {
        let head = try await send(.HEAD, key: nil)
        if head.status == .ok { return }
        guard head.status == .notFound else { throw failure(head, "checking the bucket") }
        var headers = [String: String]()
        if options.objectLockDays != nil { headers["x-amz-bucket-object-lock-enabled"] = "true" }
        var body: [UInt8]?
        if options.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(options.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        let created = try await send(.PUT, key: nil, headers: headers, body: body)
        guard created.status == .ok else { throw failure(created, "creating bucket \(options.bucket)") }
    }

    public func list(_ kind: ObjectKind) async throws -> [ObjectInfo] {
        if kind == .config {
            return try await stat(.config, name: ObjectName.config).map { [$0] } ?? []
        }
        let prefix = (options.prefix.isEmpty ? "" : options.prefix + "/") + kind.rawValue + "/"
        var out = [ObjectInfo]()
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")]
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send(.GET, key: nil, query: query)
            guard reply.status == .ok else { throw failure(reply, "listing \(kind.rawValue)") }
            guard let fields = S3XML.parse(reply.body, elements: ["Key", "Size", "IsTruncated", "NextContinuationToken"]) else {
                throw PlanVaultError.backend(location: location, message: "unreadable ListObjectsV2 response")
            }
            let keys = fields["Key"] ?? [], sizes = fields["Size"] ?? []
            guard keys.count == sizes.count else { throw PlanVaultError.backend(location: location, message: "malformed ListObjectsV2 response") }
            for (key, size) in zip(keys, sizes) {
                let name = String(key.split(separator: "/").last ?? "")
                if ObjectName.isValid(name), let bytes = UInt64(size) { out.append(ObjectInfo(name: name, size: bytes)) }
            }
            let truncated = fields["IsTruncated"]?.first == "true"
            token = truncated ? fields["NextContinuationToken"]?.first : nil
            if truncated && token == nil { throw PlanVaultError.backend(location: location, message: "listing truncated without a continuation token") }
        } while token != nil
        return out
    }

    public func read(_ kind: ObjectKind, name: String, range: Range<UInt64>?) async throws -> [UInt8] {
        try ObjectName.validate(kind, name)
        var headers = [String: String]()
        if let range {
            guard !range.isEmpty else { return [] }
            headers["range"] = "bytes=\(range.lowerBound)-\(range.upperBound - 1)"
        }
        let reply = try await send(.GET, key: key(kind, name), headers: headers)
        switch reply.status {
        case .ok, .partialContent:
            return try reply.bytes(of: range, kind: kind, name: name)
        case .notFound:
            if kind == .config { throw PlanVaultError.repositoryNotFound(location: location) }
            throw PlanVaultError.objectMissing(kind: kind, name: name)
        case .rangeNotSatisfiable:
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "shorter than expected (truncated?)")
        default:
            throw failure(reply, "reading \(kind.singular) \(name.prefix(12))")
        }
    }

    public func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo? {
        try ObjectName.validate(kind, name)
        let reply = try await send(.HEAD, key: key(kind, name))
        if reply.status == .notFound { return nil }
        guard reply.status == .ok else { throw failure(reply, "checking \(kind.singular) \(name.prefix(12))") }
        return ObjectInfo(name: name, size: reply.headers.first(name: "Content-Length").flatMap(UInt64.init) ?? 0)
    }

    public func write(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        // Resume cheaply: an object already stored under its content address is not sent again.
        if kind.isContentAddressed, let existing = try await stat(kind, name: name), existing.size == UInt64(data.count) { return }
        if data.count > options.partSize {
            try await writeMultipart(key(kind, name), data)
            return
        }
        let reply = try await send(.PUT, key: key(kind, name), headers: lockHeaders(data), body: data)
        guard reply.status == .ok else { throw failure(reply, "writing \(kind.singular) \(name.prefix(12))") }
    }

    /// Minimal (server-fixes branch, to compile): a PUT without the exists-check. The S3 owner replaces it.
    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        if data.count > options.partSize {
            try await writeMultipart(key(kind, name), data)
            return
        }
        let reply = try await send(.PUT, key: key(kind, name), headers: lockHeaders(data), body: data)
        guard reply.status == .ok else { throw failure(reply, "repairing \(kind.singular) \(name.prefix(12))") }
    }

    /// Object Lock retention headers, and Content-MD5 on every body: S3 requires it whenever
    /// the bucket has Object Lock, even through a default retention rule.
    func lockHeaders(_ data: [UInt8]?) -> [String: String] {
        var headers = [String: String]()
        if let data { headers["content-md5"] = LibCrypto.md5Base64(data) }
        guard let days = options.objectLockDays else { return headers }
        headers["x-amz-object-lock-mode"] = options.objectLockMode
        headers["x-amz-object-lock-retain-until-date"] = Self.isoDate(Date().addingTimeInterval(Double(days) * 86400))
        return headers
    }

    static func isoDate(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    func writeMultipart(_ key: String, _ data: [UInt8]) async throws {
        let start = try await send(.POST, key: key, query: [("uploads", "")], headers: lockHeaders(nil))
        guard start.status == .ok, let uploadID = S3XML.parse(start.body, elements: ["UploadId"])?["UploadId"]?.first else {
            throw failure(start, "starting a multipart upload")
        }
        do {
            var etags = [String]()
            var offset = 0
            var part = 1
            while offset < data.count {
                let piece = Array(data[offset..<min(offset + options.partSize, data.count)])
                let headers = ["content-md5": LibCrypto.md5Base64(piece)]
                let reply = try await send(.PUT, key: key, query: [("partNumber", String(part)), ("uploadId", uploadID)], headers: headers, body: piece)
                guard reply.status == .ok, let etag = reply.headers.first(name: "ETag") else { throw failure(reply, "uploading part \(part)") }
                etags.append(etag)
                offset += piece.count
                part += 1
            }
            let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>" }.joined()
            let body = Array("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(parts)</CompleteMultipartUpload>".utf8)
            let done = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: body)
            // S3 can report a failed completion inside a 200 response.
            guard done.status == .ok, S3XML.parse(done.body, elements: ["Code"])?["Code"] == nil else {
                throw failure(done, "completing a multipart upload")
            }
        } catch {
            _ = try? await send(.DELETE, key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }

    public func delete(_ kind: ObjectKind, name: String) async throws {
        try ObjectName.validate(kind, name)
        let reply = try await send(.DELETE, key: key(kind, name))
        guard reply.status == .noContent || reply.status == .ok || reply.status == .notFound else {
            throw failure(reply, "deleting \(kind.singular) \(name.prefix(12))")
        }
    }

    // MARK: Retention

    public func retention(_ kind: ObjectKind, name: String) async throws -> ObjectRetention {
        let reply = try await send(.HEAD, key: key(kind, name))
        guard reply.status == .ok else { throw failure(reply, "checking retention of \(kind.singular) \(name.prefix(12))") }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let until = reply.headers.first(name: "x-amz-object-lock-retain-until-date").flatMap { iso.date(from: $0) ?? plain.date(from: $0) }
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX")
        http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let modified = reply.headers.first(name: "Last-Modified").flatMap { http.date(from: $0) }
        return ObjectRetention(retainUntil: until, mode: reply.headers.first(name: "x-amz-object-lock-mode"), lastModified: modified)
    }
}
