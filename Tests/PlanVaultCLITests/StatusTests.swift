import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// `planvault status` and `schedule --print` (issue 11: status for monitoring).
final class StatusTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(100, seed: 1))
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
    }

    func run(_ args: [String], cwd: String? = nil) throws -> CLI.Result { try CLI.run(args, env: env, cwd: cwd) }

    func testNeverVerifiedOrDrilledIsExit5ThenPassesOnceBothRan() throws {
        XCTAssertEqual(try run(["push", "--repo", repo, dir.sub("plans")]).status, 0)
        let before = try run(["status", "--repo", repo])
        XCTAssertEqual(before.status, 5, before.stdout + before.stderr)
        let lines = before.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.contains("verify") && $0.contains("NEVER DONE") }, before.stdout)
        XCTAssertTrue(lines.contains { $0.contains("drill") && $0.contains("NEVER DONE") }, before.stdout)
        XCTAssertTrue(lines.contains { $0.contains("push") && $0.hasSuffix("ok") }, before.stdout)
        XCTAssertEqual(try run(["verify", "--repo", repo]).status, 0)
        XCTAssertEqual(try run(["drill", "--repo", repo]).status, 0)
        let after = try run(["status", "--repo", repo])
        XCTAssertEqual(after.status, 0, after.stdout + after.stderr)
    }

    func testAnOldPushIsOverdueUnlessThePolicyAllowsIt() throws {
        let twoDaysAgo = Timestamps.format(Date().addingTimeInterval(-2 * 86400))
        XCTAssertEqual(try run(["push", "--repo", repo, "--time", twoDaysAgo, dir.sub("plans")]).status, 0)
        XCTAssertEqual(try run(["verify", "--repo", repo]).status, 0)
        XCTAssertEqual(try run(["drill", "--repo", repo]).status, 0)
        let overdue = try run(["status", "--repo", repo])
        XCTAssertEqual(overdue.status, 5, overdue.stdout)
        XCTAssertTrue(overdue.stdout.split(separator: "\n").contains { $0.contains("push") && $0.contains("OVERDUE") && $0.contains("2 days") }, overdue.stdout)
        XCTAssertEqual(try run(["status", "--repo", repo, "--max-push-age", "3d"]).status, 0)
        try Fixture.write(dir.sub("planvault.toml"), "repo = \"repo\"\n[policy]\npush = \"3d\"\nverify = \"1d\"\ndrill = \"30d\"\n")
        let configured = try run(["status"], cwd: dir.path)
        XCTAssertEqual(configured.status, 0, configured.stdout + configured.stderr)
        try Fixture.write(dir.sub("planvault.toml"), "repo = \"repo\"\n[policy]\npush = \"soon\"\n")
        let bad = try run(["status"], cwd: dir.path)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("policy push must be a duration"), bad.stderr)
    }

    func testPrometheusTextfileHasEachCheckAndIsReadableByTheExporter() throws {
        XCTAssertEqual(try run(["push", "--repo", repo, dir.sub("plans")]).status, 0)
        XCTAssertEqual(try run(["verify", "--repo", repo]).status, 0)
        let path = dir.sub("textfile/planvault.prom")
        try FileManager.default.createDirectory(atPath: dir.sub("textfile"), withIntermediateDirectories: true)
        let status = try run(["status", "--repo", repo, "--quiet", "--prometheus", path])
        XCTAssertEqual(status.status, 5, "never drilled")
        XCTAssertTrue(status.stdout.contains("NEVER DONE"), "--quiet still shows what is wrong: \(status.stdout)")
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        XCTAssertTrue(text.contains("planvault_policy_met{target=\"\(repo)\",check=\"push\"} 1.0"), text)
        XCTAssertTrue(text.contains("planvault_policy_met{target=\"\(repo)\",check=\"drill\"} 0.0"), text)
        XCTAssertTrue(text.contains("planvault_last_success{target=\"\(repo)\",check=\"verify\"} 1.0"), text)
        XCTAssertTrue(text.contains("# TYPE planvault_last_timestamp_seconds gauge"), text)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644, "node_exporter runs as another user")
        XCTAssertEqual(try FileIO.listDirectory(dir.sub("textfile")), ["planvault.prom"], "no temporary file left for the exporter to read")
    }

    func testSchedulePrintsCronLinesAndSystemdUnitsForEachJob() throws {
        let printed = try run(["schedule", "--print", "--config", "/etc/planvault/planvault.toml"])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        for job in ["push", "verify", "drill", "status"] {
            XCTAssertTrue(printed.stdout.contains("# /etc/systemd/system/planvault-\(job).timer"), printed.stdout)
            XCTAssertTrue(printed.stdout.contains(" \(job) "), printed.stdout)
        }
        // The times of the README's crontab and of the Debian package's timers.
        XCTAssertTrue(printed.stdout.contains("30 1 * * *  "), printed.stdout)
        XCTAssertTrue(printed.stdout.contains("OnCalendar=*-*-* 01:30:00"), printed.stdout)
        XCTAssertTrue(printed.stdout.contains("15 6 * * 1  ") && printed.stdout.contains("verify --read-data-subset 20 --max-age 26h"), printed.stdout)
        let readme = try String(contentsOfFile: CLI.packageRoot + "/README.md", encoding: .utf8)
        let timer = try String(contentsOfFile: CLI.packageRoot + "/packaging/systemd/planvault-push.timer", encoding: .utf8)
        XCTAssertTrue(readme.contains("30 1 * * *  ") && readme.contains("15 6 * * 1  "), "README's crontab")
        XCTAssertTrue(timer.contains("OnCalendar=*-*-* 01:30:00"), "the package's push timer")
        XCTAssertNotEqual(try run(["schedule"]).status, 0, "nothing is installed: --print is required")
    }
}
