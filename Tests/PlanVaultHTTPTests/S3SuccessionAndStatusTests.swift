import XCTest
import PlanVaultTestSupport
import PlanVaultCore

/// Issue 11 on S3: recovery shares, status and the recovery sheet against a real S3 server.
final class S3SuccessionAndStatusTests: XCTestCase {
    func testSharesRestoreStatusJudgesAndKitDescribesAnS3Repository() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        try Fixture.makeAwkwardTree(dir.sub("plans"))
        let env = s3.env(dir)
        let repo = "s3://plans/succession"
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        let split = try CLI.run(["key", "split", "--repo", repo, "--shares", "3", "--threshold", "2", "--out", dir.sub("shares")], env: env)
        XCTAssertEqual(split.status, 0, split.stderr)

        // No passphrase anywhere: two custodians' shares and the S3 read keys.
        var custodians = env
        custodians.removeValue(forKey: "PLANVAULT_PASSPHRASE")
        custodians["PLANVAULT_CACHE_DIR"] = dir.sub("custodian-cache")
        let restore = try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("out"),
                                   "--shares", dir.sub("shares/share-3-of-3.txt"), dir.sub("shares/share-1-of-3.txt")], env: custodians)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])

        let status = try CLI.run(["status", "--repo", repo], env: env)
        XCTAssertEqual(status.status, 5, "never verified or drilled: \(status.stdout)")
        XCTAssertTrue(status.stdout.contains("NEVER DONE"), status.stdout)
        XCTAssertEqual(try CLI.run(["verify", "--repo", repo], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["drill", "--repo", repo], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["status", "--repo", repo], env: env).status, 0)

        let kit = try CLI.run(["kit", "--repo", repo, "--out", dir.sub("kit")], env: env)
        XCTAssertEqual(kit.status, 0, kit.stderr)
        let sheet = String(decoding: try FileIO.readFile(dir.sub("kit/recovery-sheet.txt")), as: UTF8.self)
        XCTAssertTrue(sheet.contains("export PLANVAULT_REPO=\(repo)") && sheet.contains("AWS_ACCESS_KEY_ID"), sheet)
        XCTAssertFalse(sheet.contains(S3TestServer.secretKey), "no secret on the sheet")
    }
}
