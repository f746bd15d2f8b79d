import XCTest
import PlanVaultTestSupport

/// Issue 11 over HTTPS: recovery shares with a reader token, and status, against `planvault serve`.
final class SuccessionOverHTTPSTests: XCTestCase {
    func testSharesWithAReaderTokenRestoreAndStatusJudgesTheServer() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", server.url, dir.sub("plans")], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["key", "split", "--repo", server.url, "--shares", "3", "--threshold", "2", "--out", dir.sub("shares")], env: env).status, 0)
        let reader = ["PLANVAULT_SERVER_TOKEN": server.reader, "PLANVAULT_CACERT": server.certPath, "HOME": dir.sub("alternate-site")]
        let restore = try CLI.run(["restore", "latest", "--repo", server.url, "--to", dir.sub("out"),
                                   "--shares", dir.sub("shares/share-2-of-3.txt"), dir.sub("shares/share-3-of-3.txt")], env: reader)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        let status = try CLI.run(["status", "--repo", server.url, "--json"], env: env)
        XCTAssertEqual(status.status, 5, status.stdout)
        XCTAssertTrue(status.stdout.contains("\"policy_met\" : false"), status.stdout)
    }
}
