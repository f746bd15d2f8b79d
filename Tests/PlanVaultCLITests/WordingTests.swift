import XCTest
import PlanVaultTestSupport
import ArgumentParser
@testable import PlanVaultCLI

/// Ages and waits read as durations, never as clock times ("13:48 old").
final class WordingTests: XCTestCase {
    func testDurationsReadAsWords() {
        XCTAssertEqual(Output.duration(48), "48 s")
        XCTAssertEqual(Output.duration(13 * 60 + 48), "13 min 48 s")
        XCTAssertEqual(Output.duration(4 * 3600 + 45 * 60 + 10), "4 h 45 min")
        XCTAssertEqual(Output.duration(30 * 3600), "1 day 6 h")
        XCTAssertEqual(Output.duration(9 * 86400 + 7200), "9 days")
    }

    /// The Quick start's `install -m 600 /dev/null keys.toml`, followed literally, leaves it empty.
    func testAnEmptyKeysFileIsNamedAsHoldingNoPassphrase() throws {
        let dir = try TempDir()
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "HOME": dir.path]
        XCTAssertEqual(try CLI.run(["init", "--repo", dir.sub("repo")], env: env).status, 0)
        try Fixture.write(dir.sub("keys.toml"), "")
        chmod(dir.sub("keys.toml"), 0o600)
        let result = try CLI.run(["snapshots", "--repo", dir.sub("repo"), "--keys", dir.sub("keys.toml")], env: ["HOME": dir.path])
        XCTAssertEqual(result.status, 12, result.stderr)
        XCTAssertTrue(result.stderr.contains("the keys file \(dir.sub("keys.toml")) holds no passphrase"), result.stderr)
    }

    /// Help prose is one line per paragraph or list item: the help's own wrapping then fits the
    /// terminal. A line broken in the source showed as a short line in the middle of a sentence.
    func testHelpTextIsNotHardWrapped() {
        func check(_ command: any ParsableCommand.Type, _ name: String) {
            let configuration = command.configuration
            for paragraph in configuration.discussion.components(separatedBy: "\n\n")
            where !paragraph.hasPrefix("Examples:") && !paragraph.hasPrefix("Exit codes:") {
                for line in paragraph.split(separator: "\n").dropFirst() {
                    XCTAssertNotNil(line.range(of: #"^(\d+\.|-) "#, options: .regularExpression), "\(name): \"\(line)\" continues the line before it")
                }
            }
            for sub in configuration.subcommands { check(sub, "\(name) \(sub._commandName)") }
        }
        check(PlanVaultCommand.self, "planvault")
    }
}
