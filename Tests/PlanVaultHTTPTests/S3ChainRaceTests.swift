import XCTest
import PlanVaultTestSupport

/// Two hosts pushing to one S3 repository at once (issue 9: a lock on every target).
final class S3ChainRaceTests: XCTestCase {
    func testTwoHostsPushingAtOnceToS3NeverForkTheChain() throws {
        let s3 = try S3TestServer()
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(100, seed: 1))
        var env = s3.env(dir)
        env.removeValue(forKey: "PLANVAULT_CACHE_DIR")
        let repo = "s3://plans/vault"
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
        let race = try TwoHostRace.run(repo: repo, plans: dir.sub("plans"), dir: dir, env: env,
                                       auditEnv: ["AWS_ACCESS_KEY_ID": S3TestServer.accessKey, "AWS_SECRET_ACCESS_KEY": S3TestServer.secretKey,
                                                  "PLANVAULT_S3_ENDPOINT": s3.endpoint])
        XCTAssertEqual(race.failedPushes, [])
        XCTAssertEqual(race.audit.status, 0, race.audit.stdout + race.audit.stderr)
        XCTAssertFalse(race.audit.stdout.contains("fork"), race.audit.stdout)
        XCTAssertTrue(race.audit.stdout.contains("verdict: PASS"), race.audit.stdout)
    }
}
