import XCTest
import PlanVaultTestSupport

/// Two hosts pushing to one `planvault serve` repository at once (issue 9: a lock on every target).
final class ChainRaceOverHTTPSTests: XCTestCase {
    func testTwoHostsPushingAtOnceOverHTTPSNeverForkTheChain() throws {
        let server = try TestServer()
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(100, seed: 1))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_SERVER_TOKEN": server.agent, "PLANVAULT_CACERT": server.certPath,
                   "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", server.url], env: env).status, 0)
        let race = try TwoHostRace.run(repo: server.url, plans: dir.sub("plans"), dir: dir, env: env,
                                       auditEnv: ["PLANVAULT_SERVER_TOKEN": server.auditor, "PLANVAULT_CACERT": server.certPath])
        XCTAssertEqual(race.failedPushes, [])
        XCTAssertEqual(race.audit.status, 0, race.audit.stdout + race.audit.stderr)
        XCTAssertFalse(race.audit.stdout.contains("fork"), race.audit.stdout)
        XCTAssertTrue(race.audit.stdout.contains("verdict: PASS"), race.audit.stdout)
    }
}
