import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP

/// `moto_server` on loopback: S3 with versioning and Object Lock (it accepts any signature).
final class MotoServer {
    let dir: TempDir
    let process: Process
    let port: Int

    init() throws {
        dir = try TempDir()
        port = try S3TestServer.freePort()
        let moto = ["/usr/local/bin/moto_server", "/root/.pyenv/shims/moto_server"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? ProcessInfo.processInfo.environment["MOTO_SERVER"] ?? "moto_server"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [moto, "-H", "127.0.0.1", "-p", String(port)]
        _ = FileManager.default.createFile(atPath: dir.sub("moto.log"), contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: dir.sub("moto.log"))
        process.standardError = FileHandle(forWritingAtPath: dir.sub("moto.log"))
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if S3TestServer.canConnect(port) { return }
            guard process.isRunning else { break }
            usleep(5000)
        }
        throw PlanVaultError.invalidArgument("moto_server did not start: \((try? String(contentsOfFile: dir.sub("moto.log"), encoding: .utf8)) ?? "")")
    }

    func backend(_ url: String, lockDays: Int?, printed: Printed) throws -> S3Backend {
        var options = try S3Options.parse(url: url, endpoint: "http://127.0.0.1:\(port)", region: nil, pathStyle: nil,
                                          credentials: S3Credentials(accessKeyID: "testing", secretAccessKey: "testing"))
        options.objectLockDays = lockDays
        let backend = try S3Backend(options: options, caCertificatePath: nil, logger: Fixture.logger, attempts: 2)
        backend.retry.baseDelay = 0.01
        backend.report = { printed.add($0) }
        return backend
    }

    deinit {
        // moto_server started from the test process ignores SIGTERM and SIGINT; nothing of it needs keeping.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Issue 8, item 20: on a versioned (Object Lock) bucket a DELETE only adds a delete marker.
final class S3ObjectLockTests: XCTestCase {
    func testDeleteOnAVersionedBucketWarnsThatTheLockedVersionRemainsAndCanBeBroughtBack() async throws {
        let moto = try MotoServer()
        let printed = Printed()
        let backend = try moto.backend("s3://locked/vault", lockDays: 1, printed: printed)
        try await backend.prepare()  // creates the bucket with Object Lock, hence versioning
        let body = Array("a snapshot".utf8)
        let name = LibCrypto.sha256(body).hex
        try await backend.write(.snapshot, name: name, data: body)
        try await backend.delete(.snapshot, name: name)
        let missing = try await backend.stat(.snapshot, name: name)
        XCTAssertNil(missing, "the delete marker hides the snapshot")

        let warning = try XCTUnwrap(printed.all.first { $0.contains("delete marker") }, printed.text)
        XCTAssertTrue(warning.contains("S3 kept snapshots/\(name.prefix(12))…"), warning)
        XCTAssertTrue(warning.contains("the locked version remains and is billed until its retention ends"), warning)
        // The README's way back: delete the delete marker by its version id.
        let marker = try XCTUnwrap(warning.components(separatedBy: "--version-id ").last)
        XCTAssertTrue(warning.contains("aws s3api delete-object --bucket locked --key vault/snapshots/\(name) --version-id \(marker)"), warning)
        let op = S3Operation(verb: "DELETE", object: "the delete marker", permission: "s3:DeleteObjectVersion")
        let undo = try await backend.send(op, .DELETE, key: backend.key(.snapshot, name), query: [("versionId", marker)])
        XCTAssertTrue(undo.status == .noContent || undo.status == .ok, "\(undo.status)")
        let back = try await backend.read(.snapshot, name: name, range: nil)
        XCTAssertEqual(back, body)
    }

    func testDeleteOnAnUnversionedBucketPrintsNothing() async throws {
        let moto = try MotoServer()
        let printed = Printed()
        let backend = try moto.backend("s3://plain/vault", lockDays: nil, printed: printed)
        try await backend.prepare()
        let body = Array("a snapshot".utf8)
        let name = LibCrypto.sha256(body).hex
        try await backend.write(.snapshot, name: name, data: body)
        try await backend.delete(.snapshot, name: name)
        XCTAssertEqual(printed.all, [])
    }
}
