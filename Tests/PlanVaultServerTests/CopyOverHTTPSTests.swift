import XCTest
import PlanVaultTestSupport

/// `planvault copy` from a directory repository to `planvault serve` (issue 11: several offsite copies).
final class CopyOverHTTPSTests: XCTestCase {
    func testCopyToTheServerRestoresAndAuditsThere() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "HOME": dir.path]
        let local = dir.sub("repo")
        XCTAssertEqual(try CLI.run(["init", "--repo", local], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", local, dir.sub("plans")], env: env).status, 0)
        let copy = try CLI.run(["copy", "--repo", local, "--to", server.url], env: env)
        XCTAssertEqual(copy.status, 0, copy.stderr)
        let restore = try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out"), "--no-cache"], env: env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", local], env: env).stdout)
        let audit = try CLI.run(["audit", "--repo", server.url, "--public-key", dir.sub("audit.pub"), "--integrity-only"],
                                env: ["PLANVAULT_SERVER_TOKEN": server.auditor, "PLANVAULT_CACERT": server.certPath, "HOME": dir.sub("auditor")])
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
    }
}
