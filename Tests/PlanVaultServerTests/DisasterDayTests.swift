import NIOHTTP1
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport
@testable import PlanVaultHTTP
@testable import PlanVaultServer

/// Disaster day over HTTPS (issue 10, item 4): a reader token restores without writing anything,
/// TLS failures stop at once with what to do, and the retry budget is the user's to set.
final class ReaderTokenTests: XCTestCase {
    /// Every file under the server's root with its size: what "wrote nothing" is checked against.
    func files(_ root: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/\(path)")
            if attributes[.type] as? FileAttributeType == .typeRegular { out[path] = (attributes[.size] as? Int) ?? -1 }
        }
        return out
    }

    func testReaderTokenReadsKeyFilesButWritesAndDeletesNothingNotEvenALock() async throws {
        let server = try TestServer()
        let agent = try server.backend(token: server.agent)
        try await agent.prepare()
        let key = Array("a key file".utf8)
        let keyName = LibCrypto.sha256(key).hex
        let putKey = try await agent.send(.PUT, "https://\(server.address)/plans/keys/\(keyName)", body: key)
        XCTAssertEqual(putKey.status.code, 201)
        let lock = Array("{}".utf8)
        let lockName = LibCrypto.sha256(lock).hex
        let putLock = try await agent.send(.PUT, "https://\(server.address)/plans/locks/\(lockName)", body: lock)
        XCTAssertEqual(putLock.status.code, 201)

        let reader = try server.backend(token: server.reader)
        let listing = try await reader.send(.GET, "https://\(server.address)/plans/keys/")
        XCTAssertEqual(listing.status.code, 200)
        XCTAssertTrue(String(decoding: listing.body, as: UTF8.self).contains(keyName))
        let readerKey = try await reader.send(.GET, "https://\(server.address)/plans/keys/\(keyName)")
        XCTAssertEqual(readerKey.status.code, 200)
        XCTAssertEqual(readerKey.body, key)
        // The auditor, by contrast, may not download key files.
        let auditorKey = try await server.backend(token: server.auditor).send(.GET, "https://\(server.address)/plans/keys/\(keyName)")
        XCTAssertEqual(auditorKey.status.code, 403)

        let before = try files(server.root)
        let newLock = String(repeating: "2e", count: 32)
        let refused: [(HTTPMethod, String)] = [
            (.PUT, "locks/\(newLock)"), (.DELETE, "locks/\(lockName)"), (.PUT, "bundles/\(keyName)"),
            (.DELETE, "keys/\(keyName)"), (.PUT, "snapshots/\(keyName)"),
        ]
        for (method, path) in refused {
            let reply = try await reader.send(method, "https://\(server.address)/plans/\(path)", body: method == .PUT ? key : nil)
            XCTAssertEqual(reply.status.code, 403, "\(method) \(path)")
        }
        let create = try await reader.send(.POST, "https://\(server.address)/plans?create=true")
        XCTAssertEqual(create.status.code, 403)
        XCTAssertEqual(try files(server.root), before, "a reader token changed the server's files")
    }

    func testRestoreAndVerifyWithAReaderTokenWorkAndWriteNothing() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let agentEnv = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                        "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: agentEnv).status, 0)
        let push = try CLI.run(["push", "--repo", server.url, dir.sub("plans")], env: agentEnv)
        XCTAssertEqual(push.status, 0, push.stderr)

        let before = try files(server.root)
        let readerEnv = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.reader,
                         "PLANVAULT_CACERT": server.certPath, "HOME": dir.sub("bare-home")]
        let snapshots = try CLI.run(["snapshots", "--repo", server.url], env: readerEnv)
        XCTAssertEqual(snapshots.status, 0, snapshots.stderr)
        let restore = try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out")], env: readerEnv)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let verify = try CLI.run(["verify", "--repo", server.url, "--read-data"], env: readerEnv)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        // Said, not hidden: the check ran without a repository lock, and no record was written.
        XCTAssertTrue(verify.stderr.contains("no repository lock could be taken"), verify.stderr)
        XCTAssertTrue(verify.stderr.contains("checking without one"), verify.stderr)
        XCTAssertEqual(try files(server.root), before, "restore or verify with a reader token wrote to the server")
    }
}

final class LostConfigOverHTTPSTests: XCTestCase {
    func testARepositoryWhoseConfigWasLostOnTheServerRestoresFromTheKeyFilesCopy() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/BCP.txt"), Fixture.text(200, seed: 3))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", server.url, dir.sub("plans")], env: env).status, 0)
        try FileManager.default.removeItem(atPath: "\(server.root)/plans/config")
        // A 404 for the config is not "no repository" while key files are there (FORMAT.md §2.2).
        var bare = env
        bare["PLANVAULT_CACHE_DIR"] = dir.sub("bare-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out")], env: bare)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("the config is missing at the target"), restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let repair = try CLI.run(["repair", "--repo", server.url], env: bare)
        XCTAssertEqual(repair.status, 0, repair.stdout + repair.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(server.root)/plans/config"), "repair did not write the config back")
        // Without key files too, it is no repository.
        try FileManager.default.removeItem(atPath: "\(server.root)/plans/config")
        try FileManager.default.removeItem(atPath: "\(server.root)/plans/keys")
        let missing = try CLI.run(["snapshots", "--repo", server.url], env: bare)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no PlanVault repository"), missing.stderr)
    }
}

