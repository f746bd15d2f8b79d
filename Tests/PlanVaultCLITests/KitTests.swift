import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `planvault kit` (issue 11: the recovery sheet for the plan binder).
final class KitTests: XCTestCase {
    func testSheetNamesTargetsKeysCustodiansAndStepsAndHoldsNoSecretUnlessAsked() throws {
        let dir = try TempDir()
        let secretToken = "token-that-must-not-appear-\(UUID().uuidString)"
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "HOME": dir.path, "PLANVAULT_SERVER_TOKEN": secretToken]
        let repo = dir.sub("repo")
        try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(20, seed: 1))
        XCTAssertEqual(try CLI.run(["init", "--repo", repo, "--label", "continuity coordinator"], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["key", "split", "--repo", repo, "--shares", "3", "--threshold", "2", "--out", dir.sub("shares")], env: env).status, 0)
        try Fixture.writeTargetsConfig(dir.sub("planvault.toml"), [("alternate site", "https://dr.example.gov:8443/plans"), ("file share", repo)])
        // The first target is unreachable from here: kit reads the repository through --repo.
        let kit = try CLI.run(["kit", "--repo", repo, "--config", dir.sub("planvault.toml"), "--out", dir.sub("kit"), "--custodian", "A. Rivera, deputy director",
                               "--shares-location", "sealed envelopes in the EOC safe"], env: env)
        XCTAssertEqual(kit.status, 0, kit.stderr)
        let config = try JSONDecoder().decode(RepositoryConfig.self, from: Data(try FileIO.readFile(repo + "/config")))
        let keyNames = try FileIO.listDirectory(repo + "/keys")
        for file in ["recovery-sheet.txt", "recovery-sheet.html"] {
            let text = String(decoding: try FileIO.readFile(dir.sub("kit/\(file)")), as: UTF8.self)
            XCTAssertTrue(text.contains(config.id), file)
            XCTAssertTrue(text.contains("A. Rivera, deputy director") && text.contains("sealed envelopes in the EOC safe"), file)
            XCTAssertTrue(text.contains("export PLANVAULT_REPO=\(repo)"), file)
            XCTAssertTrue(text.contains("export PLANVAULT_REPO=https://dr.example.gov:8443/plans") && text.contains("reader token"), file)
            XCTAssertTrue(text.contains("recovery shares: any 2 of 3") && text.contains("continuity coordinator"), file)
            for name in keyNames { XCTAssertTrue(text.contains(String(name.prefix(16))), "\(file) names key \(name.prefix(8))") }
            XCTAssertFalse(text.contains(Fixture.passphrase) || text.contains(secretToken), "\(file) holds no secret")
            XCTAssertFalse(text.contains("BEGIN PLANVAULT RECOVERY SHARE"), file)
        }
        var st = stat()
        XCTAssertEqual(stat(dir.sub("kit/recovery-sheet.txt"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)

        let withShares = try CLI.run(["kit", "--repo", repo, "--out", dir.sub("kit-secret"), "--include-shares", dir.sub("shares/share-1-of-3.txt")], env: env)
        XCTAssertEqual(withShares.status, 0, withShares.stderr)
        let text = String(decoding: try FileIO.readFile(dir.sub("kit-secret/recovery-sheet.txt")), as: UTF8.self)
        XCTAssertTrue(text.contains("BEGIN PLANVAULT RECOVERY SHARE"))
        XCTAssertEqual(stat(dir.sub("kit-secret/recovery-sheet.html"), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "a sheet with shares is a secret")
    }
}
