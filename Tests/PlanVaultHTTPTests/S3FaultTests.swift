import XCTest
import NIOHTTP1
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP

/// Collects what the backend prints (retries, warnings) for the assertions.
final class Printed: @unchecked Sendable {
    private let lock = NSLock()
    private var lines = [String]()

    func add(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    var text: String { all.joined(separator: "\n") }
}

extension S3TestServer {
    /// A backend talking to `endpoint` (the server itself, or a fault proxy in front of it), retrying fast.
    func backend(via endpoint: String, url: String = "s3://plans/vault", partSizeMiB: Int = 5, attempts: Int = 3,
                 printed: Printed) throws -> S3Backend {
        var options = try S3Options.parse(url: url, endpoint: endpoint, region: nil, pathStyle: nil,
                                          credentials: S3Credentials(accessKeyID: Self.accessKey, secretAccessKey: Self.secretKey))
        options.partSize = partSizeMiB << 20
        let backend = try S3Backend(options: options, caCertificatePath: nil, logger: Fixture.logger, attempts: attempts)
        backend.retry.baseDelay = 0.01
        backend.report = { printed.add($0) }
        return backend
    }
}

/// Issue 8, items 17–19: retries that recognise their own earlier success, and S3 failures
/// reported in the user's words. Faults come from a proxy in front of a real `rclone serve s3`.
final class S3FaultTests: XCTestCase {
    static func isComplete(_ r: FaultProxy.Request) -> Bool { r.method == "POST" && r.query.contains("uploadId=") }

    /// A real S3 server, a fault proxy in front of it, and a prepared backend talking through the
    /// proxy whose messages land in `printed`. The server is returned so it lives as long as the test.
    static func proxiedBackend() async throws -> (S3TestServer, FaultProxy, Printed, S3Backend) {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let printed = Printed()
        let backend = try s3.backend(via: proxy.endpoint, printed: printed)
        try await backend.prepare()
        return (s3, proxy, printed, backend)
    }

    func testCompleteMultipartUploadWhoseReplyIsLostIsRecognisedAsStored() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let data = Fixture.noise(6 * 1024 * 1024 + 17, seed: 7)
        let name = LibCrypto.sha256(data).hex
        proxy.inject(when: Self.isComplete, .dropReply)
        try await backend.write(.bundle, name: name, data: data)
        XCTAssertEqual(proxy.requests.filter { $0.hasPrefix("POST") && $0.contains("uploadId=") }.count, 2, "the completion was retried")
        XCTAssertTrue(printed.text.contains("retrying in"), printed.text)
        let stored = try await backend.read(.bundle, name: name, range: nil)
        XCTAssertEqual(stored, data)
    }

