import XCTest
import PlanVaultTestSupport

/// A source file whose disk fails partway through a push, made real by a read(2) interposer
/// (Sources/ReadFaultShim, loaded with LD_PRELOAD): the push names it and leaves it out of the
/// snapshot, nothing of it is restored as if whole, and the next push takes it in full.
final class ReadFaultTests: CLITestCase {
    static var shim: String { FaultShim.path }

    static func summary(_ json: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return try XCTUnwrap(object?["summary"] as? [String: Any], json)
    }

    func testAFileWhoseReadFailsPartwayIsNamedLeftOutAndTakenWholeByTheNextPush() throws {
        guard FileManager.default.fileExists(atPath: Self.shim) else {
            return XCTFail("no read fault shim at \(Self.shim): build it with `swift build --product ReadFaultShim`")
        }
        let plans = dir.sub("plans"), repo = dir.sub("repo")
        let annex = Fixture.noise(8 << 20, seed: 11)
        try Fixture.write(plans + "/Runbook.md", "Call the EOC first.\n")
        try Fixture.write(plans + "/Annex B.pdf", annex)
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)

        // The disk gives the first 5 MiB of the annex, then fails: by then chunks of it are cut,
        // sealed and on their way to the repository (the reader holds two 1 MiB chunks at most).
        let failing = try pv(["push", "--repo", repo, "--json", plans], env: [
            "LD_PRELOAD": Self.shim,
            "PLANVAULT_TEST_FAIL_READ_PATH": plans + "/Annex B.pdf",
            "PLANVAULT_TEST_FAIL_READ_AFTER": "\((5 << 20) + 12345)",
        ])
        XCTAssertEqual(failing.status, 3, "a push that could not read a file says so in its exit code: \(failing.stderr)")
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(failing.stdout.utf8)) as? [String: Any], failing.stdout)
        let problems = try XCTUnwrap(report["problems"] as? [[String: String]], failing.stdout)
        XCTAssertEqual(problems.map { $0["path"] }, [plans + "/Annex B.pdf"])
        XCTAssertEqual(problems.first?["message"], "read failed: read \(plans)/Annex B.pdf: Input/output error")
        XCTAssertTrue(failing.stderr.contains("exit 3") && failing.stderr.contains("1 item(s) skipped"), failing.stderr)
        let storedBeforeTheFault = try XCTUnwrap(report["summary"] as? [String: Any])
        XCTAssertEqual(storedBeforeTheFault["files"] as? Int, 1)
        XCTAssertGreaterThan(storedBeforeTheFault["new_chunks"] as? Int ?? 0, 2, "chunks read before the fault were stored")

        let listing = try pv(["ls", "latest", "--repo", repo])
        XCTAssertEqual(listing.status, 0, listing.stderr)
        XCTAssertTrue(listing.stdout.contains("Runbook.md"), listing.stdout)
        XCTAssertFalse(listing.stdout.contains("Annex B.pdf"), "no part of the failed file is in the snapshot: \(listing.stdout)")
        let verify = try pv(["verify", "--repo", repo, "--read-data"])
        XCTAssertEqual(verify.status, 0, "the chunks stored before the failure leave the repository whole: \(verify.stderr)")

        let first = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("first")])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: dir.sub("first/plans/Runbook.md")), Data("Call the EOC first.\n".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("first/plans/Annex B.pdf")))

        let healed = try pv(["push", "--repo", repo, "--json", plans])
        XCTAssertEqual(healed.status, 0, healed.stderr)
        let stored = try XCTUnwrap(try Self.summary(healed.stdout)["bytes_stored"] as? Int)
        XCTAssertLessThan(stored, annex.count - (2 << 20), "the chunks stored before the fault are used, not stored again")
        let second = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("second")])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: dir.sub("second/plans/Annex B.pdf")), Data(annex))
    }

    /// A filesystem that takes O_DIRECT but refuses the I/O (EINVAL; some network shares): bundles
    /// are written and read the ordinary way instead, and the repository is the same. The shim
    /// refuses every direct pread and pwrite and logs each refusal, so the fallbacks are proven taken.
    func testWhereDirectIOIsRefusedBundlesAreWrittenAndReadTheOrdinaryWay() throws {
        guard FileManager.default.fileExists(atPath: Self.shim) else {
            return XCTFail("no read fault shim at \(Self.shim): build it with `swift build --product ReadFaultShim`")
        }
        let plans = dir.sub("plans"), repo = dir.sub("repo"), log = dir.sub("refused.log")
        // Where the test folder's filesystem refuses O_DIRECT (0o40000 on x86-64 Linux) at open, there is nothing to refuse.
        let probe = open(dir.sub("probe"), O_WRONLY | O_CREAT | 0o40000, 0o600)
        guard probe >= 0 else { throw XCTSkip("the test folder's filesystem does not take O_DIRECT") }
        close(probe)
        try Fixture.write(plans + "/Annex C.pdf", Fixture.noise(6 << 20, seed: 12))
        try Fixture.write(plans + "/Runbook.md", Fixture.text(400, seed: 13))
        let refusing = ["LD_PRELOAD": Self.shim, "PLANVAULT_TEST_REFUSE_DIRECT_IO": log]
        XCTAssertEqual(try pv(["init", "--repo", repo]).status, 0)

        let push = try pv(["push", "--repo", repo, plans], env: refusing)
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("pwrite refused"), "the bundle write fell back")
        try FileManager.default.removeItem(atPath: log)

        let verify = try pv(["verify", "--repo", repo, "--read-data", "--no-cache"], env: refusing)
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("pread refused"), "the bundle read fell back")
        try FileManager.default.removeItem(atPath: log)
        let restore = try pv(["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--no-cache"], env: refusing)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("pread refused"), "the restore's bundle reads fell back")
        XCTAssertEqual(try TreeCompare.differences(plans, dir.sub("out/plans")), [])
        // The bundles written the ordinary way read back whole through direct I/O too.
        XCTAssertEqual(try pv(["verify", "--repo", repo, "--read-data", "--no-cache"]).status, 0)
    }
}
