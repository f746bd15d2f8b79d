import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// The real `planvault` executable, as cron and an operator run it.
final class CLITests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(200_000, seed: 1))
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(100, seed: 2))
    }

    func initRepo() throws {
        let r = try pv(["init", "--repo", dir.sub("repo")])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func testFullCycleWithJSONOutput() throws {
        try initRepo()
        let push = try pv(["push", "--repo", dir.sub("repo"), "--json", "--tag", "nightly", dir.sub("plans")])
        XCTAssertEqual(push.status, 0, push.stderr)
        let pushed = try XCTUnwrap(try json(push.stdout) as? [String: Any])
        let id = try XCTUnwrap(pushed["snapshot"] as? String)
        XCTAssertEqual((pushed["summary"] as? [String: Any])?["files"] as? Int, 2)

        let list = try pv(["snapshots", "--repo", dir.sub("repo"), "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let listing = try XCTUnwrap(try json(list.stdout) as? [String: Any])
        XCTAssertEqual(listing["schema"] as? String, "planvault.snapshots/1")
        let snapshots = try XCTUnwrap(listing["snapshots"] as? [[String: Any]])
        XCTAssertEqual(snapshots.map { $0["id"] as? String }, [id])
        XCTAssertEqual(snapshots.first?["tags"] as? [String], ["nightly"])

        let ls = try pv(["ls", "--repo", dir.sub("repo"), String(id.prefix(6)), "plans/Contacts"])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        XCTAssertTrue(ls.stdout.contains("plans/Contacts/call tree.csv"))
        XCTAssertFalse(ls.stdout.contains("plan.docx"))

        let restore = try pv(["restore", "latest", "--repo", dir.sub("repo"), "--to", dir.sub("out")])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
        // A destination that cannot be made is named with the folder in the way and the reason.
        let blocked = try pv(["restore", "latest", "--repo", dir.sub("repo"), "--to", dir.sub("plans/BCP/plan.docx/out")])
        XCTAssertEqual(blocked.status, 1, blocked.stderr)
        XCTAssertTrue(blocked.stderr.contains("cannot create the destination \(dir.sub("plans/BCP/plan.docx/out")): \(dir.sub("plans/BCP/plan.docx")): Not a directory"), blocked.stderr)

        let verify = try pv(["verify", "--repo", dir.sub("repo"), "--read-data", "--json", "--max-age", "26h"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let report = try XCTUnwrap(try json(verify.stdout) as? [String: Any])
        XCTAssertEqual((report["findings"] as? [Any])?.count, 0)
    }

    func testPushProfileNamesEachStageWithItsTimeAndData() throws {
        try initRepo()
        let push = try pv(["push", "--repo", dir.sub("repo"), "--profile", dir.sub("plans")])
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertTrue(push.stderr.contains("push profile:"), push.stderr)
        // The text file is compressed, the noise is stored: every stage of the data path ran.
        for stage in ["read files", "cut chunks", "hash chunks", "compress", "encrypt", "name bundles (SHA-256)", "store bundles"] {
            let line = push.stderr.split(separator: "\n").first { $0.contains("  \(stage)  ") }
            XCTAssertNotNil(line, "no \(stage) line in:\n\(push.stderr)")
            XCTAssertNotNil(line?.range(of: #"\d+\.\d\d"#, options: .regularExpression), "no seconds for \(stage)")
        }
        XCTAssertFalse(try pv(["push", "--repo", dir.sub("repo"), dir.sub("plans")]).stderr.contains("push profile:"),
                       "the profile is printed only when asked for")
    }

    func testRestoreNeedsOnlyAddressAndPassphrase() throws {
        try initRepo()
        XCTAssertEqual(try pv(["push", "--repo", dir.sub("repo"), dir.sub("plans")]).status, 0)
        // A different machine: no cache, no config, a fresh HOME.
        let r = try CLI.run(["restore", "latest", "--repo", "file://" + dir.sub("repo"), "--to", dir.sub("alt"), "--no-cache"],
                            env: ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "HOME": dir.sub("elsewhere")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("alt/plans")), [])
    }

    func testWrongPassphraseExitsWithCode12AndSaysWhy() throws {
        try initRepo()
        let r = try pv(["snapshots", "--repo", dir.sub("repo")], env: ["PLANVAULT_PASSPHRASE": "wrong"])
        XCTAssertEqual(r.status, 12)
        XCTAssertTrue(r.stderr.contains("passphrase does not open"), r.stderr)
    }

    func testMissingPassphraseDoesNotPromptWithoutATerminal() throws {
        try initRepo()
        let r = try CLI.run(["snapshots", "--repo", dir.sub("repo")], env: ["HOME": dir.path])
        XCTAssertEqual(r.status, 12)
        XCTAssertTrue(r.stderr.contains("no passphrase given"), r.stderr)
    }

    func testMissingRepositoryExitsWithCode10() throws {
        let r = try pv(["snapshots", "--repo", dir.sub("nothing-here")])
        XCTAssertEqual(r.status, 10)
        XCTAssertTrue(r.stderr.contains("no PlanVault repository"), r.stderr)
    }

    func testUnreadableSourceIsReportedAndExitsWithCode3() throws {
        try initRepo()
        XCTAssertEqual(mkfifo(dir.sub("plans/pipe"), 0o600), 0)
        let r = try pv(["push", "--repo", dir.sub("repo"), dir.sub("plans")])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains(dir.sub("plans/pipe")), r.stderr)
        // The readable files still made it into a snapshot.
        XCTAssertTrue(r.stdout.contains("snapshot"), r.stdout)
    }

    func testWorldReadableSecretsFilesAreRefused() throws {
        try initRepo()
        try Fixture.write(dir.sub("keys.toml"), "passphrase = \"\(Fixture.passphrase)\"\n")
        chmod(dir.sub("keys.toml"), 0o644)
        let keys = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--keys", dir.sub("keys.toml")], env: ["HOME": dir.path])
        XCTAssertEqual(keys.status, 1)
        XCTAssertTrue(keys.stderr.contains("chmod 600"), keys.stderr)
        chmod(dir.sub("keys.toml"), 0o600)
        let ok = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--keys", dir.sub("keys.toml")], env: ["HOME": dir.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)

        try Fixture.write(dir.sub("pass.txt"), Fixture.passphrase + "\n")
        chmod(dir.sub("pass.txt"), 0o640)
        let pass = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--passphrase-file", dir.sub("pass.txt")], env: ["HOME": dir.path])
        XCTAssertEqual(pass.status, 1)
        XCTAssertTrue(pass.stderr.contains("readable by group or others"), pass.stderr)
    }

    func testSecretsFileOwnedByAnotherUserIsRefused() throws {
        try initRepo()
        try Fixture.write(dir.sub("keys.toml"), "passphrase = \"\(Fixture.passphrase)\"\n")
        chmod(dir.sub("keys.toml"), 0o600)
        // Mode 600 but someone else's: they could rewrite it. Only root can give a file away.
        try XCTSkipIf(geteuid() != 0, "needs root to give a file to another user")
        XCTAssertEqual(chown(dir.sub("keys.toml"), 54321, 54321), 0)
        let keys = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--keys", dir.sub("keys.toml")], env: ["HOME": dir.path])
        XCTAssertEqual(keys.status, 1, keys.stderr)
        XCTAssertTrue(keys.stderr.contains("belongs to another user (uid 54321)"), keys.stderr)
        XCTAssertTrue(keys.stderr.contains(dir.sub("keys.toml")), keys.stderr)
        XCTAssertEqual(chown(dir.sub("keys.toml"), geteuid(), getegid()), 0)
        let ok = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--keys", dir.sub("keys.toml")], env: ["HOME": dir.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testKeyFileOptionTriesOnlyTheKeyFileNamed() throws {
        try initRepo()
        let name = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/keys")).first { ObjectName.isValid($0) })
        let named = try pv(["snapshots", "--repo", dir.sub("repo"), "--key-file", String(name.prefix(8))])
        XCTAssertEqual(named.status, 0, named.stderr)
        let wrong = try pv(["snapshots", "--repo", dir.sub("repo"), "--key-file", "zz"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("--key-file"), wrong.stderr)
    }

    func testPassphraseCommandIsUsed() throws {
        try initRepo()
        let r = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--passphrase-command", "printf '%s\\n' '\(Fixture.passphrase)'"], env: ["HOME": dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testConfigFileNamesRepositorySourcesAndExcludes() throws {
        try initRepo()
        try Fixture.write(dir.sub("plans/~$lockfile.docx"), "office lock")
        try Fixture.write(dir.sub("planvault.toml"), """
            repo = "repo"
            sources = ["plans"]
            exclude = ["~$*"]
            tags = ["from-config"]
            """)
        let r = try pv(["push", "--json"], cwd: dir.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let ls = try pv(["ls", "latest"], cwd: dir.path)
        XCTAssertTrue(ls.stdout.contains("plan.docx"), ls.stdout)
        XCTAssertFalse(ls.stdout.contains("lockfile"), ls.stdout)
    }

    func testSecondPushWhileLockedExitsWithCode11() throws {
        try initRepo()
        let config = try RepositoryConfig.decode(try FileIO.readFile(dir.sub("repo/config")), location: "repo")
        let held = try LocalLock(path: dir.sub("cache/\(config.id)/push.lock"))
        let r = try pv(["push", "--repo", dir.sub("repo"), dir.sub("plans")])
        XCTAssertEqual(r.status, 11)
        XCTAssertTrue(r.stderr.contains("holds the lock"), r.stderr)
        withExtendedLifetime(held) {}
    }

    func testVerifyExitCodesForDamageAndStaleness() throws {
        try initRepo()
        XCTAssertEqual(try pv(["push", "--repo", dir.sub("repo"), dir.sub("plans")]).status, 0)
        let stale = try pv(["verify", "--repo", dir.sub("repo"), "--max-age", "0s"])
        XCTAssertEqual(stale.status, 5, stale.stdout)
        XCTAssertTrue(stale.stdout.contains("STALE"))
        // The bundle of file data (the largest; folder listings have a small bundle of their own).
        let bundles = FileManager.default.enumerator(atPath: dir.sub("repo/bundles"))?.allObjects.compactMap { $0 as? String }.filter { $0.count > 60 } ?? []
        let bundle = try XCTUnwrap(bundles.max { (try? FileIO.readFile(dir.sub("repo/bundles/\($0)")).count) ?? 0 < (try? FileIO.readFile(dir.sub("repo/bundles/\($1)")).count) ?? 0 })
        XCTAssertEqual(unlink(dir.sub("repo/bundles/\(bundle)")), 0)
        let damaged = try pv(["verify", "--repo", dir.sub("repo")])
        XCTAssertEqual(damaged.status, 4, damaged.stdout)
        XCTAssertTrue(damaged.stdout.contains("bundle is missing"), damaged.stdout)
        XCTAssertTrue(damaged.stdout.contains("affects"), damaged.stdout)
    }

    /// A new passphrase is checked whatever gave it, a missing one is named as the new one, and a
    /// wrong one is traced to where it came from.
    func testPassphraseMistakesSayWhichPassphraseAndWhereItCameFrom() throws {
        let short = try pv(["init", "--repo", dir.sub("short")], env: ["PLANVAULT_PASSPHRASE": "abc"])
        XCTAssertEqual(short.status, 1, short.stderr)
        XCTAssertTrue(short.stderr.contains("the new passphrase from PLANVAULT_PASSPHRASE is too short: it must have at least 8 characters"), short.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("short/config")))
        let example = "replace with a long passphrase kept in the agency's sealed-envelope procedure"
        try Fixture.write(dir.sub("keys.toml"), "passphrase = \"\(example)\"\n")
        chmod(dir.sub("keys.toml"), 0o600)
        var noEnvironmentPassphrase = env
        noEnvironmentPassphrase["PLANVAULT_PASSPHRASE"] = nil
        let placeholder = try CLI.run(["init", "--repo", dir.sub("example"), "--keys", dir.sub("keys.toml")], env: noEnvironmentPassphrase)
        XCTAssertEqual(placeholder.status, 1, placeholder.stderr)
        XCTAssertTrue(placeholder.stderr.contains("the passphrase from the keys file \(dir.sub("keys.toml")) is the placeholder copied from Keys.example"), placeholder.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("example/config")))

        try initRepo()
        let noNew = try pv(["key", "add", "--repo", dir.sub("repo")])
        XCTAssertEqual(noNew.status, 12, noNew.stderr)
        XCTAssertTrue(noNew.stderr.contains("no new passphrase given: set PLANVAULT_NEW_PASSPHRASE or use --new-passphrase-file FILE"), noNew.stderr)
        let wrong = try pv(["snapshots", "--repo", dir.sub("repo")], env: ["PLANVAULT_PASSPHRASE": "not the passphrase"])
        XCTAssertEqual(wrong.status, 12, wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("the passphrase does not open any key of the repository at \(dir.sub("repo")) (it came from PLANVAULT_PASSPHRASE)"), wrong.stderr)
        let missing = try pv(["snapshots", "--repo", dir.sub("repo"), "--passphrase-file", dir.sub("no-such-file")])
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("the passphrase file (--passphrase-file) \(dir.sub("no-such-file")) does not exist"), missing.stderr)
    }

    func testKeyAddListRemove() throws {
        try initRepo()
        // Run with USER and LOGNAME empty (as from some cron and systemd set-ups).
        let add = try pv(["key", "add", "--repo", dir.sub("repo"), "--label", "deputy"],
                         env: ["PLANVAULT_NEW_PASSPHRASE": "deputy passphrase 2", "USER": "", "LOGNAME": ""])
        XCTAssertEqual(add.status, 0, add.stderr)
        let list = try pv(["key", "list", "--repo", dir.sub("repo")])
        XCTAssertTrue(list.stdout.contains("deputy"), list.stdout)
        // The deputy's key names the account that added it, found without USER or LOGNAME.
        // (A user ID with no account entry, as in some containers, is shown as the number.)
        let account = getpwuid(getuid())?.pointee.pw_name.map { String(cString: $0) } ?? String(getuid())
        let deputyLine = try XCTUnwrap(list.stdout.split(separator: "\n").first { $0.contains("deputy") })
        XCTAssertTrue(deputyLine.split(separator: " ").contains { $0 == account }, "key list names the account \(account): " + list.stdout)
        let asDeputy = try pv(["snapshots", "--repo", dir.sub("repo")], env: ["PLANVAULT_PASSPHRASE": "deputy passphrase 2"])
        XCTAssertEqual(asDeputy.status, 0, asDeputy.stderr)
        // The deputy removes the original key: custody handed over.
        let keys = try FileIO.listDirectory(dir.sub("repo/keys"))
        XCTAssertEqual(keys.count, 2)
        let original = try XCTUnwrap(list.stdout.split(separator: "\n").first { $0.hasPrefix("*") }?.split(separator: " ").dropFirst().first)
        let remove = try pv(["key", "remove", "--repo", dir.sub("repo"), String(original)], env: ["PLANVAULT_PASSPHRASE": "deputy passphrase 2"])
        XCTAssertEqual(remove.status, 0, remove.stderr)
        XCTAssertEqual(try pv(["snapshots", "--repo", dir.sub("repo")]).status, 12)
    }
}
