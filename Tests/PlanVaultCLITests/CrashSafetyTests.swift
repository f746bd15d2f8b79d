import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `planvault push` killed with SIGKILL at different moments must leave a
/// repository that verifies, restores every earlier snapshot, and accepts the next push.
final class CrashSafetyTests: XCTestCase {
    func bundleCount(_ repo: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: "\(repo)/bundles")
        var n = 0
        while let name = enumerator?.nextObject() as? String {
            if (name as NSString).lastPathComponent.count == 64 { n += 1 }
        }
        return n
    }

    func testPushKilledAtAnyMomentLeavesARestorableRepository() throws {
        let dir = try TempDir()
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        let repo = dir.sub("repo")
        XCTAssertEqual(try CLI.run(["init", "--repo", repo, "--bundle-size-mib", "1"], env: env).status, 0)
        try Fixture.write(dir.sub("plans/first.docx"), Fixture.noise(2 * 1024 * 1024, seed: 1))
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("first")], env: env).status, 0)

        for i in 0..<12 {
            try Fixture.write(dir.sub("plans/more/part-\(i).bin"), Fixture.noise(4 * 1024 * 1024, seed: UInt64(100 + i)))
        }

        for (round, killAfter) in [1, 5, 11].enumerated() {
            let before = bundleCount(repo)
            let output = dir.sub("run-\(round)")
            let process = try CLI.start(["push", "--repo", repo, dir.sub("plans")], env: env, output: output)
            // Wait for the condition (bundles on disk), not for a fixed time.
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning && bundleCount(repo) < before + killAfter && Date() < deadline { usleep(500) }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let verify = try CLI.run(["verify", "--repo", repo], env: env)
            XCTAssertEqual(verify.status, 0, "round \(round): \(verify.stdout) \(verify.stderr)")
            let restoreDir = dir.sub("check-\(round)")
            let first = try CLI.run(["snapshots", "--repo", repo, "--json"], env: env)
            let listing = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
            let ids = try XCTUnwrap(listing["snapshots"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            let restore = try CLI.run(["restore", try XCTUnwrap(ids.first), "--repo", repo, "--to", restoreDir], env: env)
            XCTAssertEqual(restore.status, 0, restore.stderr)
            XCTAssertEqual(try TreeCompare.differences(dir.sub("first/plans"), "\(restoreDir)/plans"), [])
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("cache/\(ids[0])")))
        }

        let final = try CLI.run(["push", "--repo", repo, "--json", dir.sub("plans")], env: env)
        XCTAssertEqual(final.status, 0, final.stderr)
        let verify = try CLI.run(["verify", "--repo", repo, "--read-data"], env: env)
        XCTAssertEqual(verify.status, 0, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("no problems found"))
        XCTAssertEqual(try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("last")], env: env).status, 0)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("last/plans")), [])
    }
}
