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

    /// One folder's list of contents damaged in every copy: the restore brings back everything
    /// else, names that folder, creates nothing in its place and exits non-zero.
    func testAFolderWhoseTreeIsDamagedIsNamedAndEverythingElseRestores() async throws {
        let dir = try TempDir(removedAfter: self)
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), "name,phone\nAda,555-0100\n")
        try Fixture.write(dir.sub("plans/BCP/plan.md"), "# Business continuity plan")
        try Fixture.write(dir.sub("plans/BCP/Annex/annex.md"), "annex")
        try Fixture.write(dir.sub("plans/Runbooks/restore.md"), "restore the file server first")
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])

        // The tree of plans/BCP, found from the root down, and one byte of its sealed copy flipped.
        let (root, trees, _) = try await writer.repository.loadTrees(pushed.snapshot, id: pushed.snapshotID, index: pushed.index)
        let subtree = { (tree: Digest32, name: String) throws -> Digest32 in
            try XCTUnwrap(trees[tree]?.first { $0.name == name }?.subtree.flatMap(Digest32.init(hex:)), name)
        }
        let bcp = try subtree(try subtree(root, "plans"), "BCP")
        let locations = pushed.index.locations(of: bcp)
        XCTAssertEqual(locations.count, 1, "one copy, so no other copy can stand in")
        let location = try XCTUnwrap(locations.first)
        let bundlePath = dir.sub("repo/bundles/\(location.bundle.hex.prefix(2))/\(location.bundle.hex)")
        var bytes = try FileIO.readFile(bundlePath)
        bytes[Int(location.entry.offset) + Int(location.entry.length) / 2] ^= 0x40
        try FileIO.writeAtomically(bytes, to: bundlePath, inDirectory: (bundlePath as NSString).deletingLastPathComponent)

        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "HOME": dir.path]
        let restore = try CLI.run(["restore", "latest", "--repo", dir.sub("repo"), "--no-cache", "--to", dir.sub("out")], env: env)
        XCTAssertEqual(restore.status, ExitCodes.failure, restore.stdout + restore.stderr)
        XCTAssertTrue(restore.stderr.contains("not restored: plans/BCP: its contents are unknown: tree \(bcp.shortHex) could not be read"), restore.stderr)
        XCTAssertTrue(restore.stderr.contains("1 item(s) could not be restored"), restore.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans/BCP")), "nothing stands in for the unreadable folder")
        for kept in ["Contacts", "Runbooks"] {
            XCTAssertEqual(try TreeCompare.differences(dir.sub("plans/\(kept)"), dir.sub("out/plans/\(kept)")), [], kept)
        }

        // A restore of other folders only is whole, and says nothing of the damaged one.
        let contacts = try CLI.run(["restore", "latest", "--repo", dir.sub("repo"), "--no-cache", "--to", dir.sub("contacts"),
                                    "--include", "plans/Contacts"], env: env)
        XCTAssertEqual(contacts.status, 0, contacts.stderr)
        XCTAssertFalse(contacts.stderr.contains("BCP"), contacts.stderr)
        // A glob may match files inside it, unseen: it is named, not skipped in silence.
        let glob = try CLI.run(["restore", "latest", "--repo", dir.sub("repo"), "--no-cache", "--to", dir.sub("glob"),
                                "--include", "*.md"], env: env)
        XCTAssertEqual(glob.status, ExitCodes.failure, glob.stdout + glob.stderr)
        XCTAssertTrue(glob.stderr.contains("not restored: plans/BCP: its contents are unknown"), glob.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("glob/plans/Runbooks/restore.md")))
        // A path inside it cannot be told from a path that never existed: both are said.
        let inside = try CLI.run(["restore", "latest", "--repo", dir.sub("repo"), "--no-cache", "--to", dir.sub("inside"),
                                  "--include", "plans/BCP/plan.md"], env: env)
        XCTAssertEqual(inside.status, ExitCodes.failure, inside.stdout + inside.stderr)
        XCTAssertTrue(inside.stderr.contains("--include plans/BCP/plan.md matches nothing that could be read"), inside.stderr)
        XCTAssertTrue(inside.stderr.contains("not restored: plans/BCP: its contents are unknown"), inside.stderr)
    }
}
