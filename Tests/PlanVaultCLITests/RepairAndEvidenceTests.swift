import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Damage that must be noticed, said and healed (issue 8, defects 4, 22, 24–27), through the
/// real executable.
final class RepairAndEvidenceTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(1_500_000, seed: 1))
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(300, seed: 2))
        try ok(["init", "--repo", repo, "--bundle-size-mib", "1"])
        try ok(["push", "--repo", repo, dir.sub("plans")])
    }

    @discardableResult
    func ok(_ args: [String]) throws -> CLI.Result {
        let r = try pv(args)
        XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        return r
    }

    func objects(_ kind: String) throws -> [String] {
        if kind == "bundles" {
            return try FileIO.listDirectory(dir.sub("repo/bundles")).flatMap { sub in
                try FileIO.listDirectory(dir.sub("repo/bundles/\(sub)")).filter(ObjectName.isValid).map { "bundles/\(sub)/\($0)" }
            }
        }
        return try FileIO.listDirectory(dir.sub("repo/\(kind)")).filter(ObjectName.isValid).map { "\(kind)/\($0)" }
    }

    func flipByte(_ relative: String, at: (Int) -> Int = { $0 / 2 }) throws {
        let path = dir.sub("repo/\(relative)")
        var bytes = try FileIO.readFile(path)
        bytes[at(bytes.count)] ^= 0x01
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
    }

    // MARK: Defect 4

    func testDamagedBundleIsNotReusedByTheNextPushAndRepairHealsIt() throws {
        // A bundle of file data (folder listings have a small bundle of their own).
        let bundles = try objects("bundles").filter { ((try? FileIO.readFile(dir.sub("repo/\($0)")).count) ?? 0) > 100_000 }
        XCTAssertFalse(bundles.isEmpty)
        let victim = try XCTUnwrap(bundles.first)
        try flipByte(victim, at: { $0 / 2 })
        let verify = try pv(["verify", "--repo", repo, "--read-data"])
        XCTAssertEqual(verify.status, 4, verify.stdout)

        // The next push (nothing changed in the sources) stores the damaged bundle's chunks again.
        let push = try ok(["push", "--repo", repo, "--json", dir.sub("plans")])
        let summary = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(push.stdout.utf8)) as? [String: Any])?["summary"] as? [String: Any])
        XCTAssertGreaterThan(summary["new_chunks"] as? Int ?? 0, 0, push.stdout)
        try ok(["restore", "latest", "--repo", repo, "--to", dir.sub("out")])
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])

        // repair removes the damaged bundle and rewrites the index; verify is clean again.
        let repair = try ok(["repair", "--repo", repo, dir.sub("plans")])
        XCTAssertTrue(repair.stdout.contains("removed damaged bundle"), repair.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("repo/\(victim)")))
        let clean = try pv(["verify", "--repo", repo, "--read-data"])
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
    }

    func testRepairNeverDeletesABundleOnTheWordOfAnUncheckedCopy() throws {
        let victim = try XCTUnwrap(try objects("bundles").first { ((try? FileIO.readFile(dir.sub("repo/\($0)")).count) ?? 0) > 100_000 })
        // A copy of the bundle that no index names, under another name, with a damaged record;
        // then the original is damaged too. Neither holds an intact copy of the damaged chunks.
        let orphanName = String(repeating: "e", count: 64)
        let orphan = "bundles/ee/\(orphanName)"
        try FileManager.default.createDirectory(atPath: dir.sub("repo/bundles/ee"), withIntermediateDirectories: true)
        try Fixture.write(dir.sub("repo/\(orphan)"), try FileIO.readFile(dir.sub("repo/\(victim)")))
        try flipByte(orphan, at: { $0 / 2 })
        try flipByte(victim, at: { $0 / 2 })
        // No sources given: nothing can be stored again, so the damage cannot be healed.
        let repair = try pv(["repair", "--repo", repo])
        XCTAssertEqual(repair.status, 4, repair.stdout + repair.stderr)
        XCTAssertFalse(repair.stdout.contains("repair complete"), repair.stdout)
        XCTAssertTrue(repair.stderr.contains("cannot be restored"), repair.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("repo/\(victim)")), "the damaged bundle was deleted though no intact copy exists")
    }

    func testLatestRefusesWhenTheNewestAttestedSnapshotWasDeletedAtTheTarget() throws {
        let first = try objects("snapshots")
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(300, seed: 3))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        let newest = try XCTUnwrap(Set(try objects("snapshots")).subtracting(first).first)
        let older = try XCTUnwrap(first.first)
        try FileManager.default.removeItem(atPath: dir.sub("repo/\(newest)"))
        // From a machine that never saw the repository: only the target's signed records know.
        var bare = env
        bare["PLANVAULT_CACHE_DIR"] = dir.sub("bare-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("out")], env: bare)
        XCTAssertEqual(restore.status, 4, restore.stdout + restore.stderr)
        let newestID = String(newest.dropFirst("snapshots/".count).prefix(8)), olderID = String(older.dropFirst("snapshots/".count).prefix(8))
        XCTAssertTrue(restore.stderr.contains("snapshot \(newestID) of "), restore.stderr)
        XCTAssertTrue(restore.stderr.contains("is missing at the target"), restore.stderr)
        XCTAssertTrue(restore.stderr.contains("name it: \(olderID)"), restore.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out")), "something was restored")
        // Named, the older snapshot restores.
        let named = try CLI.run(["restore", olderID, "--repo", repo, "--to", dir.sub("out")], env: bare)
        XCTAssertEqual(named.status, 0, named.stderr)
    }

    func testLatestIsTheOlderSnapshotWhenTheNewerWasForgotten() throws {
        let first = try objects("snapshots")
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(300, seed: 3))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        let newest = try XCTUnwrap(Set(try objects("snapshots")).subtracting(first).first)
        // A removal with a signed retention record is not a loss.
        try ok(["forget", String(newest.dropFirst("snapshots/".count).prefix(8)), "--repo", repo])
        let restore = try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("out")], env: env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
    }

    func testRepairUploadReplacesADamagedCopyOfTheSameName() async throws {
        let victim = try XCTUnwrap(try objects("bundles").first)
        let good = try FileIO.readFile(dir.sub("repo/\(victim)"))
        try flipByte(victim)
        let name = (victim as NSString).lastPathComponent
        try await DirectoryBackend(root: repo).write(.bundle, name: name, data: good)
        XCTAssertEqual(try FileIO.readFile(dir.sub("repo/\(victim)")), good)
    }

    // MARK: Defect 22

    func testVerifyReportsASnapshotDeletedAtTheTargetAndADamagedAttestation() throws {
        try Fixture.write(dir.sub("plans/Runbooks/new.md"), Fixture.text(50, seed: 4))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        let snapshots = try objects("snapshots")
        unlink(dir.sub("repo/\(snapshots[0])"))
        let verify = try pv(["verify", "--repo", repo])
        XCTAssertEqual(verify.status, 4, verify.stdout)
        XCTAssertTrue(verify.stdout.contains((snapshots[0] as NSString).lastPathComponent.prefix(12)), verify.stdout)

    }

    func testVerifyReportsADamagedAttestation() throws {
        try Fixture.write(dir.sub("plans/Runbooks/new.md"), Fixture.text(50, seed: 4))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        let attestation = try XCTUnwrap(try objects("attestations").sorted().first)
        try flipByte(attestation, at: { _ in 10 })
        let damaged = try pv(["verify", "--repo", repo, "--no-cache"])
        XCTAssertEqual(damaged.status, 4, damaged.stdout)
        XCTAssertTrue(damaged.stdout.contains("DAMAGED attestation"), damaged.stdout)
    }

    func testVerifyNoticesTheNewestAttestationDeletedAtTheTarget() throws {
        try Fixture.write(dir.sub("plans/Runbooks/new.md"), Fixture.text(50, seed: 4))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        let records = try objects("attestations").compactMap { name -> (String, Int)? in
            guard let parsed = Attestation.parse(try FileIO.readFile(dir.sub("repo/\(name)"))) else { return nil }
            return (name, parsed.attestation.sequence)
        }
        let newest = try XCTUnwrap(records.max { $0.1 < $1.1 }?.0)
        unlink(dir.sub("repo/\(newest)"))
        let verify = try pv(["verify", "--repo", repo])
        XCTAssertEqual(verify.status, 4, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("is missing at the target"), verify.stdout)
    }

    // MARK: Defect 24

    func testPushRemovesStaleTemporaryFilesButNotFreshOnes() throws {
        let stale = [dir.sub("repo/bundles/00/.tmp-0123456789abcdef"), dir.sub("repo/index/.tmp-stale")]
        let fresh = dir.sub("repo/snapshots/.tmp-in-progress")
        for path in stale + [fresh] { try Fixture.write(path, Fixture.noise(1000, seed: 9)) }
        var old = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
        for path in stale { XCTAssertEqual(utimensat(AT_FDCWD, path, &old, 0), 0) }
        try ok(["push", "--repo", repo, dir.sub("plans")])
        for path in stale { XCTAssertFalse(FileManager.default.fileExists(atPath: path), path) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh))
    }

    // MARK: Defect 25

    func testLostConfigIsNeverReinitialisedAndRepairWritesItBack() throws {
        let original = try FileIO.readFile(dir.sub("repo/config"))
        unlink(dir.sub("repo/config"))
        let initAgain = try pv(["init", "--repo", repo])
        XCTAssertNotEqual(initAgain.status, 0)
        XCTAssertTrue(initAgain.stderr.contains("planvault repair"), initAgain.stderr)
        let snapshots = try pv(["snapshots", "--repo", repo])
        XCTAssertEqual(snapshots.status, 0, snapshots.stderr)
        XCTAssertTrue(snapshots.stderr.contains("config is missing"), snapshots.stderr)
        let verify = try pv(["verify", "--repo", repo])
        XCTAssertEqual(verify.status, 4, verify.stdout)
        try ok(["repair", "--repo", repo, dir.sub("plans")])
        XCTAssertEqual(try FileIO.readFile(dir.sub("repo/config")), original)
        try ok(["verify", "--repo", repo, "--read-data"])
    }

    // MARK: Defect 26

    func testAuditFailsWhenTheOnlyKeyFileIsDamagedOrTheConfigAltered() throws {
        let key = try ok(["key", "export-public", "--repo", repo])
        try Fixture.write(dir.sub("audit.pub"), key.stdout)
        let audit = { try CLI.run(["audit", "--repo", self.repo, "--public-key", self.dir.sub("audit.pub"), "--integrity-only"], env: ["HOME": self.dir.sub("auditor")]) }
        XCTAssertEqual(try audit().status, 0)

        let config = dir.sub("repo/config")
        let text = String(decoding: try FileIO.readFile(config), as: UTF8.self)
        try FileIO.writeAtomically(Array((text + "\n").utf8), to: config, inDirectory: repo)
        let altered = try audit()
        XCTAssertEqual(altered.status, 4, altered.stdout)
        XCTAssertTrue(altered.stdout.contains("config differs"), altered.stdout)
        try FileIO.writeAtomically(Array(text.utf8), to: config, inDirectory: repo)

        try flipByte(try XCTUnwrap(try objects("keys").first))
        let damaged = try audit()
        XCTAssertEqual(damaged.status, 4, damaged.stdout)
        XCTAssertTrue(damaged.stdout.contains("no intact key file remains"), damaged.stdout)
    }

    /// A snapshot whose time is not a time cannot be placed: `restore latest` names it and exits 4
    /// rather than restore the newest of the others; a snapshot named by its ID still restores.
    func testRestoreLatestRefusesWhenASnapshotHasNoValidTime() async throws {
        let repository = try await Repository.open(backend: DirectoryBackend(root: repo), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let writer = RepositoryWriter(repository: repository, backend: DirectoryBackend(root: repo))
        let good = try await repository.resolveSnapshot("latest")
        var timeless = good.snapshot
        timeless.time = "yesterday"
        let saved = try await writer.saveSnapshot(timeless)

        let refused = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out")])
        XCTAssertEqual(refused.status, 4, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("snapshot \(saved.id.prefix(12)) has no valid time (\"yesterday\" is not an RFC 3339 UTC time)"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans")), "nothing restored")
        let byID = try pv(["restore", String(good.id.prefix(8)), "--repo", repo, "--to", dir.sub("byid")])
        XCTAssertEqual(byID.status, 0, byID.stderr)
        // verify names it too, before anyone needs `latest`.
        let verify = try pv(["verify", "--repo", repo])
        XCTAssertEqual(verify.status, 4, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("has no valid time"), verify.stdout)
    }

    // MARK: Defect 27

    func testSnapshotLeftWithoutItsRecordIsAttestedByTheNextPush() async throws {
        // What a push killed between its snapshot and its record leaves.
        let repository = try await Repository.open(backend: DirectoryBackend(root: repo), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let writer = RepositoryWriter(repository: repository, backend: DirectoryBackend(root: repo))
        var orphan = try await repository.resolveSnapshot("latest").snapshot
        orphan.time = Timestamps.format(Date().addingTimeInterval(1))
        let saved = try await writer.saveSnapshot(orphan)

        try ok(["push", "--repo", repo, dir.sub("plans")])
        let records = try objects("attestations").compactMap { Attestation.parse(try FileIO.readFile(dir.sub("repo/\($0)")))?.attestation }
        let record = try XCTUnwrap(records.first { $0.snapshot?.id == saved.id }, "the orphan snapshot was not attested")
        XCTAssertEqual(record.adopted, true)
    }
}
