import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Repository locks shared by every host on a target (issue 9, item 4).
final class RepositoryLockTests: CLITestCase {
    override func setUp() async throws {
        try await super.setUp()
        try Fixture.write(dir.sub("plans/call tree.csv"), Fixture.text(100, seed: 1))
        XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
    }

    func repositoryID() throws -> String {
        let config = try JSONDecoder().decode(RepositoryConfig.self, from: Data(try FileIO.readFile(dir.sub("repo/config"))))
        return config.id
    }

    /// A lock as another host holds it (its PID cannot be checked from here).
    func plantLock(exclusive: Bool, host: String = "backup-site", pid: Int32 = 77, refreshed: Date = Date()) async throws -> String {
        let time = Timestamps.format(refreshed)
        let record = LockRecord(repository: try repositoryID(), purpose: .repository, exclusive: exclusive, host: host, pid: pid,
                                username: "ops", created: time, refreshed: time)
        return try await RepositoryLock.write(record, backend: DirectoryBackend(root: repo))
    }

    func testExclusiveLockOfAnotherHostStopsAPushAndNamesItsHolder() async throws {
        _ = try await plantLock(exclusive: true)
        let push = try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env)
        XCTAssertEqual(push.status, 11, push.stderr)
        XCTAssertTrue(push.stderr.contains("ops@backup-site (PID 77)"), push.stderr)
        XCTAssertTrue(push.stderr.contains("--lock-wait"), push.stderr)
    }

    func testSharedLocksLetPushesRunButStopPrune() async throws {
        _ = try await plantLock(exclusive: false)
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        let prune = try CLI.run(["prune", "--repo", repo], env: env)
        XCTAssertEqual(prune.status, 11, prune.stderr)
    }

    func testLockWaitWaitsSaysSoAndSucceedsOnceTheHolderIsGone() async throws {
        let name = try await plantLock(exclusive: true)
        let process = try CLI.start(["push", "--repo", repo, "--lock-wait", "60s", dir.sub("plans")], env: env, output: dir.sub("waiting"))
        // Wait for the condition (the waiting line), then release the holder's lock.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !((try? String(contentsOfFile: dir.sub("waiting.err"), encoding: .utf8)) ?? "").contains("waiting up to") {
            usleep(1000)
        }
        try await DirectoryBackend(root: repo).delete(.lock, name: name)
        process.waitUntilExit()
        let result = CLI.collect(dir.sub("waiting"), status: process.terminationStatus)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("waiting up to 1 min for an exclusive lock held by ops@backup-site"), result.stderr)
    }

    func testStaleLocksAreIgnoredAndLocksAreReleased() async throws {
        _ = try await plantLock(exclusive: true, refreshed: Date().addingTimeInterval(-RepositoryLock.staleAfter - 60))
        _ = try await plantLock(exclusive: true, host: HostInfo.hostname, pid: 4_000_000)  // this host, a PID that is not running
        XCTAssertEqual(try CLI.run(["push", "--repo", repo, dir.sub("plans")], env: env).status, 0)
        let left = try await DirectoryBackend(root: repo).list(.lock).count
        XCTAssertEqual(left, 1, "our own locks are released; the dead local holder's is removed; the other host's stale one stays")
    }

    func testALockRefreshedFarInTheFutureDoesNotBlockForever() async throws {
        // Planted (or written by a host whose clock is years ahead): it would never grow stale.
        _ = try await plantLock(exclusive: true, refreshed: Date().addingTimeInterval(365 * 24 * 3600))
        let prune = try CLI.run(["prune", "--repo", repo], env: env)
        XCTAssertEqual(prune.status, 0, prune.stderr)
        // Minutes of clock difference between hosts are not enough to ignore a lock.
        _ = try await plantLock(exclusive: true, refreshed: Date().addingTimeInterval(10 * 60))
        let blocked = try CLI.run(["prune", "--repo", repo], env: env)
        XCTAssertEqual(blocked.status, 11, blocked.stderr)
    }

    func testTwoHostsPushingAtOnceNeverForkTheChain() throws {
        let race = try TwoHostRace.run(repo: repo, plans: dir.sub("plans"), dir: dir, env: env, auditEnv: [:])
        XCTAssertEqual(race.failedPushes, [])
        XCTAssertEqual(race.audit.status, 0, race.audit.stdout)
        XCTAssertFalse(race.audit.stdout.contains("fork"), race.audit.stdout)
    }
}
