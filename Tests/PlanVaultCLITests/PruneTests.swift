import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `forget --keep-*` and `prune` through the real executable (issue 9).
final class PruneTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        XCTAssertEqual(try pv(["init", "--repo", repo, "--bundle-size-mib", "1"]).status, 0)
    }

    func bytes(_ folder: String) -> UInt64 {
        var total: UInt64 = 0
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let name = enumerator?.nextObject() as? String {
            if let size = (try? FileManager.default.attributesOfItem(atPath: "\(folder)/\(name)"))?[.size] as? UInt64 { total += size }
        }
        return total
    }

    /// Three pushes, each replacing a 3 MiB file: the first two snapshots' data is garbage once forgotten.
    func pushThreeGenerations() throws {
        for generation in 0..<3 {
            try Fixture.write(dir.sub("plans/scan.bin"), Fixture.noise(3 * 1024 * 1024, seed: UInt64(generation)))
            try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(200, seed: 1))
            XCTAssertEqual(try pv(["push", "--repo", repo, dir.sub("plans")]).status, 0)
        }
    }

    func testForgetKeepLastDryRunThenPruneFreesSpaceAndEverythingRetainedRestores() throws {
        try pushThreeGenerations()
        let dry = try pv(["forget", "--repo", repo, "--keep-last", "1", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertEqual(dry.stdout.components(separatedBy: "remove ").count - 1, 2, dry.stdout)
        XCTAssertTrue(dry.stdout.contains("(last)"), dry.stdout)

        let before = bytes(dir.sub("repo/bundles"))
        let forget = try pv(["forget", "--repo", repo, "--keep-last", "1", "--prune"])
        XCTAssertEqual(forget.status, 0, forget.stdout + forget.stderr)
        XCTAssertTrue(forget.stdout.contains("prune: deleted"), forget.stdout)
        let after = bytes(dir.sub("repo/bundles"))
        XCTAssertLessThan(after, before - 5 * 1024 * 1024, "two generations of 3 MiB were freed")

        XCTAssertEqual(try pv(["verify", "--repo", repo, "--read-data"]).status, 0)
        XCTAssertEqual(try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out")]).status, 0)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let key = try pv(["key", "export-public", "--repo", repo])
        try Fixture.write(dir.sub("audit.pub"), key.stdout)
        let audit = try CLI.run(["audit", "--repo", repo, "--public-key", dir.sub("audit.pub"), "--integrity-only"], env: ["HOME": dir.sub("auditor")])
        XCTAssertEqual(audit.status, 0, audit.stdout)
    }

    func testConfigRetentionTableLetsCronRunForgetAlone() throws {
        try pushThreeGenerations()
        try Fixture.write(dir.sub("planvault.toml"), "repo = \"\(repo)\"\n[retention]\nkeep_last = 2\n")
        let forget = try CLI.run(["forget", "--config", dir.sub("planvault.toml")], env: env)
        XCTAssertEqual(forget.status, 0, forget.stdout + forget.stderr)
        XCTAssertTrue(forget.stdout.contains("forgot 1 snapshot"), forget.stdout)
        let none = try pv(["forget", "--repo", repo])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("no retention policy"), none.stderr)
    }

    func testPruneKilledAtAnyMomentLosesNothing() throws {
        try pushThreeGenerations()
        XCTAssertEqual(try pv(["forget", "--repo", repo, "--keep-last", "1"]).status, 0)
        XCTAssertEqual(try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("expected")]).status, 0)
        // Kill prune as soon as it has done 0, 1, 2, ... deletions or writes, until it completes.
        for round in 0..<30 {
            let objects = FileManager.default.enumerator(atPath: repo)?.allObjects.count ?? 0
            let process = try CLI.start(["prune", "--repo", repo, "--max-unused", "0"], env: env, output: dir.sub("prune-\(round)"))
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning && (FileManager.default.enumerator(atPath: repo)?.allObjects.count ?? 0) == objects && Date() < deadline {
                usleep(200)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let verify = try pv(["verify", "--repo", repo, "--read-data"])
            XCTAssertEqual(verify.status, 0, "round \(round): \(verify.stdout)")
            let out = dir.sub("check-\(round)")
            XCTAssertEqual(try pv(["restore", "latest", "--repo", repo, "--to", out]).status, 0)
            XCTAssertEqual(try TreeCompare.differences(dir.sub("expected/plans"), "\(out)/plans"), [])
            if process.terminationReason == .exit { break }
        }
        let final = try pv(["prune", "--repo", repo])
        XCTAssertEqual(final.status, 0, final.stdout + final.stderr)
    }

    /// What a prune killed between its deletes and its re-attestation leaves: the newest push
    /// record names a bundle that is gone. The next prune has nothing to delete, and must still
    /// attest the snapshot again (found once by the kill test above, under load).
    func testPruneWithNothingToDeleteStillReattestsRecordsNamingDeletedObjects() async throws {
        try pushThreeGenerations()
        let writer = try await RepositoryWriter(repository: Repository.open(backend: DirectoryBackend(root: repo), passphrase: Fixture.passphrase,
                                                                          cacheRoot: nil, logger: Fixture.logger),
                                                backend: DirectoryBackend(root: repo))
        let ids = try await writer.repository.snapshotIDs()
        let id = try XCTUnwrap(ids.first)
        let snapshot = try await writer.repository.loadSnapshot(id)
        var record = try await AttestationLog.pushRecord(snapshotID: id, snapshot: snapshot, repository: writer.repository)
        record.objects = (record.objects ?? []) + [.init(kind: ObjectKind.bundle.rawValue, name: String(repeating: "ab", count: 32), size: 1234)]
        record.repaired = true
        try await AttestationLog.append(record, writer: writer)
        let stale = try pv(["verify", "--repo", repo])
        XCTAssertEqual(stale.status, 4, "the record names a bundle that is not there: \(stale.stdout)")

        let prune = try pv(["prune", "--repo", repo])
        XCTAssertEqual(prune.status, 0, prune.stdout + prune.stderr)
        let verify = try pv(["verify", "--repo", repo])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }
}
