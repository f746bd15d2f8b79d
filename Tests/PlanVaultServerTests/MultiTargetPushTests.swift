import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `push` with several `[[targets]]` (issue 11: several offsite copies), one of them a real
/// `planvault serve` that is stopped and started again.
final class MultiTargetPushTests: XCTestCase {
    func testOneTargetDownTheOtherGetsTheSnapshotAndTheExitCodeNamesTheFailedOne() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "HOME": dir.path, "PLANVAULT_RETRIES": "1"]
        let share = dir.sub("share/planvault")
        try FileManager.default.createDirectory(atPath: dir.sub("share"), withIntermediateDirectories: true)  // the mounted share
        try Fixture.writeTargetsConfig(dir.sub("planvault.toml"), sources: ["plans"], [("alternate site", server.url), ("file share", share)])
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)

        // The share holds no repository yet (as when it is not mounted): push does not make one
        // on the local disk under the mount point; it names the target and how to start a copy.
        let unstarted = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(unstarted.status, 1, unstarted.stderr)
        XCTAssertTrue(unstarted.stderr.contains("target file share (\(share)): not updated: no PlanVault repository at \(share)"), unstarted.stderr)
        XCTAssertTrue(unstarted.stderr.contains("run `planvault copy --repo \(server.url) --to \(share)` once"), unstarted.stderr)
        XCTAssertTrue(unstarted.stderr.contains("1 of 2 targets failed: file share"), unstarted.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: share), "nothing written where the share should be")
        let started = try CLI.run(["copy", "--to", share], env: env, cwd: dir.path)
        XCTAssertEqual(started.status, 0, started.stderr)

        // Both up: each snapshot on both targets.
        let both = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertTrue(both.stdout.contains("target file share (\(share)): up to date"), both.stdout)
        let ids = try FileIO.listDirectory(share + "/snapshots")
        XCTAssertEqual(ids.count, 2)
        XCTAssertEqual(Set(try FileIO.listDirectory(server.root + "/plans/snapshots")), Set(ids), "the same snapshots on both")

        // The alternate site down: the file share still gets tonight's snapshot; exit 1 names the site.
        server.kill()
        try Fixture.write(dir.sub("plans/Runbooks/tonight.md"), Fixture.text(20, seed: 4))
        let down = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(down.status, 1, down.stderr)
        XCTAssertTrue(down.stderr.contains("1 of 2 targets failed: alternate site"), down.stderr)
        // The log's last line is the run's, with the exit code the process returned; each
        // target's own line says which target it closes.
        let downLines = down.stderr.split(separator: "\n")
        XCTAssertTrue(downLines.last?.contains("finished in") == true && downLines.last?.contains("exit 1: 1 of 2 targets failed") == true, down.stderr)
        XCTAssertTrue(downLines.contains { $0.contains("target file share (\(share)): finished in") && $0.contains("exit 0: snapshot ") }, down.stderr)
        XCTAssertEqual(try FileIO.listDirectory(share + "/snapshots").count, 3)
        let restore = try CLI.run(["restore", "latest", "--repo", share, "--to", dir.sub("out"), "--no-cache"], env: env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        // verify checks every target and names the one that did not pass.
        let verifyDown = try CLI.run(["verify"], env: env, cwd: dir.path)
        XCTAssertNotEqual(verifyDown.status, 0, verifyDown.stdout)
        XCTAssertTrue(verifyDown.stderr.contains("1 of 2 targets did not pass: alternate site"), verifyDown.stderr)
        let verifyLast = verifyDown.stderr.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(verifyLast.contains("finished in") && verifyLast.contains("exit \(verifyDown.status): 1 of 2 targets did not pass"), verifyDown.stderr)

        // Back up: the next push brings the site up to date, missed snapshot included.
        try server.start(port: server.port)
        let again = try CLI.run(["push"], env: env, cwd: dir.path)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(Set(try FileIO.listDirectory(server.root + "/plans/snapshots")), Set(try FileIO.listDirectory(share + "/snapshots")))
        let verify = try CLI.run(["verify"], env: env, cwd: dir.path)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("== target alternate site") && verify.stdout.contains("== target file share"), verify.stdout)

        // The auditor checks each target's own chain, with a report per target.
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", share], env: env).stdout)
        let audit = try CLI.run(["audit", "--public-key", dir.sub("audit.pub"), "--integrity-only", "--report", dir.sub("audit.json")],
                                env: ["PLANVAULT_SERVER_TOKEN": server.auditor, "PLANVAULT_CACERT": server.certPath, "HOME": dir.sub("auditor")],
                                cwd: dir.path)
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        XCTAssertEqual(audit.stdout.components(separatedBy: "verdict: PASS").count, 3, audit.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("audit-target1.json")) && FileManager.default.fileExists(atPath: dir.sub("audit-target2.json")))
    }
}
