import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Succession of the key (issue 11): `key passwd`, `key split` and `--shares`.
final class KeySuccessionTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/Contacts/call tree.csv"), Fixture.text(200, seed: 1))
        try Fixture.write(dir.sub("plans/BCP/plan.docx"), Fixture.noise(300_000, seed: 2))
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
    }

    /// The alternate site: a fresh HOME, no cache, no config, no passphrase anywhere.
    var custodianEnv: [String: String] { ["HOME": dir.sub("custodian-home")] }

    func split(_ n: Int, _ k: Int, into folder: String) throws -> [String] {
        let result = try CLI.run(["key", "split", "--repo", repo, "--shares", "\(n)", "--threshold", "\(k)", "--out", dir.sub(folder)], env: env)
        XCTAssertEqual(result.status, 0, result.stderr)
        return (1...n).map { dir.sub("\(folder)/share-\($0)-of-\(n).txt") }
    }

    func testThreeOfFiveSharesRestoreOnAFreshMachineWithoutThePassphrase() throws {
        let shares = try split(5, 3, into: "shares")
        for path in shares {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0)
            XCTAssertEqual(st.st_mode & 0o777, 0o600, "a share is a secret")
        }
        let restore = try CLI.run(["restore", "latest", "--repo", repo, "--to", dir.sub("out"), "--shares", shares[4], shares[0], shares[2]], env: custodianEnv)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])

        // Two custodians are not enough, and the message says how many are needed.
        let two = try CLI.run(["snapshots", "--repo", repo, "--shares", shares[1], shares[3]], env: custodianEnv)
        XCTAssertEqual(two.status, 1, two.stderr)
        XCTAssertTrue(two.stderr.contains("this split needs 3"), two.stderr)

        // The shares typed in (here piped) work the same way.
        let pasted = dir.sub("pasted.txt")
        try Fixture.write(pasted, try [shares[1], shares[3], shares[4]].map { try String(contentsOfFile: $0, encoding: .utf8) }.joined())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["snapshots", "--repo", repo, "--shares", "-"]
        process.environment = CLI.environment(custodianEnv)
        process.standardInput = FileHandle(forReadingAtPath: pasted)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }

    func testCustodiansGiveASuccessorANewPassphrase() throws {
        let shares = try split(3, 2, into: "shares")
        let add = try CLI.run(["key", "add", "--repo", repo, "--shares", shares[0], shares[2], "--label", "successor"],
                              env: custodianEnv.merging(["PLANVAULT_NEW_PASSPHRASE": "the successor's passphrase"]) { a, _ in a })
        XCTAssertEqual(add.status, 0, add.stderr)
        let snapshots = try CLI.run(["snapshots", "--repo", repo], env: ["HOME": dir.sub("successor"), "PLANVAULT_PASSPHRASE": "the successor's passphrase"])
        XCTAssertEqual(snapshots.status, 0, snapshots.stderr)
        // key list shows that shares exist, never the shares.
        let list = try CLI.run(["key", "list", "--repo", repo], env: env)
        XCTAssertTrue(list.stdout.contains("recovery shares: any 2 of 3"), list.stdout)
        let block = try String(contentsOfFile: shares[0], encoding: .utf8)
        let firstCodedLine = try XCTUnwrap(block.split(separator: "\n").first { $0.hasPrefix("1: ") })
        XCTAssertFalse(list.stdout.contains(firstCodedLine.dropFirst(3).prefix(9)), list.stdout)
    }

    func testRemovingTheRecoveryKeyRevokesTheShares() throws {
        let shares = try split(3, 2, into: "shares")
        let list = try CLI.run(["key", "list", "--repo", repo], env: env)
        let line = try XCTUnwrap(list.stdout.split(separator: "\n").first { $0.contains("recovery shares") })
        let id = try XCTUnwrap(line.split(separator: " ").first { $0.count == 8 })
        XCTAssertEqual(try CLI.run(["key", "remove", "--repo", repo, String(id)], env: env).status, 0)
        let refused = try CLI.run(["snapshots", "--repo", repo, "--shares", shares[0], shares[1]], env: custodianEnv)
        XCTAssertEqual(refused.status, 12, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("recovery key file"), refused.stderr)
    }

    func testShareFileOthersCanReadIsRefusedAndAMistypeIsNamed() throws {
        let shares = try split(3, 2, into: "shares")
        chmod(shares[0], 0o644)
        let open = try CLI.run(["snapshots", "--repo", repo, "--shares", shares[0], shares[1]], env: custodianEnv)
        XCTAssertNotEqual(open.status, 0)
        XCTAssertTrue(open.stderr.contains(shares[0]), open.stderr)
        chmod(shares[0], 0o600)
        var text = try String(contentsOfFile: shares[1], encoding: .utf8)
        let range = try XCTUnwrap(text.range(of: "\n2: "))
        let at = text.index(range.upperBound, offsetBy: 1)
        text.replaceSubrange(at...at, with: text[at] == "7" ? "8" : "7")
        try FileIO.writeAtomically(Array(text.utf8), to: shares[1], inDirectory: dir.sub("shares"))
        let typo = try CLI.run(["snapshots", "--repo", repo, "--shares", shares[0], shares[1]], env: custodianEnv)
        XCTAssertEqual(typo.status, 1, typo.stderr)
        XCTAssertTrue(typo.stderr.contains("line 2 has a typing mistake") || typo.stderr.contains("checksum does not match"), typo.stderr)
        // Named as its custodian knows it: the heading on the paper, not its place in the file.
        XCTAssertTrue(typo.stderr.contains("\(shares[1]), block 1 (Share 2 of 3)"), typo.stderr)
    }

    func testKeyPasswdReplacesThePassphraseAndNeverLeavesTheRepositoryKeyless() throws {
        let before = try FileIO.listDirectory(dir.sub("repo/keys"))
        let passwd = try CLI.run(["key", "passwd", "--repo", repo], env: env.merging(["PLANVAULT_NEW_PASSPHRASE": "a brand new passphrase"]) { a, _ in a })
        XCTAssertEqual(passwd.status, 0, passwd.stderr)
        let after = try FileIO.listDirectory(dir.sub("repo/keys"))
        XCTAssertEqual(after.count, 1)
        XCTAssertTrue(Set(after).isDisjoint(with: before))
        XCTAssertEqual(try CLI.run(["snapshots", "--repo", repo], env: env).status, 12, "the old passphrase no longer opens it")
        let fresh = try CLI.run(["snapshots", "--repo", repo], env: ["HOME": dir.path, "PLANVAULT_PASSPHRASE": "a brand new passphrase"])
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        // The push records named the removed key file: they are attested again, so the audit passes.
        try Fixture.write(dir.sub("audit.pub"), try CLI.run(["key", "export-public", "--repo", repo], env: ["HOME": dir.path, "PLANVAULT_PASSPHRASE": "a brand new passphrase"]).stdout)
        let audit = try CLI.run(["audit", "--repo", repo, "--public-key", dir.sub("audit.pub"), "--integrity-only"], env: ["HOME": dir.sub("auditor")])
        XCTAssertEqual(audit.status, 0, audit.stdout)
    }
}
