import XCTest
import PlanVaultTestSupport

/// The set-up every CLI test class shares: its own folder, removed after each test, and the
/// environment of a cron job run from it (a passphrase, a cache folder and HOME inside the
/// folder), so no test reads another's files or the user's. Subclasses that add to `setUp` call
/// `super.setUp()` first.
class CLITestCase: XCTestCase {
    var dir: TempDir!
    var env: [String: String] = [:]
    var repo: String { dir.sub("repo") }

    override func setUp() async throws {
        try await super.setUp()
        dir = try TempDir(removedAfter: self)
        env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
    }

    /// Runs the real `planvault` with the test's environment, plus `extra`.
    func pv(_ args: [String], env extra: [String: String] = [:], cwd: String? = nil) throws -> CLI.Result {
        try CLI.run(args, env: env.merging(extra) { $1 }, cwd: cwd)
    }
}
