import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Issue 11 item 5: on S3 with Object Lock, the audit's remote-storage evidence reports the lock.
final class S3AuditEvidenceTests: XCTestCase {
    func testAuditReportsObjectLockRetentionOfTheNewestSnapshotAndAttestation() throws {
        let moto = try MotoServer()
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/plan.md"), Fixture.text(400, seed: 11))
        let s3 = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PLANVAULT_S3_ENDPOINT": "http://127.0.0.1:\(moto.port)",
                  "HOME": dir.sub("auditor")]
        let env = s3.merging(["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]) { _, b in b }
        let repo = "s3://locked/plans", lock = ["--s3-object-lock-days", "30"]
        for args in [["init", "--repo", repo] + lock, ["push", "--repo", repo, dir.sub("plans")] + lock, ["verify", "--repo", repo] + lock,
                     ["drill", "--repo", repo] + lock] {
            let r = try CLI.run(args, env: env)
            XCTAssertEqual(r.status, 0, "\(args[0]): " + r.stdout + r.stderr)
        }
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", repo], env: env).stdout)
        let audit = try CLI.run(["audit", "--repo", repo, "--public-key", dir.sub("audit.pub"), "--report", dir.sub("audit.json")], env: s3)
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try FileIO.readFile(dir.sub("audit.json")))) as? [String: Any])
        let immutability = try XCTUnwrap((report["remote_storage"] as? [String: Any])?["immutability"] as? String)
        XCTAssertTrue(immutability.hasPrefix("S3 Object Lock: newest snapshot locked (COMPLIANCE) until "), immutability)
        XCTAssertTrue(immutability.contains("newest attestation locked (COMPLIANCE) until "), immutability)
    }
}
