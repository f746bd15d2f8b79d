import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `restore --first`, restoring again after an interruption, and `push` with missing sources,
/// through the real executable.
final class RestoreOrderTests: CLITestCase {
    func testFirstFilesFromOptionAndConfigAreAnnouncedBeforeTheSummary() throws {
        XCTAssertEqual(try pv(["init", "--repo", repo, "--bundle-size-mib", "1"]).status, 0)
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(30, seed: 1))
        try Fixture.write(dir.sub("plans/Runbooks/restore-email.md"), Fixture.text(20, seed: 2))
        try Fixture.write(dir.sub("plans/Supporting/video.bin"), Fixture.noise(3 * 1024 * 1024, seed: 3))
        XCTAssertEqual(try pv(["push", "--repo", repo, dir.sub("plans")]).status, 0)
        try Fixture.write(dir.sub("planvault.toml"), "first = [\"call-tree.csv\"]\n")

        let r = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--first", "Runbooks", "--first", "nothing-*.pdf"],
                       cwd: dir.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("ready: ") },
                       ["ready: plans/Contacts/call-tree.csv", "ready: plans/Runbooks/restore-email.md"], r.stdout)
        XCTAssertTrue(lines.last?.hasPrefix("restored snapshot") ?? false, r.stdout)
        XCTAssertTrue(r.stderr.contains("--first nothing-*.pdf matches no file"), r.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    /// A restore killed (SIGKILL) half-way, once its priority file is on disk, is run again into
    /// the same folder: what it finished is kept (and counted), its temporary files are removed,
    /// and the tree is byte-identical to the source.
    func testKilledRestoreRunAgainKeepsFinishedFilesAndEndsIdentical() throws {
        XCTAssertEqual(try pv(["init", "--repo", repo, "--bundle-size-mib", "1"]).status, 0)
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), Fixture.text(30, seed: 1))
        for i in 0..<40 { try Fixture.write(dir.sub("plans/Small/note-\(i).md"), Fixture.text(10 + i, seed: i)) }
        for i in 0..<16 { try Fixture.write(dir.sub("plans/Supporting/video-\(i).bin"), Fixture.noise(4 * 1024 * 1024, seed: UInt64(100 + i))) }
        XCTAssertEqual(try pv(["push", "--repo", repo, dir.sub("plans")]).status, 0)

        let out = dir.sub("out")
        let log = dir.sub("killed")
        let process = try CLI.start(["restore", "latest", "--repo", repo, "--to", out, "--first", "call-tree.csv"], env: env, output: log)
        let deadline = Date().addingTimeInterval(120)
        func announced() -> Bool { ((try? String(contentsOfFile: log + ".out", encoding: .utf8)) ?? "").contains("ready: plans/Contacts/call-tree.csv") }
        while process.isRunning && !announced() && Date() < deadline { usleep(500) }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = CLI.collect(log, status: process.terminationStatus)
        XCTAssertTrue(wasRunning, "the restore finished before it could be interrupted; make the data larger")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)

        // What the interrupted run left: finished files under their names, and temporary files.
        let left = try TreeCompare.entries(out).filter { $0.value.type == "f" }.keys
        let finished = left.filter { !($0 as NSString).lastPathComponent.hasPrefix(".pv-restore-") }
        let temporary = left.count - finished.count
        XCTAssertTrue(finished.contains("plans/Contacts/call-tree.csv"))
        XCTAssertEqual(FileManager.default.contents(atPath: "\(out)/plans/Contacts/call-tree.csv"),
                       FileManager.default.contents(atPath: dir.sub("plans/Contacts/call-tree.csv")))
        XCTAssertGreaterThan(temporary, 0, "a half-way restore leaves temporary files")
        XCTAssertLessThan(finished.count, 57, "the restore was interrupted before it finished")

        let again = try pv(["restore", "latest", "--repo", repo, "--to", out, "--first", "call-tree.csv"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("ready: plans/Contacts/call-tree.csv\n"), "a kept priority file is announced too: \(again.stdout)")
        XCTAssertTrue(again.stdout.contains("\(finished.count) already there and identical, kept"), again.stdout)
        XCTAssertTrue(again.stdout.contains("removed \(temporary) temporary file(s)"), again.stdout)
        XCTAssertTrue(again.stdout.contains(": \(57 - finished.count) files"), again.stdout)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), "\(out)/plans"), [])
    }

    func testDifferingFileIsRefusedUntilOverwriteAndIdenticalOnesAreKept() throws {
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(200_000, seed: 1))
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(100, seed: 2))
        XCTAssertEqual(try pv(["push", "--repo", repo, dir.sub("plans")]).status, 0)
        XCTAssertEqual(try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out")]).status, 0)
        try Fixture.write(dir.sub("out/plans/Contacts/call tree.csv"), "edited at the alternate site\n")

        let refused = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--json"])
        XCTAssertEqual(refused.status, 1)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(refused.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["kept"] as? Int, 1)
        XCTAssertEqual(report["files"] as? Int, 0)
        XCTAssertTrue(refused.stdout.contains("already exists and differs from the snapshot"), refused.stdout)
        XCTAssertEqual(try String(contentsOfFile: dir.sub("out/plans/Contacts/call tree.csv"), encoding: .utf8), "edited at the alternate site\n")

        let replaced = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertTrue(replaced.stdout.contains(": 1 files") && replaced.stdout.contains("1 already there and identical, kept"), replaced.stdout)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    func testPushWithAMissingSourceNamesItPushesTheOthersAndExits3() throws {
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(100_000, seed: 1))
        let r = try pv(["push", "--repo", repo, dir.sub("plans"), dir.sub("scans")])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(dir.sub("scans")): this source cannot be read (No such file or directory)"), r.stderr)
        XCTAssertTrue(r.stdout.contains("snapshot") && r.stdout.contains("saved"), r.stdout)
        XCTAssertEqual(try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out")]).status, 0)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }

    func testPushWithEverySourceMissingExits1AndNamesThemAll() throws {
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)
        let r = try pv(["push", "--repo", repo, dir.sub("plans"), dir.sub("scans")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("no source can be read"), r.stderr)
        XCTAssertTrue(r.stderr.contains(dir.sub("plans")) && r.stderr.contains(dir.sub("scans")), r.stderr)
        let list = try pv(["snapshots", "--repo", repo, "--json"])
        XCTAssertEqual(((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["snapshots"] as? [Any])?.count, 0, "no snapshot was written")
    }
}
