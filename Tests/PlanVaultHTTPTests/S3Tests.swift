import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP

final class SigV4Tests: XCTestCase {
    let signer = SigV4(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                       region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z, the date of AWS's examples

    func signature(_ headers: [String: String]) -> String? {
        headers["authorization"]?.components(separatedBy: "Signature=").last
    }

    /// AWS's published example "GET Object" (Authenticating Requests: Using the Authorization Header).
    func testGetObjectExampleMatchesAWSDocumentation() {
        let headers = signer.sign(method: "GET", path: "/test.txt", query: [],
                                  headers: ["host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9"],
                                  payloadHash: SigV4.emptyPayloadHash, date: date)
        XCTAssertEqual(signature(headers), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        XCTAssertTrue(headers["authorization"]?.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date") ?? false)
    }

    /// AWS's published example "GET Bucket (List Objects)" with a query string.
    func testListObjectsExampleMatchesAWSDocumentation() {
        let headers = signer.sign(method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")],
                                  headers: ["host": "examplebucket.s3.amazonaws.com"], payloadHash: SigV4.emptyPayloadHash, date: date)
        XCTAssertEqual(signature(headers), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    func testURIEncodingFollowsS3Rules() {
        XCTAssertEqual(SigV4.uriEncode("a b/c+d~e", keepSlash: true), "a%20b/c%2Bd~e")
        XCTAssertEqual(SigV4.uriEncode("a/b=", keepSlash: false), "a%2Fb%3D")
        XCTAssertEqual(SigV4.canonicalQuery([("uploads", ""), ("b", "2"), ("a", "1")]), "a=1&b=2&uploads=")
    }
}

/// A real S3-compatible server that checks signatures: `rclone serve s3` on loopback.
final class S3TestServer {
    let dir: TempDir
    let process: Process
    let port: Int
    static let accessKey = "PLANVAULTTESTKEY"
    static let secretKey = "planvault/test+secret/key"

    init() throws {
        dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
        port = try Self.freePort()
        let rclone = ["/usr/local/bin/rclone", "/root/.pyenv/shims/rclone", "/usr/bin/rclone"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? ProcessInfo.processInfo.environment["RCLONE"] ?? "rclone"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [rclone, "serve", "s3", "--addr", "127.0.0.1:\(port)", "--auth-key", "\(Self.accessKey),\(Self.secretKey)", dir.sub("data")]
        FileManager.default.createFile(atPath: dir.sub("rclone.log"), contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: dir.sub("rclone.log"))
        process.standardError = FileHandle(forWritingAtPath: dir.sub("rclone.log"))
        try process.run()
        // Ready when it accepts connections (a condition, not a fixed wait).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if Self.canConnect(port) { return }
            guard process.isRunning else { break }
            usleep(5000)
        }
        throw PlanVaultError.invalidArgument("rclone serve s3 did not start: \((try? String(contentsOfFile: dir.sub("rclone.log"), encoding: .utf8)) ?? "")")
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    func env(_ dir: TempDir, secret: String = S3TestServer.secretKey) -> [String: String] {
        ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "AWS_ACCESS_KEY_ID": Self.accessKey, "AWS_SECRET_ACCESS_KEY": secret,
         "PLANVAULT_S3_ENDPOINT": endpoint, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
    }

    func backend(_ url: String = "s3://plans/vault", secret: String = S3TestServer.secretKey) throws -> S3Backend {
        let options = try S3Options.parse(url: url, endpoint: endpoint, region: nil, pathStyle: nil,
                                          credentials: S3Credentials(accessKeyID: Self.accessKey, secretAccessKey: secret))
        return try S3Backend(options: options, caCertificatePath: nil, logger: Fixture.logger, attempts: 2)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw PlanVaultError.io(path: "socket", operation: "bind", errno: errno) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }
}

final class S3Tests: XCTestCase {
    func testFullCycleAgainstARealS3Server() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        var env = s3.env(dir)
        env["PLANVAULT_S3_PART_SIZE_MIB"] = "5"  // bundles above 5 MiB go up as multipart uploads
        let repo = "s3://plans/agency/vault"
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
        let push = try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env)
        XCTAssertEqual(push.status, 0, push.stderr)
        var fresh = env
        fresh["PLANVAULT_CACHE_DIR"] = dir.sub("fresh-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("out")], env: fresh)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let verify = try CLI.run(["verify", "--repo", repo, "--read-data"], env: fresh)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)

        // Objects are plain content-addressed files: each stored bundle hashes to its own name.
        let bundleRoot = s3.dir.sub("data/plans/agency/vault/bundles")
        let names = (FileManager.default.enumerator(atPath: bundleRoot)?.allObjects as? [String] ?? []).filter { $0.count == 67 }
        XCTAssertFalse(names.isEmpty)
        for rel in names {
            XCTAssertEqual(LibCrypto.sha256(try FileIO.readFile("\(bundleRoot)/\(rel)")).hex, String(rel.suffix(64)))
        }
        XCTAssertTrue(names.contains { (try? FileIO.readFile("\(bundleRoot)/\($0)").count) ?? 0 > 5 * 1024 * 1024 }, "one bundle went up in parts")
    }

    func testWrongSecretKeyIsRejectedWithAClearError() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        let r = try CLI.run(["init", "--repo", "s3://plans/x"], env: s3.env(dir, secret: "not-the-secret"))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("S3 refused the request"), r.stderr)
        XCTAssertTrue(r.stderr.contains("AWS_SECRET_ACCESS_KEY"), r.stderr)
    }

    func testListingMoreThan1000ObjectsIsComplete() async throws {
        let s3 = try S3TestServer()
        let backend = try s3.backend()
        try await backend.prepare()
        var written = Set<String>()
        try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<1100 {
                group.addTask {
                    let body = Array("key file \(i)".utf8)
                    let name = LibCrypto.sha256(body).hex
                    try await backend.write(.key, name: name, data: body)
                    return name
                }
                if i >= 16, let name = try await group.next() { written.insert(name) }
            }
            for try await name in group { written.insert(name) }
        }
        let listed = try await backend.list(.key)
        XCTAssertEqual(listed.count, 1100)
        XCTAssertEqual(Set(listed.map(\.name)), written)
    }

    func testInterruptedPushResumesWithoutResendingBundles() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        let env = s3.env(dir)
        let repo = "s3://plans/resume"
        XCTAssertEqual(try CLI.run(["init", "--repo", repo, "--bundle-size-mib", "1"], env: env).status, 0)
        for i in 0..<8 { try Fixture.write(dir.sub("plans/part-\(i).bin"), Fixture.noise(3 * 1024 * 1024, seed: UInt64(50 + i))) }
        let push = try CLI.start(["push", "--repo", repo, dir.sub("plans")], env: env, output: dir.sub("push"))
        func bundles() -> Int {
            (FileManager.default.enumerator(atPath: s3.dir.sub("data/plans/resume/bundles"))?.allObjects as? [String] ?? []).filter { $0.count == 67 }.count
        }
        let deadline = Date().addingTimeInterval(120)
        while push.isRunning && bundles() < 3 && Date() < deadline { usleep(1000) }
        kill(push.processIdentifier, SIGKILL)
        push.waitUntilExit()
        let stored = bundles()
        XCTAssertGreaterThanOrEqual(stored, 3)
        let again = try CLI.run(["push", "--repo", repo, "--json", dir.sub("plans")], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("\"adopted_bundles\" : \(stored)"), again.stdout)
        let verify = try CLI.run(["verify", "--repo", repo, "--read-data"], env: env)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    func testVerifyReportsObjectsWithoutObjectLockRetention() throws {
        // rclone's S3 server has no Object Lock: every object lacks retention, and verify must say so.
        let s3 = try S3TestServer()
        let dir = try TempDir()
        let env = s3.env(dir)
        try Fixture.write(dir.sub("plans/a.txt"), "a")
        XCTAssertEqual(try CLI.run(["init", "--repo", "s3://plans/locked"], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", "s3://plans/locked", dir.sub("plans")], env: env).status, 0)
        let verify = try CLI.run(["verify", "--repo", "s3://plans/locked", "--s3-object-lock-days", "30"], env: env)
        XCTAssertEqual(verify.status, 4, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("has no Object Lock retention"), verify.stdout)
        let plain = try CLI.run(["verify", "--repo", "s3://plans/locked"], env: env)
        XCTAssertEqual(plain.status, 0, plain.stdout)
    }
}
