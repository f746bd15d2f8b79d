import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Issue 10 items 6–9: lock messages, logs fit for cron, aligned tables and help, JSON naming.
final class OperationsTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(200, seed: 1))
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(300_000, seed: 2))
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
    }

    @discardableResult
    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, env: env)
        XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)", file: file, line: line)
        return r
    }

    func repositoryID() throws -> String {
        try RepositoryConfig.decode(try FileIO.readFile(dir.sub("repo/config")), location: repo).id
    }

    func plantLock(exclusive: Bool) async throws {
        let time = Timestamps.format(Date().addingTimeInterval(-125))
        let record = LockRecord(repository: try repositoryID(), purpose: .repository, exclusive: exclusive, host: "backup-site", pid: 77,
                                username: "ops", created: time, refreshed: Timestamps.format(Date()))
        _ = try await RepositoryLock.write(record, backend: DirectoryBackend(root: repo))
    }

    func stderrLines(_ r: CLI.Result) -> [String] {
        r.stderr.split(separator: "\n").map(String.init)
    }

    // MARK: item 6, locks

    func testVerifyWhileAnExclusiveLockIsHeldExits11PromptlyNamingHostPIDAndAge() async throws {
        try ok(["push", "--repo", repo, dir.sub("plans")])
        try await plantLock(exclusive: true)
        let started = Date()
        let verify = try CLI.run(["verify", "--repo", repo], env: env)
        XCTAssertEqual(verify.status, 11, verify.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "exits at once, without waiting")
        XCTAssertTrue(verify.stderr.contains("ops@backup-site (PID 77)"), verify.stderr)
        XCTAssertNotNil(verify.stderr.range(of: #"\(2 min \d+ s ago\)"#, options: .regularExpression), "the holder's age in words: \(verify.stderr)")
        XCTAssertTrue(verify.stderr.contains("--lock-wait"), verify.stderr)
    }

    func testVerifyAndDrillBesideARunningPushNeitherWaitNorFail() async throws {
        try ok(["push", "--repo", repo, dir.sub("plans")])
        try await plantLock(exclusive: false)  // a push on another host, still running
        let started = Date()
        try ok(["verify", "--repo", repo])
        try ok(["drill", "--repo", repo])
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
    }

    func testAPushOnThisHostMeetingAnotherNamesItsPIDAndHostAndLockWaitIsBounded() throws {
        let held = try LocalLock(path: dir.sub("cache/\(try repositoryID())/push.lock"))
        defer { withExtendedLifetime(held) {} }
        let refused = try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env)
        XCTAssertEqual(refused.status, 11, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("PID \(getpid()) on \(HostInfo.hostname)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains(" ago)"), refused.stderr)

        let started = Date()
        let waited = try CLI.run(["push", "--repo", repo, "--lock-wait", "2s", dir.sub("plans")], env: env)
        XCTAssertEqual(waited.status, 11, waited.stderr)
        XCTAssertTrue(waited.stderr.contains("waiting up to 2 s for another planvault run (PID \(getpid())"), waited.stderr)
        XCTAssertTrue(waited.stderr.contains("(waited 2 s)") && waited.stderr.contains("or give a longer --lock-wait"), "the refusal says it already waited: " + waited.stderr)
        XCTAssertFalse(refused.stderr.contains("waited") || refused.stderr.contains("a longer"), refused.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2)
    }

    // MARK: item 7, logs fit for cron

    static let dated = try! NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ planvault push: "#)

    func assertDated(_ lines: [String], file: StaticString = #filePath, line: UInt = #line) {
        for text in lines {
            let range = NSRange(text.startIndex..., in: text)
            XCTAssertNotNil(Self.dated.firstMatch(in: text, range: range), "undated line: \(text)", file: file, line: line)
        }
    }

    func testPushWithStandardErrorInAFileDatesEveryLineAndEndsWithTheSummary() throws {
        let r = try ok(["push", "--repo", repo, "-v", dir.sub("plans")])
        let lines = stderrLines(r)
        XCTAssertGreaterThan(lines.count, 1, r.stderr)
        assertDated(lines)
        let last = try XCTUnwrap(lines.last)
        XCTAssertTrue(last.contains("planvault push: finished in "), last)
        XCTAssertTrue(last.contains(" s, exit 0: snapshot "), last)
        XCTAssertTrue(last.contains("2 files"), last)
    }

    func testQuietDropsTheOtherLinesButKeepsTheSummary() throws {
        let r = try ok(["push", "--repo", repo, "--quiet", dir.sub("plans")])
        let lines = stderrLines(r)
        XCTAssertEqual(lines.count, 1, r.stderr)
        assertDated(lines)
        XCTAssertTrue(lines[0].contains("exit 0: snapshot "), r.stderr)
        // The monthly drill and a restore that pass are one line too, and nothing on stdout.
        for args in [["drill", "--repo", repo, "--quiet"], ["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--quiet"]] {
            let quiet = try ok(args)
            XCTAssertEqual(quiet.stdout, "", "\(args[0]) --quiet")
            XCTAssertEqual(stderrLines(quiet).count, 1, quiet.stderr)
            XCTAssertTrue(quiet.stderr.contains("exit 0: snapshot "), quiet.stderr)
        }
    }

    func testAFailingRunsSummaryShowsItsNonZeroExitCode() throws {
        let r = try CLI.run(["push", "--repo", dir.sub("nowhere"), "--quiet", dir.sub("plans")], env: env)
        XCTAssertEqual(r.status, 10, r.stderr)
        let lines = stderrLines(r)
        assertDated(lines)
        let last = try XCTUnwrap(lines.last)
        XCTAssertTrue(last.contains("finished in "), last)
        XCTAssertTrue(last.contains(", exit 10: no PlanVault repository at"), last)
    }

    // MARK: item 8, tables and help

    func testSnapshotsColumnsLineUpWithALongHostName() throws {
        try ok(["push", "--repo", repo, "--host", "eoc", dir.sub("plans")])
        try ok(["push", "--repo", repo, "--host", "alternate-site-fileserver-02.planning.example.org", dir.sub("plans")])
        let list = try ok(["snapshots", "--repo", repo]).stdout.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(list.first)
        let rows = list.dropFirst().filter { !$0.hasSuffix("snapshot(s)") }
        XCTAssertEqual(rows.count, 2, list.joined(separator: "\n"))
        // Each column starts (left-aligned) or ends (right-aligned) where its header does.
        let paths = try XCTUnwrap(header.range(of: "Paths")).lowerBound.utf16Offset(in: header)
        let size = try XCTUnwrap(header.range(of: "Size")).upperBound.utf16Offset(in: header)
        for row in rows {
            let chars = Array(row)
            XCTAssertGreaterThan(chars.count, paths, row)
            XCTAssertEqual(String(chars[(paths - 2)..<paths]), "  ", "\n\(header)\n\(row)")
            XCTAssertNotEqual(chars[paths], " ", "\n\(header)\n\(row)")
            XCTAssertEqual(row.range(of: " KiB")?.upperBound.utf16Offset(in: row), size, "\n\(header)\n\(row)")
        }
    }

    /// A value the command cannot take is a usage error (exit 64) naming the option, whether or not
    /// the command uses it: `snapshots` takes no lock, and a mistyped --lock-wait is still refused.
    func testABadOptionValueIsAUsageErrorNamingTheOption() throws {
        let cases: [([String], String)] = [
            (["snapshots", "--repo", repo, "--lock-wait", "abc"], "--lock-wait abc is not a duration"),
            (["forget", "--repo", repo, "--keep-daily", "0"], "--keep-daily must be at least 1"),
            (["push", "--repo", repo, "--compression-level", "12", dir.sub("plans")], "--compression-level 12 is out of range: give 1 to 9"),
            (["push", "--repo", repo, "--time", "2026-01-31T02:00:00+01:00", dir.sub("plans")], "--time 2026-01-31T02:00:00+01:00 is not a UTC time"),
            (["status", "--repo", repo, "--max-push-age", "soon"], "--max-push-age soon: use a number and unit"),
            (["serve", "--root", dir.sub("srv"), "--tokens", dir.sub("t.json"), "--tls-cert", dir.sub("c.pem")], "give both --tls-cert and --tls-key"),
            (["forget", "--repo", repo, "--keep-within", "soon"], "--keep-within soon is not a duration"),
            (["verify", "--repo", repo, "--s3-object-lock-days", "0"], "--s3-object-lock-days must be at least 1"),
            (["serve", "--root", dir.sub("srv"), "--tokens", dir.sub("t.json"), "--listen", "nonsense"], "--listen nonsense: expected HOST:PORT"),
        ]
        for (args, message) in cases {
            let result = try CLI.run(args, env: env)
            XCTAssertEqual(result.status, 64, "\(args.joined(separator: " ")): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(args.joined(separator: " ")): \(result.stderr)")
        }
        // The log's closing line names the command and what was wrong, not only "bad usage".
        let logged = try CLI.run(["snapshots", "--repo", repo, "--lock-wait", "abc"], env: env)
        // (The time it took is not asserted: a loaded machine makes 0.0 s into 0.1 s.)
        let closing = logged.stderr.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(closing.contains("planvault snapshots: finished in "), logged.stderr)
        XCTAssertTrue(closing.contains(" s, exit 64: bad usage: --lock-wait abc is not a duration"), logged.stderr)
    }

    func testPushHelpLeadsWithItsOwnOptionsThenTheGlobalGroupAndHasAnExample() throws {
        let help = try ok(["push", "--help"]).stdout
        let own = try XCTUnwrap(help.range(of: "--exclude")).lowerBound
        let group = try XCTUnwrap(help.range(of: "REPOSITORY AND GLOBAL OPTIONS:")).lowerBound
        let repoOption = try XCTUnwrap(help.range(of: "--repo <URL>")).lowerBound
        XCTAssertLessThan(own, group, help)
        XCTAssertLessThan(group, repoOption, help)
        XCTAssertEqual(help.components(separatedBy: "--repo <URL>").count, 2, "the shared options appear once: \(help)")
        XCTAssertTrue(help.contains("EXAMPLES:\n  planvault push "), help)
    }

    // MARK: item 9, JSON

    /// Every key in a JSON value, at any depth.
    func keys(_ value: Any) -> [String] {
        if let object = value as? [String: Any] { return object.keys + object.values.flatMap(keys) }
        if let array = value as? [Any] { return array.flatMap(keys) }
        return []
    }

    func assertSnakeCaseWithSchema(_ text: String, _ schema: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text, file: file, line: line)
        XCTAssertEqual(object["schema"] as? String, schema, file: file, line: line)
        let snake = try NSRegularExpression(pattern: "^[a-z][a-z0-9_]*$")
        for key in keys(object) {
            XCTAssertNotNil(snake.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)), "key \(key) in \(schema)", file: file, line: line)
        }
        return object
    }

    func testEveryJSONOutputHasOnlySnakeCaseKeysAndASchemaAndBytesStoredAgrees() throws {
        let push = try assertSnakeCaseWithSchema(try ok(["push", "--repo", repo, "--json", dir.sub("plans")]).stdout, "planvault.push/1")
        let snapshots = try assertSnakeCaseWithSchema(try ok(["snapshots", "--repo", repo, "--json"]).stdout, "planvault.snapshots/1")
        _ = try assertSnakeCaseWithSchema(try ok(["ls", "--repo", repo, "--json", "latest"]).stdout, "planvault.ls/1")
        _ = try assertSnakeCaseWithSchema(try ok(["restore", "latest", "--repo", repo, "--json", "--to", dir.sub("out")]).stdout, "planvault.restore/1")
        let verify = try assertSnakeCaseWithSchema(try ok(["verify", "--repo", repo, "--json", "--read-data"]).stdout, "planvault.verify/1")
        XCTAssertNotNil(verify["bundles_read"], "\(verify)")
        _ = try assertSnakeCaseWithSchema(try ok(["find", "--repo", repo, "--json", "*"]).stdout, "planvault.find/1")
        _ = try assertSnakeCaseWithSchema(try ok(["diff", "latest", "latest", "--repo", repo, "--json"]).stdout, "planvault.diff/1")
        _ = try assertSnakeCaseWithSchema(try ok(["copy", "--repo", repo, "--to", dir.sub("copy"), "--json"]).stdout, "planvault.copy/1")
        let key = try ok(["key", "export-public", "--repo", repo])
        try Fixture.write(dir.sub("audit.pub"), key.stdout)
        try ok(["audit", "--repo", repo, "--public-key", dir.sub("audit.pub"), "--integrity-only", "--report", dir.sub("audit.json")])
        let audit = try assertSnakeCaseWithSchema(String(decoding: try FileIO.readFile(dir.sub("audit.json")), as: UTF8.self), "planvault.audit/1")
        XCTAssertNotNil(audit["checked_at"], "\(audit)")

        // bytes_stored means one thing: push reports what `snapshots` shows for the same snapshot.
        let pushed = try XCTUnwrap(push["summary"] as? [String: Any])
        let listed = try XCTUnwrap((snapshots["snapshots"] as? [[String: Any]])?.first?["summary"] as? [String: Any])
        XCTAssertEqual(pushed["bytes_stored"] as? Int, listed["bytes_stored"] as? Int)
        XCTAssertGreaterThan(push["bytes_written"] as? Int ?? 0, pushed["bytes_stored"] as? Int ?? .max)
    }

    /// `command` on a terminal (util-linux `script` gives it a pseudo-terminal): what it drew.
    func onTerminal(_ args: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        let quoted = ([CLI.binary] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        process.arguments = ["-qfec", quoted, "/dev/null"]
        process.environment = CLI.environment(env)
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: data, as: UTF8.self))
        return String(decoding: data, as: UTF8.self)
    }

    func testRestoreVerifyAndDrillDrawAProgressBarOnATerminalOnly() throws {
        try Fixture.write(dir.sub("plans/Maps/site.pdf"), Fixture.noise(6_000_000, seed: 3))
        try ok(["push", "--repo", repo, dir.sub("plans")])
        for args in [["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--no-cache"], ["verify", "--repo", repo, "--read-data"],
                     ["drill", "--repo", repo]] {
            let drawn = try onTerminal(args)
            XCTAssertTrue(drawn.contains("100%") && drawn.contains("ETA") && drawn.contains("/s"), "\(args[0]): \(drawn)")
        }
        // Not a terminal (cron, a log file): no bar.
        let logged = try ok(["verify", "--repo", repo, "--read-data"])
        XCTAssertFalse((logged.stdout + logged.stderr).contains("ETA"), logged.stderr)
    }
}
