import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// The repository keeps serving the day's restore when parts of it are damaged.
final class ResilienceTests: XCTestCase {
    func testNamesDifferingOnlyInUnicodeNormalisationBothRestore() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/caf\u{00E9}.txt"), "composed")
        try Fixture.write(dir.sub("plans/cafe\u{0301}.txt"), "decomposed")
        // Foundation's path helpers split "/" + combining mark as one character: create the folder first.
        try FileManager.default.createDirectory(atPath: dir.sub("plans/a"), withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.sub("plans/a/\u{0301}b.txt"), contents: Data("combining mark after a slash".utf8)))
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(pushed.snapshot.summary.files, 3)
        let result = try await Fixture.restore(writer.repository, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(result.files, 3)
        XCTAssertEqual(try FileIO.listDirectory(dir.sub("out/plans")).count, 3)
    }

    func testDamagedIndexFileDoesNotBlockRestore() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/plan.docx"), Fixture.noise(2_000_000, seed: 8))
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        let indexName = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/index")).first { $0.count == 64 })
        XCTAssertEqual(unlink(dir.sub("repo/index/\(indexName)")), 0)
        let reopened = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let (_, snapshot) = try await reopened.resolveSnapshot("latest")
        let index = try await reopened.loadIndexWithBundles().load.index
        let result = try await Restorer(repository: reopened, logger: Fixture.logger).restore(snapshot, options: RestoreOptions(destination: dir.sub("out")), index: index)
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    func testRepairIndexRebuildsADamagedIndexFromBundleHeaders() throws {
        let dir = try TempDir()
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        try Fixture.write(dir.sub("plans/plan.docx"), Fixture.noise(3_000_000, seed: 10))
        XCTAssertEqual(try CLI.run(["init", "--repo", dir.sub("repo"), "--bundle-size-mib", "1"], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", dir.sub("repo"), dir.sub("plans")], env: env).status, 0)
        let indexName = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/index")).first { $0.count == 64 })
        var bytes = try FileIO.readFile(dir.sub("repo/index/\(indexName)"))
        bytes[bytes.count - 5] ^= 1
        try FileIO.writeAtomically(bytes, to: dir.sub("repo/index/\(indexName)"), inDirectory: dir.sub("repo/index"))
        let broken = try CLI.run(["verify", "--repo", dir.sub("repo"), "--no-cache"], env: env)
        XCTAssertEqual(broken.status, 4, broken.stdout)
        let repair = try CLI.run(["repair-index", "--repo", dir.sub("repo"), "--no-cache", "--remove-damaged"], env: env)
        XCTAssertEqual(repair.status, 0, repair.stderr)
        XCTAssertTrue(repair.stdout.contains("indexed"), repair.stdout)
        let fixed = try CLI.run(["verify", "--repo", dir.sub("repo"), "--read-data", "--no-cache"], env: env)
        XCTAssertEqual(fixed.status, 0, fixed.stdout)
    }

    func testLostBundleIsStoredAgainByTheNextPush() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/plan.docx"), Fixture.noise(2_000_000, seed: 9))
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        for bundle in try await writer.backend.list(.bundle) {
            XCTAssertEqual(unlink(dir.sub("repo/bundles/\(bundle.name.prefix(2))/\(bundle.name)")), 0)
        }
        let second = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(second.snapshot.summary.filesRead, 1, "a file whose chunks were lost is read again")
        XCTAssertGreaterThan(second.snapshot.summary.newChunks, 0)
        let result = try await Fixture.restore(writer.repository, snapshot: second.snapshotID, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    func testMalformedKeyFileDoesNotLockOutOtherKeys() async throws {
        let dir = try TempDir()
        _ = try await Fixture.makeRepository(dir)
        let config = try RepositoryConfig.decode(try FileIO.readFile(dir.sub("repo/config")), location: "repo")
        // A key file from "the future": an unknown KDF, sorting before the real key ("0000…").
        let bogus = Array("{\"version\":1,\"repository\":\"\(config.id)\",\"created\":\"x\",\"host\":\"h\",\"username\":\"u\",\"kdf\":{\"algorithm\":\"argon2id\",\"n\":1,\"r\":1,\"p\":1,\"salt\":\"AA==\"},\"nonce\":\"AA==\",\"wrapped\":\"AA==\"}".utf8)
        try FileIO.writeAtomically(bogus, to: dir.sub("repo/keys/\(String(repeating: "0", count: 64))"), inDirectory: dir.sub("repo/keys"))
        // And one whose scrypt cost would take 16 GiB and minutes: refused before any work.
        let costly = Array("{\"version\":1,\"repository\":\"\(config.id)\",\"created\":\"x\",\"host\":\"h\",\"username\":\"u\",\"kdf\":{\"algorithm\":\"scrypt\",\"n\":4194304,\"r\":32,\"p\":1,\"salt\":\"AA==\"},\"nonce\":\"AAAAAAAAAAAAAAAA\",\"wrapped\":\"AA==\"}".utf8)
        try FileIO.writeAtomically(costly, to: dir.sub("repo/keys/\(String(repeating: "0", count: 63))1"), inDirectory: dir.sub("repo/keys"))
        let opened = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        XCTAssertEqual(opened.config.id, config.id)
    }
}
