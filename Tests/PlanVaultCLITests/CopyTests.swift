import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `planvault copy` (issue 11: several offsite copies).
final class CopyTests: CLITestCase {
    var copy: String { dir.sub("copy") }

    override func setUp() async throws {
        try await super.setUp()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        for i in 0..<12 { try Fixture.write(dir.sub("plans/scans/scan-\(i).pdf"), Fixture.noise(1_200_000, seed: UInt64(100 + i))) }
        XCTAssertEqual(try CLI.run(["init", "--repo", repo, "--bundle-size-mib", "1"], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
    }

    func bundles(_ root: String) -> Int {
        (FileManager.default.enumerator(atPath: root + "/bundles")?.allObjects as? [String] ?? []).filter { $0.count == 67 }.count
    }

    /// The copy is a whole repository: it verifies, restores byte-identically with no cache, and
    /// an auditor with the public key alone finds its own attestation chain complete.
    func assertCompleteCopy(file: StaticString = #filePath, line: UInt = #line) throws {
        let verify = try CLI.run(["verify", "--repo", copy, "--read-data", "--no-cache"], env: env)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr, file: file, line: line)
        let out = dir.sub("out-\(UUID().uuidString)")
        let restore = try CLI.run(["restore", "latest", "--repo", copy, "--to", out, "--no-cache"], env: env)
        XCTAssertEqual(restore.status, 0, restore.stderr, file: file, line: line)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), out + "/plans"), [], file: file, line: line)
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", repo], env: env).stdout)
        let audit = try CLI.run(["audit", "--repo", copy, "--public-key", dir.sub("audit.pub"), "--integrity-only"], env: ["HOME": dir.sub("auditor")])
        XCTAssertEqual(audit.status, 0, audit.stdout, file: file, line: line)
    }

    /// A push to several targets never makes a repository at one that has none (an unmounted
    /// share's mount point): it names the copy command that starts one, and never `init`.
    func testPushToSeveralTargetsNeverStartsARepositoryAtATargetWithoutOne() throws {
        let share = dir.sub("share/planvault")
        try FileManager.default.createDirectory(atPath: dir.sub("share"), withIntermediateDirectories: true)
        try Fixture.writeTargetsConfig(dir.sub("planvault.toml"), sources: ["plans"], [("share", share), ("site", repo)])
        let push = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(push.status, 1, push.stderr)
        XCTAssertTrue(push.stderr.contains("target share (\(share)): finished in "), push.stderr)
        XCTAssertTrue(push.stderr.contains("exit 10: no PlanVault repository at \(share) (or only the start of one"), push.stderr)
        XCTAssertTrue(push.stderr.contains("run `planvault copy --repo \(repo) --to \(share)` once"), push.stderr)
        XCTAssertFalse(push.stderr.contains("`planvault init` makes"), "init would make a different repository: " + push.stderr)
        XCTAssertTrue(push.stderr.contains("1 of 2 targets failed: share"), push.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: share), "nothing made where the share should be")
        XCTAssertEqual(try FileIO.listDirectory(repo + "/snapshots").count, 2, "the other target took the push")

        // verify over the targets says the same of the missing copy.
        let verify = try CLI.run(["verify"], env: env, cwd: dir.path)
        XCTAssertEqual(verify.status, 10, verify.stderr)
        XCTAssertTrue(verify.stderr.contains("run `planvault copy` once from a target that holds the repository"), verify.stderr)
        XCTAssertFalse(verify.stderr.contains("`planvault init` makes"), verify.stderr)

        XCTAssertEqual(try CLI.run(["copy", "--repo", repo, "--to", share], env: env).status, 0)
        let again = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(Set(try FileIO.listDirectory(share + "/snapshots")), Set(try FileIO.listDirectory(repo + "/snapshots")))
    }

    /// When no target holds a repository (a first run, or every share unmounted), each target's
    /// advice to copy from another goes round in a circle: the run's closing line says what to do.
    func testPushToSeveralTargetsNoneOfWhichHoldsARepositorySaysHowToStart() throws {
        let first = dir.sub("first"), second = dir.sub("second")
        try Fixture.writeTargetsConfig(dir.sub("planvault.toml"), sources: ["plans"], [("first", first), ("second", second)])
        let push = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(push.status, 1, push.stderr)
        XCTAssertTrue(push.stderr.contains("exit 1: no target took the push: first (\(first)), second (\(second)); none holds a repository: "
                                           + "check that each is reachable (a share mounted); on the first run, make one with `planvault init --repo \(first)`, "
                                           + "then run `planvault copy --repo \(first) --to URL` once for each other target"), push.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first))
        XCTAssertFalse(FileManager.default.fileExists(atPath: second))
    }

    func testCopyMakesACompleteRepositoryAndASecondRunCopiesNothing() throws {
        let first = try CLI.run(["copy", "--repo", repo, "--to", copy], env: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("attested 1 snapshot(s) at the destination"), first.stdout)
        try assertCompleteCopy()
        let again = try CLI.run(["copy", "--from", repo, "--to", copy, "--json"], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("\"objects_copied\" : 0"), again.stdout)
        // A later push is carried over by the next copy.
        try Fixture.write(dir.sub("plans/Runbooks/new.md"), Fixture.text(50, seed: 9))
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["copy", "--repo", repo, "--to", copy], env: env).status, 0)
        try assertCompleteCopy()
    }

    func testCopyKilledHalfWayResumesAndEndsComplete() throws {
        let total = bundles(repo)
        XCTAssertGreaterThan(total, 8)
        let process = try CLI.start(["copy", "--repo", repo, "--to", copy], env: env, output: dir.sub("killed"))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning && bundles(copy) < 3 { usleep(500) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertLessThan(bundles(copy), total, "killed before it finished")
        let resumed = try CLI.run(["copy", "--repo", repo, "--to", copy], env: env)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(bundles(copy), total)
        try assertCompleteCopy()
    }

    func testCopyRefusesAnotherRepositoryAndADamagedSourceObject() throws {
        let other = dir.sub("other")
        XCTAssertEqual(try CLI.run(["init", "--repo", other], env: env).status, 0)
        let refused = try CLI.run(["copy", "--repo", repo, "--to", other], env: env)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("already holds another repository"), refused.stderr)

        let bundleRoot = dir.sub("repo/bundles")
        let rel = try XCTUnwrap((FileManager.default.enumerator(atPath: bundleRoot)?.allObjects as? [String])?.first { $0.count == 67 })
        var bytes = try FileIO.readFile("\(bundleRoot)/\(rel)")
        bytes[bytes.count / 2] ^= 1
        try FileIO.writeAtomically(bytes, to: "\(bundleRoot)/\(rel)", inDirectory: (("\(bundleRoot)/\(rel)") as NSString).deletingLastPathComponent)
        let damaged = try CLI.run(["copy", "--repo", repo, "--to", copy], env: env)
        XCTAssertNotEqual(damaged.status, 0)
        XCTAssertTrue(damaged.stderr.contains(String(rel.suffix(64).prefix(12))) || damaged.stderr.contains("does not match its name"), damaged.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(copy)/bundles/\(rel)"), "a damaged object is never copied")
    }

    func testCopyNeverBringsBackARevokedKeyOrAForgottenSnapshot() throws {
        let add = try CLI.run(["key", "add", "--repo", repo, "--label", "leaving custodian"], env: env.merging(["PLANVAULT_NEW_PASSPHRASE": "the leaving custodian's passphrase"]) { a, _ in a })
        XCTAssertEqual(add.status, 0, add.stderr)
        try Fixture.write(dir.sub("plans/Runbooks/second.md"), Fixture.text(30, seed: 5))
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["copy", "--repo", repo, "--to", copy], env: env).status, 0)
        // At the copy: the custodian's passphrase is revoked and the older snapshot forgotten.
        let leaving = try XCTUnwrap(add.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        XCTAssertEqual(try CLI.run(["key", "remove", "--repo", copy, leaving], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["forget", "--repo", copy, "--keep-last", "1"], env: env).status, 0)
        let snapshotsAtCopy = try FileIO.listDirectory(copy + "/snapshots")
        XCTAssertEqual(snapshotsAtCopy.count, 1)

        let again = try CLI.run(["copy", "--repo", repo, "--to", copy], env: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("1 snapshot(s) the destination's retention records removed were not brought back"), again.stdout)
        XCTAssertEqual(try FileIO.listDirectory(copy + "/snapshots"), snapshotsAtCopy)
        let revoked = try CLI.run(["snapshots", "--repo", copy], env: ["HOME": dir.sub("leaver"), "PLANVAULT_PASSPHRASE": "the leaving custodian's passphrase"])
        XCTAssertEqual(revoked.status, 12, "the revoked passphrase stays revoked at the copy: \(revoked.stderr)")
        try assertCompleteCopy()
    }
}
