import XCTest
import PlanVaultTestSupport

/// `planvault copy` from a directory repository to S3 (issue 11: several offsite copies).
final class S3CopyTests: XCTestCase {
    func testCopyToS3RestoresAndAuditsThere() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = s3.env(dir)
        let local = dir.sub("repo"), remote = "s3://plans/copy"
        XCTAssertEqual(try CLI.run(["init", "--repo", local], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", local, dir.sub("plans")], env: env).status, 0)
        let copy = try CLI.run(["copy", "--repo", local, "--to", remote], env: env)
        XCTAssertEqual(copy.status, 0, copy.stderr)
        var fresh = env
        fresh["PLANVAULT_CACHE_DIR"] = dir.sub("fresh-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", remote, "--to", dir.sub("out")], env: fresh)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", local], env: env).stdout)
        let audit = try CLI.run(["audit", "--repo", remote, "--public-key", dir.sub("audit.pub"), "--integrity-only"],
                                env: ["AWS_ACCESS_KEY_ID": S3TestServer.accessKey, "AWS_SECRET_ACCESS_KEY": S3TestServer.secretKey,
                                      "PLANVAULT_S3_ENDPOINT": s3.endpoint, "HOME": dir.sub("auditor")])
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        let again = try CLI.run(["copy", "--repo", local, "--to", remote, "--json"], env: env)
        XCTAssertTrue(again.stdout.contains("\"objects_copied\" : 0"), again.stdout)
    }
}