    func testCompleteMultipartUploadFailingInsideA200ReplyIsRetried() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let data = Fixture.noise(5 * 1024 * 1024 + 1, seed: 8)
        let name = LibCrypto.sha256(data).hex
        proxy.inject(when: Self.isComplete, .answer(.s3Error(200, "OK", code: "InternalError")))
        try await backend.write(.bundle, name: name, data: data)
        XCTAssertTrue(printed.text.contains("S3 answered 200 InternalError (CompleteMultipartUpload of bundles/"), printed.text)
        let stored = try await backend.read(.bundle, name: name, range: nil)
        XCTAssertEqual(stored, data)
    }

    func testA200ReplyWithAPermanentErrorFailsTheUpload() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let data = Fixture.noise(5 * 1024 * 1024 + 1, seed: 9)
        proxy.inject(when: Self.isComplete, .answer(.s3Error(200, "OK", code: "InvalidPart")))
        do {
            try await backend.write(.bundle, name: LibCrypto.sha256(data).hex, data: data)
            XCTFail("a completion failing inside a 200 reply was taken as success")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("CompleteMultipartUpload of bundles/"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("InvalidPart"), error.localizedDescription)
        }
        XCTAssertEqual(printed.all, [], "a permanent error is not retried")
    }

    /// A reply body longer than its operation can need (an upload's reply is at most 1 MiB) is
    /// refused, not read into memory, and not retried. A HEAD reply, which declares the object's
    /// whole length with no body, still reads as the object's size.
    func testAReplyLongerThanItsOperationAllowsIsRefusedAndAHeadReplyIsNot() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let data = Fixture.noise(3 * 1024 * 1024, seed: 10)
        let name = LibCrypto.sha256(data).hex
        try await backend.write(.bundle, name: name, data: data)
        let size = try await backend.stat(.bundle, name: name)?.size
        XCTAssertEqual(size, UInt64(data.count), "HEAD declares 3 MiB, more than its 1 MiB limit, and carries no body")

        let body = Array("a key file".utf8)
        let isPut = { (r: FaultProxy.Request) in r.method == "PUT" && r.target.contains("/keys/") }
        proxy.inject(when: isPut, .answer(FaultProxy.Response(status: 200, reason: "OK", headers: [],
                                                              body: [UInt8](repeating: 0x20, count: 2 * 1024 * 1024))))
        do {
            try await backend.write(.key, name: LibCrypto.sha256(body).hex, data: body)
            XCTFail("a 2 MiB reply to an upload was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("sent a reply larger than expected"), error.localizedDescription)
        }
        XCTAssertEqual(printed.all, [], "a reply too long is not retried")
    }

    func testAWholeObjectSentForARangeIsCutToTheRangeAndAKeyFileReplyPastItsLimitIsRefused() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let data = Fixture.noise(3 * 1024 * 1024, seed: 11)
        let name = LibCrypto.sha256(data).hex
        try await backend.write(.bundle, name: name, data: data)
        // A server that ignores Range answers 200 with the whole object: the range is kept as the
        // body arrives (memory bounded by what was asked for), at the start, middle and end.
        let isBundleGet = { (r: FaultProxy.Request) in r.method == "GET" && r.target.contains("/bundles/") }
        for range: Range<UInt64> in [0..<1000, 1_500_000..<2_600_000, UInt64(data.count - 5)..<UInt64(data.count)] {
            proxy.inject(when: isBundleGet, .answer(FaultProxy.Response(status: 200, reason: "OK", headers: [], body: data)))
            let read = try await backend.read(.bundle, name: name, range: range)
            XCTAssertEqual(read, Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "\(range)")
        }
        // An error reply to a small range is an error, not "a reply larger than expected": a
        // missing object is missing (its other copy is tried), and a 503 is retried.
        do {
            _ = try await backend.read(.bundle, name: String(repeating: "b", count: 64), range: 0..<8)
            XCTFail("a missing bundle was read")
        } catch PlanVaultError.objectMissing {}
        proxy.inject(when: isBundleGet, .answer(.s3Error(503, "Slow Down", code: "SlowDown")))
        let trailer = try await backend.read(.bundle, name: name, range: UInt64(data.count - 8)..<UInt64(data.count))
        XCTAssertEqual(trailer, Array(data.suffix(8)))
        XCTAssertEqual(printed.all.count, 1, "\(printed.all)")
        // A key file is at most 64 KiB (FORMAT.md §14): a longer reply is refused, not held.
        let isKeyGet = { (r: FaultProxy.Request) in r.method == "GET" && r.target.contains("/keys/") }
        proxy.inject(when: isKeyGet, .answer(FaultProxy.Response(status: 200, reason: "OK", headers: [],
                                                                 body: [UInt8](repeating: 0x7b, count: 100_000))))
        do {
            _ = try await backend.read(.key, name: String(repeating: "d", count: 64), range: nil)
            XCTFail("a 100 KB key file was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("sent a reply larger than expected"), error.localizedDescription)
        }
        XCTAssertEqual(printed.all.count, 1, "only the 503 was retried: \(printed.all)")
        _ = s3
    }

    func testAListingThatNeverEndsIsRefusedAfterItsPageLimit() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        backend.maxListingPages = 5
        // Every page names one object and a new continuation token: without a bound, forever.
        let pages = Counter()
        let isList = { (r: FaultProxy.Request) in r.method == "GET" && r.query.contains("list-type=2") }
        proxy.inject(times: 100, when: isList, .edit { _ in
            let n = pages.next()
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><IsTruncated>true</IsTruncated><KeyCount>1</KeyCount>"
                + "<Contents><Key>planvault/snapshots/\(String(format: "%064x", n))</Key><Size>1</Size></Contents>"
                + "<NextContinuationToken>page-\(n)</NextContinuationToken></ListBucketResult>"
            return FaultProxy.Response(status: 200, reason: "OK", headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
        })
        do {
            _ = try await backend.list(.snapshot)
            XCTFail("an endless listing was accepted")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("for more than 5 pages"), error.localizedDescription)
        }
        XCTAssertEqual(pages.value, 5)
        XCTAssertEqual(printed.all, [])
        _ = s3
    }

    func testSlowDownRetryAfterIsHonouredBoundedAndPrinted() async throws {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let printed = Printed()
        let backend = try s3.backend(via: proxy.endpoint, printed: printed)
        backend.retry.maxRetryAfter = 2
        try await backend.prepare()
        let isPut = { (r: FaultProxy.Request) in r.method == "PUT" && r.target.contains("/keys/") }
        proxy.inject(when: isPut, .answer(.s3Error(503, "Slow Down", code: "SlowDown", extraHeaders: [("Retry-After", "1")])))
        proxy.inject(when: isPut, .answer(.s3Error(503, "Slow Down", code: "SlowDown", extraHeaders: [("Retry-After", "3600")])))
        let body = Array("a key file".utf8)
        let name = LibCrypto.sha256(body).hex
        let started = Date()
        try await backend.write(.key, name: name, data: body)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2.9, "Retry-After was waited for")
        XCTAssertEqual(printed.all, [
            "retrying in 1 s: S3 answered 503 SlowDown (PUT of keys/\(name.prefix(12))…, attempt 1 of 3)",
            "retrying in 2 s: S3 answered 503 SlowDown (PUT of keys/\(name.prefix(12))…, attempt 2 of 3)",
        ])
        let stored = try await backend.read(.key, name: name, range: nil)
        XCTAssertEqual(stored, body)
    }

    func testCreateBucketRetriedAfterALostReplySucceeds() async throws {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let printed = Printed()
        let backend = try s3.backend(via: proxy.endpoint, url: "s3://fresh/vault", printed: printed)
        proxy.inject(when: { $0.method == "PUT" && $0.target.hasPrefix("/fresh") && !$0.target.hasPrefix("/fresh/") }, .dropReply)
        try await backend.prepare()
        XCTAssertEqual(proxy.requests.filter { $0.hasPrefix("PUT /fresh") }.count, 2, "CreateBucket was retried")
        XCTAssertTrue(FileManager.default.fileExists(atPath: s3.dir.sub("data/fresh")))
    }

    func testBucketNameTakenByAnotherAccountIsAClearError() async throws {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let backend = try s3.backend(via: proxy.endpoint, url: "s3://taken/vault", printed: Printed())
        proxy.inject(when: { $0.method == "PUT" && $0.target == "/taken" }, .answer(.s3Error(409, "Conflict", code: "BucketAlreadyExists")))
        do {
            try await backend.prepare()
            XCTFail("prepare accepted a bucket owned by someone else")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("the bucket name taken is taken by another account"), error.localizedDescription)
        }
    }

    func testTruncatedListingIsAnErrorNotAShortListing() async throws {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let backend = try s3.backend(via: proxy.endpoint, printed: Printed())
        try await backend.prepare()
        for i in 0..<20 {
            let body = Array("key \(i)".utf8)
            try await backend.write(.key, name: LibCrypto.sha256(body).hex, data: body)
        }
        let listing = try await backend.list(.key)
        XCTAssertEqual(listing.count, 20)
        let isList = { (r: FaultProxy.Request) in r.method == "GET" && r.query.contains("list-type=2") }
        let edits: [(String, @Sendable (FaultProxy.Response) -> FaultProxy.Response)] = [
            ("cut in half", { var r = $0; r.body = Array(r.body.prefix(r.body.count / 2)); return r }),
            ("cut before the closing tag", { var r = $0; r.body = Array(r.body.prefix(r.body.count - 22)); return r }),
            ("empty", { var r = $0; r.body = []; return r }),
            ("truncated without a token", { var r = $0
                r.body = Array(String(decoding: r.body, as: UTF8.self).replacingOccurrences(of: "<IsTruncated>false</IsTruncated>", with: "<IsTruncated>true</IsTruncated>").utf8)
                return r }),
            ("no IsTruncated", { var r = $0
                r.body = Array(String(decoding: r.body, as: UTF8.self).replacingOccurrences(of: "<IsTruncated>false</IsTruncated>", with: "").utf8)
                return r }),
        ]
        for (what, edit) in edits {
            proxy.inject(when: isList, .edit(edit))
            do {
                let short = try await backend.list(.key)
                XCTFail("\(what): a damaged listing was taken as \(short.count) objects")
            } catch {
                XCTAssertTrue(error.localizedDescription.contains("incomplete or malformed listing"), "\(what): \(error.localizedDescription)")
            }
        }
    }

    func testBundlesCarryTheirSHA256ChecksumAndContentMD5OnlyWhenTheServerAsks() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        let puts = Printed()
        proxy.inject(times: 100, when: { r in
            if r.method == "PUT" { puts.add("\(r.header("x-amz-checksum-sha256") ?? "-") \(r.header("content-md5") == nil ? "no-md5" : "md5")") }
            return false
        }, .dropReply)
        let first = Fixture.noise(100_000, seed: 1)
        try await backend.write(.bundle, name: LibCrypto.sha256(first).hex, data: first)
        XCTAssertEqual(puts.all, ["\(Data(LibCrypto.sha256(first).bytes).base64EncodedString()) no-md5"], "the name is the checksum; no MD5 is computed")

        // A server from before S3's additional checksums, on an Object Lock bucket, insists on Content-MD5.
        proxy.inject(times: 100, when: { $0.method == "PUT" && $0.header("content-md5") == nil },
                     .answer(.s3Error(400, "Bad Request", code: "MissingContentMD5")))
        let second = Fixture.noise(100_000, seed: 2)
        let third = Fixture.noise(100_000, seed: 3)
        try await backend.write(.bundle, name: LibCrypto.sha256(second).hex, data: second)
        try await backend.write(.bundle, name: LibCrypto.sha256(third).hex, data: third)
        XCTAssertEqual(Array(puts.all.dropFirst()), ["\(Data(LibCrypto.sha256(second).bytes).base64EncodedString()) no-md5", "- md5", "- md5"],
                       "refused once without Content-MD5, then sent with it in place of the checksum, and so from then on")
        XCTAssertTrue(printed.text.contains("refused an upload to bucket plans with S3's SHA-256 checksum (MissingContentMD5): sending it again with Content-MD5"),
                      printed.text)
        let stored = try await backend.read(.bundle, name: LibCrypto.sha256(third).hex, range: nil)
        XCTAssertEqual(stored, third)
    }

    func testAServerThatDoesNotImplementTheChecksumIsNotRetriedButGetsContentMD5() async throws {
        let (s3, proxy, printed, backend) = try await Self.proxiedBackend()
        proxy.inject(times: 100, when: { $0.method == "PUT" && $0.header("x-amz-checksum-sha256") != nil },
                     .answer(.s3Error(501, "Not Implemented", code: "NotImplemented")))
        let data = Fixture.noise(50_000, seed: 5)
        try await backend.write(.snapshot, name: LibCrypto.sha256(data).hex, data: data)
        XCTAssertEqual(proxy.requests.filter { $0.hasPrefix("PUT") && $0.contains("/snapshots/") }.count, 2,
                       "one refused PUT, then one with Content-MD5; a 501 is not retried as it is")
        XCTAssertFalse(printed.text.contains("retrying"), printed.text)
        XCTAssertTrue(printed.text.contains("(NotImplemented): sending it again with Content-MD5"), printed.text)
        let stored = try await backend.read(.snapshot, name: LibCrypto.sha256(data).hex, range: nil)
        XCTAssertEqual(stored, data)
    }

    func testOnlyRefusalsThatContentMD5CanCureSwitchToIt() {
        func reply(_ status: HTTPResponseStatus, _ code: String, _ message: String) -> HTTPTransport.Reply {
            HTTPTransport.Reply(status: status, headers: HTTPHeaders(), body: Array("<Error><Code>\(code)</Code><Message>\(message)</Message></Error>".utf8))
        }
        XCTAssertTrue(S3Backend.refusesChecksum(reply(.badRequest, "MissingContentMD5", "Missing required header for this request: Content-Md5.")))
        XCTAssertTrue(S3Backend.refusesChecksum(reply(.badRequest, "InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")))
        XCTAssertTrue(S3Backend.refusesChecksum(reply(.badRequest, "InvalidArgument", "x-amz-checksum-sha256 is not supported")))
        XCTAssertTrue(S3Backend.refusesChecksum(reply(.notImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")))
        XCTAssertFalse(S3Backend.refusesChecksum(reply(.forbidden, "AccessDenied", "Access Denied")))
        XCTAssertFalse(S3Backend.refusesChecksum(reply(.badRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")))
        XCTAssertFalse(S3Backend.refusesChecksum(reply(.badRequest, "InvalidArgument", "Invalid retention date")))
    }

    func testRefusedDeleteAndPutNameTheOperationAndObject() async throws {
        let s3 = try S3TestServer()
        let proxy = try FaultProxy(upstreamPort: s3.port)
        let backend = try s3.backend(via: proxy.endpoint, printed: Printed())
        try await backend.prepare()
        let body = Array("a snapshot".utf8)
        let name = LibCrypto.sha256(body).hex
        try await backend.write(.snapshot, name: name, data: body)
        proxy.inject(when: { $0.method == "DELETE" }, .answer(.s3Error(403, "Forbidden", code: "AccessDenied")))
        do {
            try await backend.delete(.snapshot, name: name)
            XCTFail("a refused DELETE passed")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains(
                "S3 refused DELETE of snapshots/\(name.prefix(12))…: AccessDenied — the credentials lack s3:DeleteObject, or a bucket policy forbids it"),
                error.localizedDescription)
        }
        proxy.inject(when: { $0.method == "PUT" }, .answer(.s3Error(403, "Forbidden", code: "AccessDenied")))
        do {
            try await backend.write(.config, name: ObjectName.config, data: Array("{}".utf8))
            XCTFail("a refused PUT passed")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("S3 refused PUT of config: AccessDenied — the credentials lack s3:PutObject"),
                          error.localizedDescription)
            XCTAssertFalse(error.localizedDescription.contains("config config"), error.localizedDescription)
        }
    }

    func testSkewedClockIsReportedWithAClockHint() async throws {
        let s3 = try S3TestServer()
        let printed = Printed()
        let backend = try s3.backend(via: s3.endpoint, printed: printed)
        backend.clock = { Date().addingTimeInterval(2 * 3600) }
        do {
            try await backend.prepare()
            XCTFail("a request signed two hours ahead was accepted")
        } catch {
            let message = error.localizedDescription
            XCTAssertTrue(message.contains("the local clock differs from the server's"), message)
            XCTAssertTrue(message.contains("NTP"), message)
            XCTAssertFalse(message.contains("AWS_SECRET_ACCESS_KEY"), message)
        }
    }

    func testPartSizeBelowFiveOrNotANumberIsRefused() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        for bad in ["4", "abc", "5.5", "6000"] {
            var env = s3.env(dir)
            env["PLANVAULT_S3_PART_SIZE_MIB"] = bad
            let r = try CLI.run(["init", "--repo", "s3://plans/parts"], env: env)
            XCTAssertEqual(r.status, 1, "\(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("PLANVAULT_S3_PART_SIZE_MIB is \"\(bad)\": give a whole number of MiB from 5 to 5120"), r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: s3.dir.sub("data/plans/parts/config")))
    }

    func testStaleMultipartUploadsUnderThePrefixAreAbortedBeforeTheFirstWrite() async throws {
        let s3 = try S3TestServer()
        let printed = Printed()
        let setup = try s3.backend(via: s3.endpoint, printed: printed)
        try await setup.prepare()
        // Uploads a killed push would leave: one in this repository, one in another prefix.
        func startUpload(_ key: String) async throws {
            let op = S3Operation(verb: "CreateMultipartUpload", object: key, permission: "s3:PutObject")
            let reply = try await setup.send(op, .POST, key: key, query: [("uploads", "")])
            XCTAssertEqual(reply.status, .ok)
        }
        let ours = "vault/bundles/ab/" + String(repeating: "ab", count: 32)
        let theirs = "other/bundles/ab/" + String(repeating: "ab", count: 32)
        try await startUpload(ours)
        try await startUpload(theirs)
        func pending() async throws -> [String] {
            let op = S3Operation(verb: "ListMultipartUploads", object: "bucket", permission: "s3:ListBucketMultipartUploads")
            let reply = try await setup.send(op, .GET, key: nil, query: [("uploads", "")])
            return S3XML.parse(reply.body, elements: ["Key"])?["Key"] ?? []
        }
        let before = try await pending()
        XCTAssertEqual(Set(before), [ours, theirs])

        // Under the 24-hour rule a fresh upload may belong to a live push: it stays.
        let fresh = try s3.backend(via: s3.endpoint, printed: printed)
        let body = Array("key one".utf8)
        try await fresh.write(.key, name: LibCrypto.sha256(body).hex, data: body)
        let afterFresh = try await pending()
        XCTAssertEqual(Set(afterFresh), [ours, theirs])

        // Once old enough (here: any age), the first write aborts it; the other prefix is not ours.
        let later = try s3.backend(via: s3.endpoint, printed: printed)
        later.staleUploadAge = 0
        let body2 = Array("key two".utf8)
        try await later.write(.key, name: LibCrypto.sha256(body2).hex, data: body2)
        let afterStale = try await pending()
        XCTAssertEqual(afterStale, [theirs])
        XCTAssertTrue(printed.text.contains("aborted 1 incomplete multipart upload(s) under s3://plans/vault"), printed.text)
    }

    func testRepairReplacesADamagedObjectThatWriteWouldKeep() async throws {
        let s3 = try S3TestServer()
        let backend = try s3.backend(via: s3.endpoint, printed: Printed())
        try await backend.prepare()
        let body = Array("an index file, say".utf8)
        let name = LibCrypto.sha256(body).hex
        try await backend.write(.index, name: name, data: body)
        var damaged = body
        damaged[3] ^= 0x20
        try Fixture.write(s3.dir.sub("data/plans/vault/index/\(name)"), damaged)
        try await backend.write(.index, name: name, data: body)
        let kept = try await backend.read(.index, name: name, range: nil)
        XCTAssertEqual(kept, damaged, "write leaves an existing content-addressed object alone")
        try await backend.repair(.index, name: name, data: body)
        let repaired = try await backend.read(.index, name: name, range: nil)
        XCTAssertEqual(repaired, body)
    }

    func testVerifyChecksRetentionOfConfigAndAttestations() throws {
        // rclone has no Object Lock: every object lacks retention, the config and attestations included.
        let s3 = try S3TestServer()
        let dir = try TempDir()
        let env = s3.env(dir)
        try Fixture.write(dir.sub("plans/a.txt"), "a")
        XCTAssertEqual(try CLI.run(["init", "--repo", "s3://plans/locked"], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", "s3://plans/locked", dir.sub("plans")], env: env).status, 0)
        XCTAssertFalse((FileManager.default.enumerator(atPath: s3.dir.sub("data/plans/locked/attestations"))?.allObjects ?? []).isEmpty)
        let verify = try CLI.run(["verify", "--repo", "s3://plans/locked", "--s3-object-lock-days", "30"], env: env)
        XCTAssertEqual(verify.status, 4, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("config has no Object Lock retention"), verify.stdout)
        XCTAssertTrue(verify.stdout.contains("attestation has no Object Lock retention"), verify.stdout)
    }
}

/// A count shared with a proxy's edit closure (which runs on the proxy's thread).
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func next() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
}