final class RetryBudgetTests: XCTestCase {
    func snapshots(_ extra: [String], env: [String: String]) throws -> CLI.Result {
        let dir = try TempDir()
        var environment = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": "pvt_1_x", "HOME": dir.path,
                           "PLANVAULT_CACHE_DIR": dir.sub("cache")]
        for (k, v) in env { environment[k] = v }
        return try CLI.run(["snapshots", "--repo", "https://127.0.0.1:\(try closedPort())/plans"] + extra, env: environment)
    }

    func testRetriesOptionSetsTheBudgetAndEachRetryIsPrinted() throws {
        let result = try snapshots(["--retries", "2"], env: [:])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("retrying in 0.5 s: connection refused (attempt 2 of 3)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("retrying in 1 s: connection refused (attempt 3 of 3)"), result.stderr)
        XCTAssertFalse(result.stderr.contains("attempt 4"), result.stderr)
        XCTAssertTrue(result.stderr.contains("gave up after 3 attempts: connection refused"), result.stderr)
        XCTAssertFalse(result.stderr.contains("NIO"), result.stderr)
    }

    func testRetriesComeFromTheEnvironmentAndTheOptionWins() throws {
        let none = try snapshots([], env: ["PLANVAULT_RETRIES": "0"])
        XCTAssertFalse(none.stderr.contains("retrying"), none.stderr)
        XCTAssertTrue(none.stderr.contains("gave up after 1 attempt: connection refused"), none.stderr)
        let option = try snapshots(["--retries", "1"], env: ["PLANVAULT_RETRIES": "0"])
        XCTAssertTrue(option.stderr.contains("(attempt 2 of 2)"), option.stderr)
    }

    func testAnUnusableRetryBudgetIsRefusedWithWhatToGive() throws {
        let env = try snapshots([], env: ["PLANVAULT_RETRIES": "many"])
        XCTAssertEqual(env.status, 1, env.stderr)
        XCTAssertTrue(env.stderr.contains("PLANVAULT_RETRIES is \"many\": give a whole number from 0 to 20"), env.stderr)
        let option = try snapshots(["--retries", "99"], env: [:])
        XCTAssertEqual(option.status, 64, "a value out of range on the command line is a usage error: " + option.stderr)
        XCTAssertTrue(option.stderr.contains("--retries 99 is out of range: give 0 to 20"), option.stderr)
    }
}

/// Certificate and hostname failures, as the user sees them from the command line: at once, no
/// retry, and what to do (for the PlanVault server and for an S3 endpoint alike).
final class TLSHintTests: XCTestCase {
    func env(_ dir: TempDir, _ extra: [String: String] = [:]) -> [String: String] {
        var env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "HOME": dir.path, "PLANVAULT_CACHE_DIR": dir.sub("cache"),
                   "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "testsecret"]
        for (k, v) in extra { env[k] = v }
        return env
    }

    func assertStopsAtOnce(_ result: CLI.Result, saying hints: [String], started: Date, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
        for hint in hints { XCTAssertTrue(result.stderr.contains(hint), "missing \"\(hint)\" in: \(result.stderr)", file: file, line: line) }
        XCTAssertFalse(result.stderr.contains("retrying"), result.stderr, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("NIOSSL"), result.stderr, file: file, line: line)
        XCTAssertFalse(result.stderr.contains(".swift"), result.stderr, file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "a permanent TLS failure was retried", file: file, line: line)
    }

    func testUntrustedCertificateStopsAtOnceNamingCacert() throws {
        let server = try TestServer()
        let dir = try TempDir()
        var started = Date()
        let https = try CLI.run(["snapshots", "--repo", server.url], env: env(dir, ["PLANVAULT_SERVER_TOKEN": server.reader]))
        assertStopsAtOnce(https, saying: ["not trusted", "--cacert FILE"], started: started)
        started = Date()
        let s3 = try CLI.run(["snapshots", "--repo", "s3://plans/vault", "--s3-endpoint", "https://\(server.address)"], env: env(dir))
        assertStopsAtOnce(s3, saying: ["not trusted", "--cacert FILE"], started: started)
    }

    func testCertificateForAnotherNameStopsAtOnceNamingTheFix() throws {
        // The certificate names 127.0.0.1 and localhost; the server answers on 127.0.0.2.
        let server = try TestServer(host: "127.0.0.2")
        let dir = try TempDir()
        var started = Date()
        let https = try CLI.run(["snapshots", "--repo", server.url, "--cacert", server.certPath],
                                env: env(dir, ["PLANVAULT_SERVER_TOKEN": server.reader]))
        assertStopsAtOnce(https, saying: ["not for 127.0.0.2: it is for 127.0.0.1, localhost. Use one of those names"], started: started)
        started = Date()
        let s3 = try CLI.run(["snapshots", "--repo", "s3://plans/vault", "--s3-endpoint", "https://\(server.address)", "--cacert", server.certPath],
                             env: env(dir))
        assertStopsAtOnce(s3, saying: ["not for 127.0.0.2: it is for 127.0.0.1, localhost"], started: started)
    }
}
