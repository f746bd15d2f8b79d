import Foundation
import Logging
import NIOHTTP1
import PlanVaultCore
import Synchronization

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
    /// Objects larger than this go up in parts of this size (S3 allows 5 MiB to 5 GiB).
    public var partSize = 64 * 1024 * 1024
    public static let partSizeRange = 5 * 1024 * 1024...5 * 1024 * 1024 * 1024

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
    /// Each read waits a round trip before its first byte: keep more of them going than on disk.
    public var readsInFlight: Int { 12 }
    public let options: S3Options
    public let location: String
    let transport: HTTPTransport
    let signer: SigV4
    let host: String
    let scheme: String
    let logger: Logger
    var retry: S3RetryPolicy
    /// Prints retries and warnings (standard error through the logger); tests collect them.
    var report: @Sendable (String) -> Void
    /// The time requests are signed with (tests set it off to provoke RequestTimeTooSkewed).
    var clock: @Sendable () -> Date = { Date() }
    /// Incomplete multipart uploads older than this are aborted before the first write (see README).
    var staleUploadAge: TimeInterval = 24 * 3600
    let cleanup = StaleUploadCleanup()
    /// Set when the server refused a content-addressed PUT that carried S3's SHA-256 checksum in
    /// a way Content-MD5 may cure (an S3-compatible server older than S3's additional checksums:
    /// it wants Content-MD5 on an Object Lock bucket, or does not take the checksum headers):
    /// from then on every body carries Content-MD5 instead.
    let contentMD5Required = Atomic<Bool>(false)

    public init(options: S3Options, caCertificatePath: String?, logger: Logger, attempts: Int = 6) throws {
        self.options = options
        self.logger = logger
        location = "s3://\(options.bucket)\(options.prefix.isEmpty ? "" : "/" + options.prefix)"
        guard let endpoint = URL(string: options.endpoint), let scheme = endpoint.scheme, let endpointHost = endpoint.host else {
            throw PlanVaultError.invalidArgument("S3 endpoint \(options.endpoint) is not a URL like https://HOST[:PORT]")
        }
        guard S3Options.partSizeRange.contains(options.partSize) else {
            throw PlanVaultError.invalidArgument("S3 part size \(options.partSize) bytes is outside S3's limits (5 MiB to 5 GiB)")
        }
        self.scheme = scheme
        let hostPort = endpoint.port.map { "\(endpointHost):\($0)" } ?? endpointHost
        host = options.pathStyle ? hostPort : "\(options.bucket).\(hostPort)"
        signer = SigV4(credentials: options.credentials, region: options.region)
        retry = S3RetryPolicy(attempts: max(1, attempts))
        report = { [logger] in logger.warning("\($0)") }
        transport = try HTTPTransport(location: location, caCertificatePath: caCertificatePath, logger: logger, attempts: 1)
    }

    // MARK: Keys and names

    /// The key relative to the prefix: the directory target's path.
    func relativeKey(_ kind: ObjectKind, _ name: String) -> String {
        switch kind {
        case .config: return "config"
        case .bundle: return "bundles/\(name.prefix(2))/\(name)"
        default: return "\(kind.rawValue)/\(name)"
        }
    }

    func key(_ kind: ObjectKind, _ name: String) -> String {
        options.prefix.isEmpty ? relativeKey(kind, name) : "\(options.prefix)/\(relativeKey(kind, name))"
    }

    /// An object as messages name it: "snapshots/ab12cd34ef56…", "config".
    func label(_ kind: ObjectKind, _ name: String) -> String {
        kind == .config ? "config" : "\(kind.rawValue)/\(name.prefix(12))…"
    }

    var bucketLabel: String { "bucket \(options.bucket)" }

    /// The unencoded request path for a key (or the bucket itself when key is nil).
    func path(_ key: String?) -> String {
        let keyPart = key.map { "/" + $0 } ?? "/"
        return options.pathStyle ? "/\(options.bucket)\(key == nil ? "" : keyPart)" : keyPart
    }

    // MARK: Backend

    public func prepare() async throws {
        let check = S3Operation(verb: "HEAD", object: bucketLabel, permission: "s3:ListBucket", limit: 1 << 20)
        let head = try await send(check, .HEAD, key: nil)
        if head.status == .ok { return }
        guard head.status == .notFound else { throw failure(await explainBareRefusal(head, check, key: nil), check) }
        var headers = [String: String]()
        if options.objectLockDays != nil { headers["x-amz-bucket-object-lock-enabled"] = "true" }
        var body: [UInt8]?
        if options.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(options.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        let create = S3Operation(verb: "CreateBucket", object: bucketLabel, permission: "s3:CreateBucket", limit: 1 << 20)
        let (created, attempts) = try await sendCounting(create, .PUT, key: nil, headers: headers, body: body)
        if created.status == .ok { return }
        switch S3XML.errorCode(created.body) {
        case "BucketAlreadyOwnedByYou":
            return  // our own earlier attempt created it, and its reply was lost
        case "BucketAlreadyExists":
            // Some servers say this for a bucket we own too: if we can reach it, our earlier attempt made it.
            if attempts > 1, try await send(check, .HEAD, key: nil).status == .ok { return }
            throw PlanVaultError.backend(location: location, message: "the bucket name \(options.bucket) is taken by another account (S3 bucket names are global): choose another bucket name")
        default:
            throw failure(created, create)
        }
    }

    /// Most pages of one listing (of up to 1,000 objects each).
    var maxListingPages = 20_000

    public func list(_ kind: ObjectKind) async throws -> [ObjectInfo] {
        if kind == .config {
            return try await stat(.config, name: ObjectName.config).map { [$0] } ?? []
        }
        let prefix = (options.prefix.isEmpty ? "" : options.prefix + "/") + kind.rawValue + "/"
        let operation = S3Operation(verb: "LIST", object: "\(kind.rawValue)/", permission: "s3:ListBucket", limit: 16 << 20)
        var out = [ObjectInfo]()
        var token: String?
        var seenTokens = Set<String>()
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")]
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send(operation, .GET, key: nil, query: query)
            guard reply.status == .ok else { throw failure(reply, operation) }
            let page = try S3Listing(reply.body, location: location)
            out += page.objects
            token = page.continuationToken
            // A server repeating a token would make this loop forever, and one sending endless
            // new ones would grow it without end: 20,000 pages is 20 million objects.
            if let token, !seenTokens.insert(token).inserted {
                throw PlanVaultError.backend(location: location, message: "S3 listed \(kind.rawValue)/ in a loop (a continuation token came back twice); the listing cannot be trusted")
            }
            if token != nil, seenTokens.count >= maxListingPages {
                throw PlanVaultError.backend(location: location, message: "S3 listed \(kind.rawValue)/ for more than \(maxListingPages) pages (\(out.count) objects) and was not done; the listing cannot be trusted")
            }
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
        // A reply is never longer than what was asked for, or than an object of its kind may be.
        let operation = S3Operation(verb: "GET", object: label(kind, name), permission: "s3:GetObject", limit: HTTPTransport.readLimit(kind, range))
        let reply = try await send(operation, .GET, key: key(kind, name), headers: headers, range: range)
        switch reply.status {
        case .ok, .partialContent:
            return try reply.bytes(of: range, kind: kind, name: name)
        case .notFound:
            if kind == .config { throw PlanVaultError.repositoryNotFound(location: location) }
            throw PlanVaultError.objectMissing(kind: kind, name: name)
        case .rangeNotSatisfiable:
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "shorter than expected (truncated?)")
        default:
            throw failure(reply, operation)
        }
    }

    public func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo? {
        try ObjectName.validate(kind, name)
        let operation = S3Operation(verb: "HEAD", object: label(kind, name), permission: "s3:GetObject")
        let reply = try await send(operation, .HEAD, key: key(kind, name))
        if reply.status == .notFound { return nil }
        guard reply.status == .ok else { throw failure(await explainBareRefusal(reply, operation, key: key(kind, name)), operation) }
        guard let size = reply.headers.first(name: "Content-Length").flatMap(UInt64.init) else {
            throw PlanVaultError.backend(location: location, message: "S3 HEAD of \(label(kind, name)) gave no size (Content-Length)")
        }
        return ObjectInfo(name: name, size: size)
    }

    public func write(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        await abortStaleUploadsOnce()
        // Resume cheaply: an object already stored under its content address is not sent again.
        if kind.isContentAddressed, let existing = try await stat(kind, name: name), existing.size == UInt64(data.count) { return }
        try await put(kind, name: name, data: data)
    }

    public func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        try ObjectName.validate(kind, name)
        await abortStaleUploadsOnce()
        // No exists-check: the stored copy is the damaged one.
        try await put(kind, name: name, data: data)
    }

    func put(_ kind: ObjectKind, name: String, data: [UInt8]) async throws {
        if data.count > options.partSize {
            try await writeMultipart(key(kind, name), label: label(kind, name), data)
            return
        }
        let operation = S3Operation(verb: "PUT", object: label(kind, name), permission: "s3:PutObject", limit: 1 << 20)
        // A content-addressed object is named by the SHA-256 of its bytes: that is the signature's
        // payload hash and the integrity checksum, not computed again (nor an MD5 beside it).
        let sha256 = kind.isContentAddressed ? name : nil
        // Lock objects must stay deletable: they never get a retention lock.
        let retention = kind != .lock
        let headers = uploadHeaders(data, sha256: sha256, retention: retention)
        var reply = try await send(operation, .PUT, key: key(kind, name), headers: headers, body: data, bodyHash: sha256)
        if reply.status != .ok, headers["x-amz-checksum-sha256"] != nil, Self.refusesChecksum(reply) {
            // Said once, though several uploads in flight may be refused before the switch.
            if contentMD5Required.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
                let why = S3XML.errorCode(reply.body).map { " (\($0))" } ?? ""
                report("the S3 server refused an upload to \(bucketLabel) with S3's SHA-256 checksum\(why): sending it again with Content-MD5, as every upload from now on")
            }
            reply = try await send(operation, .PUT, key: key(kind, name), headers: uploadHeaders(data, sha256: sha256, retention: retention),
                                   body: data, bodyHash: sha256)
        }
        guard reply.status == .ok else { throw failure(reply, operation) }
    }

    /// Headers of an upload: an integrity checksum on every body, and Object Lock retention
    /// when the repository asks for it. S3 requires the checksum
    /// whenever the bucket has Object Lock, even through a default retention rule. `sha256` (hex)
    /// is the body's SHA-256 when known (a content-addressed name): sent as S3's SHA-256 checksum,
    /// which S3 verifies and accepts in place of Content-MD5. Otherwise, or when the server wants
    /// it anyway, Content-MD5.
    func uploadHeaders(_ data: [UInt8]?, sha256: String? = nil, retention: Bool = true) -> [String: String] {
        var headers = [String: String]()
        if let data {
            if let sha256, let digest = Hex.decode(sha256), !contentMD5Required.load(ordering: .relaxed) {
                headers["x-amz-sdk-checksum-algorithm"] = "SHA256"
                headers["x-amz-checksum-sha256"] = Data(digest).base64EncodedString()
            } else {
                headers["content-md5"] = LibCrypto.md5Base64(data)
            }
        }
        guard retention, let days = options.objectLockDays else { return headers }
        headers["x-amz-object-lock-mode"] = options.objectLockMode
        headers["x-amz-object-lock-retain-until-date"] = Self.isoDate(clock().addingTimeInterval(Double(days) * 86400))
        return headers
    }

    /// A refusal that Content-MD5 in place of the SHA-256 checksum headers may cure: the server
    /// says Content-MD5 is missing (MinIO: MissingContentMD5; S3 and others: InvalidRequest naming
    /// it), or rejects the checksum headers as an argument or feature it does not know.
    static func refusesChecksum(_ reply: Reply) -> Bool {
        guard reply.status.code == 400 || reply.status.code == 501,
              let document = S3XML.document(reply.body, elements: ["Code", "Message"]), document.root == "Error" else { return false }
        let code = document.values["Code"]?.first ?? ""
        let message = document.values["Message"]?.first ?? ""
        if code == "MissingContentMD5" || message.range(of: "Content-MD5", options: .caseInsensitive) != nil { return true }
        // S3's NotImplemented: "A header you provided implies functionality that is not implemented".
        if code == "NotImplemented" { return true }
        return ["InvalidArgument", "InvalidRequest"].contains(code) && message.range(of: "checksum", options: .caseInsensitive) != nil
    }

    static func isoDate(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    public func delete(_ kind: ObjectKind, name: String) async throws {
        try ObjectName.validate(kind, name)
        let operation = S3Operation(verb: "DELETE", object: label(kind, name), permission: "s3:DeleteObject", limit: 1 << 20)
        let reply = try await send(operation, .DELETE, key: key(kind, name))
        guard reply.status == .noContent || reply.status == .ok || reply.status == .notFound else {
            throw failure(reply, operation)
        }
        // On a versioned bucket (Object Lock needs one) a DELETE only hides the object behind a
        // delete marker; the data stays, locked and billed. Say so rather than claim it is gone.
        if reply.headers.first(name: "x-amz-delete-marker")?.lowercased() == "true" {
            let marker = reply.headers.first(name: "x-amz-version-id") ?? "MARKER"
            report("S3 kept \(label(kind, name)): the bucket keeps versions (Object Lock), so DELETE only added a delete marker; the locked version remains and is billed until its retention ends. To bring it back: aws s3api delete-object --bucket \(options.bucket) --key \(key(kind, name)) --version-id \(marker)")
        }
    }

    // MARK: Retention

    public func retention(_ kind: ObjectKind, name: String) async throws -> ObjectRetention {
        let operation = S3Operation(verb: "HEAD", object: label(kind, name), permission: "s3:GetObject and s3:GetObjectRetention", limit: 1 << 20)
        let reply = try await send(operation, .HEAD, key: key(kind, name))
        guard reply.status == .ok else { throw failure(await explainBareRefusal(reply, operation, key: key(kind, name)), operation) }
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
