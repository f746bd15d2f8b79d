import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// The fast subset of the reliability campaign (`Tests/reliability/run.sh`), through the real
/// executable on a directory target: randomly timed kills, one damaged object of each type, and
/// the operational faults.
final class ReliabilitySubsetTests: CLITestCase {
    /// README "Exit codes": a folder PlanVault writes to is full.
    static let noSpace: Int32 = 6

    override func setUp() async throws {
        try await super.setUp()
        for i in 0..<3 { try Fixture.write(dir.sub("plans/plan-\(i).bin"), Fixture.noise(700_000, seed: UInt64(i))) }
        try ok(["init", "--repo", repo, "--bundle-size-mib", "1"])
    }

    @discardableResult
    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try pv(args)
        XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)", file: file, line: line)
        return r
    }

    func push(_ source: String? = nil) throws -> String {
        let r = try ok(["push", "--repo", repo, "--json", source ?? dir.sub("plans")])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try XCTUnwrap(object["snapshot"] as? String)
    }

    func snapshotIDs() throws -> [String] {
        let r = try ok(["snapshots", "--repo", repo, "--json"])
        let listing = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let list = try XCTUnwrap(listing["snapshots"] as? [[String: Any]])
        return list.compactMap { $0["id"] as? String }
    }

    /// Keeps a copy of the source as pushed, to compare restores with later.
    func keepCopy(_ id: String) throws {
        try FileManager.default.createDirectory(atPath: dir.sub("pushed/\(id)"), withIntermediateDirectories: true)
        let copy = try Process.run(URL(fileURLWithPath: "/bin/cp"), arguments: ["-a", dir.sub("plans"), dir.sub("pushed/\(id)/plans")])
        copy.waitUntilExit()
        XCTAssertEqual(copy.terminationStatus, 0)
    }

    func assertRestoresIdentically(_ id: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let out = dir.sub("out-\(UUID().uuidString)")
        let r = try pv(["restore", id, "--repo", repo, "--to", out])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertEqual(try TreeCompare.differences(dir.sub("pushed/\(id)/plans"), "\(out)/plans"), [], file: file, line: line)
        try FileManager.default.removeItem(atPath: out)
    }

    /// A seeded xorshift generator, so a failing kill moment can be reproduced.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
    }

    // MARK: Crash injection

    func testPushesKilledAtSeededRandomMomentsLoseNothing() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["PLANVAULT_RELIABILITY_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("ReliabilitySubsetTests seed \(seed) (rerun with PLANVAULT_RELIABILITY_SEED=\(seed))")
        var rng = Seeded(state: seed)
        let first = try push()
        try keepCopy(first)
        var pushed = [first]
        for round in 0..<3 {
            for i in 0..<3 {
                try Fixture.write(dir.sub("plans/plan-\(i).bin"), Fixture.noise(700_000, seed: rng.next()))
            }
            let process = try CLI.start(["push", "--repo", repo, dir.sub("plans")], env: env, output: dir.sub("killed-\(round)"))
            // The kill moment is the injected fault: somewhere in the first 1.5 s of a push.
            let moment = Date().addingTimeInterval(Double(rng.next() % 1500) / 1000)
            while process.isRunning && Date() < moment { usleep(1000) }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let ids = try snapshotIDs()
            XCTAssertTrue(Set(pushed).isSubset(of: ids), "round \(round) (seed \(seed)): snapshots lost")
            try ok(["verify", "--repo", repo, "--no-record"])
            for id in pushed { try assertRestoresIdentically(id) }
            let next = try push()
            try keepCopy(next)
            pushed.append(next)
        }
        try ok(["verify", "--repo", repo, "--read-data", "--no-record"])
    }

    // MARK: Corruption

    func objectPath(_ kind: String) throws -> String {
        switch kind {
        case "config": return repo + "/config"
        case "bundles":
            let names = (FileManager.default.enumerator(atPath: repo + "/bundles")?.allObjects as? [String] ?? [])
            return "\(repo)/bundles/\(try XCTUnwrap(names.filter { ($0 as NSString).lastPathComponent.count == 64 }.sorted().first))"
        default:
            return "\(repo)/\(kind)/\(try XCTUnwrap(try FileIO.listDirectory("\(repo)/\(kind)").filter(ObjectName.isValid).sorted().first))"
        }
    }

    func testAByteFlippedInEachObjectTypeIsNamedAndNeverRestored() throws {
        let id = try push()
        try keepCopy(id)
        for kind in ["bundles", "index", "snapshots", "keys", "attestations", "config"] {
            let copy = dir.sub("damaged-\(kind)")
            try FileManager.default.copyItem(atPath: repo, toPath: copy)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let path = try objectPath(kind).replacingOccurrences(of: repo, with: copy)
            var bytes = try FileIO.readFile(path)
            bytes[bytes.count / 2] ^= 0x20
            try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
            let name = (path as NSString).lastPathComponent

            let verify = try pv(["verify", "--repo", copy, "--read-data", "--no-record", "--no-cache"])
            XCTAssertTrue([4, 12].contains(verify.status), "\(kind): verify exit \(verify.status): \(verify.stdout)\(verify.stderr)")
            let said = verify.stdout + verify.stderr
            XCTAssertTrue(said.contains(kind == "config" ? "config" : String(name.prefix(8))), "\(kind) not named: \(said)")

            // Whatever restores is byte-identical; the damaged bytes never become a file.
            let out = dir.sub("out-\(kind)")
            let restore = try pv(["restore", id, "--repo", copy, "--to", out, "--no-cache"])
            let restored = (try? TreeCompare.entries("\(out)/plans")) ?? [:]
            for (rel, entry) in restored where entry.type == "f" {
                XCTAssertTrue(FileManager.default.contentsEqual(atPath: "\(out)/plans/\(rel)", andPath: dir.sub("pushed/\(id)/plans/\(rel)")),
                              "\(kind): \(rel) restored with wrong bytes")
            }
            if ["index", "attestations"].contains(kind) {
                XCTAssertEqual(restore.status, 0, "\(kind): \(restore.stderr)")
                XCTAssertEqual(restored.count, 3, "\(kind): every file restores despite a damaged \(kind) object")
            }
        }
    }

    /// Regression: `repair-index` used this machine's cached copy of an index file, so it said "every
    /// bundle is indexed" while the copy at the target was damaged.
    func testRepairIndexSeesTheTargetsDamagedIndexDespiteAnIntactCachedCopy() throws {
        let id = try push()
        try keepCopy(id)
        let path = try objectPath("index")
        var bytes = try FileIO.readFile(path)
        bytes[bytes.count / 2] ^= 0x20
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        XCTAssertEqual(try pv(["verify", "--repo", repo, "--read-data", "--no-record"]).status, 4)

        let repair = try ok(["repair-index", "--repo", repo, "--remove-damaged"])
        XCTAssertTrue(repair.stdout.contains("removed damaged index file \((path as NSString).lastPathComponent.prefix(8))"), repair.stdout)
        let verify = try ok(["verify", "--repo", repo, "--read-data", "--no-record", "--no-cache"])
        XCTAssertTrue(verify.stdout.contains("no problems found"), verify.stdout)
        try assertRestoresIdentically(id)
    }

    // MARK: Operational faults

    func testStaleLockOfAKilledPushDoesNotBlockTheNextOne() throws {
        for i in 0..<6 { try Fixture.write(dir.sub("plans/big-\(i).bin"), Fixture.noise(3_000_000, seed: UInt64(50 + i))) }
        let process = try CLI.start(["push", "--repo", repo, dir.sub("plans")], env: env, output: dir.sub("holder"))
        // Wait for the condition: the lock file exists and is held.
        let deadline = Date().addingTimeInterval(60)
        var lockPath: String?
        while process.isRunning && Date() < deadline {
            lockPath = (try? FileIO.listDirectory(dir.sub("cache")))?.map { dir.sub("cache/\($0)/push.lock") }.first { FileManager.default.fileExists(atPath: $0) }
            if let lockPath, (try? LocalLock(path: lockPath)) == nil { break }
            usleep(1000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(lockPath)), "the killed push left its lock file")
        let id = try push()
        try keepCopy(id)
        try ok(["verify", "--repo", repo, "--no-record"])
        try assertRestoresIdentically(id)
    }

    func testPushesFromTwoHostsAtOnceBothLand() throws {
        try Fixture.write(dir.sub("other/plans/b.bin"), Fixture.noise(2_000_000, seed: 9))
        let a = try CLI.start(["push", "--repo", repo, "--host", "office-a", "--json", dir.sub("plans")], env: env, output: dir.sub("a"))
        let b = try CLI.start(["push", "--repo", repo, "--host", "office-b", "--json", dir.sub("other/plans")],
                              env: env.merging(["PLANVAULT_CACHE_DIR": dir.sub("cache-b")]) { $1 }, output: dir.sub("b"))
        a.waitUntilExit()
        b.waitUntilExit()
        let ra = CLI.collect(dir.sub("a"), status: a.terminationStatus), rb = CLI.collect(dir.sub("b"), status: b.terminationStatus)
        XCTAssertEqual(ra.status, 0, ra.stderr)
        XCTAssertEqual(rb.status, 0, rb.stderr)
        XCTAssertEqual(try snapshotIDs().count, 2)
        let verify = try pv(["verify", "--repo", repo, "--read-data", "--no-record"])
        // Each append holds the chain lock, so the two records never share a sequence: no fork.
        XCTAssertFalse(verify.stdout.contains("forked"), verify.stdout)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    func testWrongPassphraseChangesNothing() throws {
        let id = try push()
        try keepCopy(id)
        let r = try pv(["push", "--repo", repo, dir.sub("plans")], env: ["PLANVAULT_PASSPHRASE": "not the passphrase"])
        XCTAssertEqual(r.status, ExitCodes.wrongPassphrase)
        XCTAssertTrue(r.stderr.contains("passphrase does not open"), r.stderr)
        XCTAssertEqual(try snapshotIDs(), [id])
        try assertRestoresIdentically(id)
    }

    /// A small tmpfs (root only; skipped elsewhere), unmounted when the test ends; `inodes`
    /// limits how many files and folders it holds, its own root included.
    func smallFilesystem(_ path: String, size: String, inodes: Int? = nil) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(size)" + (inodes.map { ",nr_inodes=\($0)" } ?? ""), "tmpfs", path]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("cannot mount a tmpfs here (needs root)") }
        addTeardownBlock {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", path]
            try? umount.run()
            umount.waitUntilExit()
        }
    }

    func testFullTargetFailsClearlyAndKeepsEarlierSnapshots() throws {
        try smallFilesystem(dir.sub("small"), size: "8m")
        let small = dir.sub("small/repo")
        try ok(["init", "--repo", small, "--bundle-size-mib", "1"])
        let r0 = try ok(["push", "--repo", small, "--json", dir.sub("plans")])
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(r0.stdout.utf8)) as? [String: Any])?["snapshot"] as? String)
        try keepCopy(id)
        for i in 0..<4 { try Fixture.write(dir.sub("plans/big-\(i).bin"), Fixture.noise(3_000_000, seed: UInt64(70 + i))) }
        let full = try pv(["push", "--repo", small, dir.sub("plans")])
        XCTAssertEqual(full.status, Self.noSpace, full.stderr)
        XCTAssertTrue(full.stderr.contains("full"), full.stderr)
        try ok(["verify", "--repo", small, "--no-record"])
        let out = dir.sub("out")
        try ok(["restore", id, "--repo", small, "--to", out])
        XCTAssertEqual(try TreeCompare.differences(dir.sub("pushed/\(id)/plans"), "\(out)/plans"), [])
    }

    /// A destination whose folders cannot be made because the filesystem is full is "full"
    /// (exit 6), like a full file, not a plain error.
    func testADestinationFolderOnAFullFilesystemExitsAsFull() throws {
        let id = try push()
        try smallFilesystem(dir.sub("dest"), size: "1m", inodes: 2)
        let r = try pv(["restore", id, "--repo", repo, "--to", dir.sub("dest/a/b")])
        XCTAssertEqual(r.status, Self.noSpace, r.stderr)
        XCTAssertTrue(r.stderr.contains("create folder \(dir.sub("dest/a/b"))") && r.stderr.contains("full"), r.stderr)
    }

    func testFullDestinationLeavesNoPartialFile() throws {
        for i in 0..<4 { try Fixture.write(dir.sub("plans/big-\(i).bin"), Fixture.noise(3_000_000, seed: UInt64(80 + i))) }
        let id = try push()
        try keepCopy(id)
        try smallFilesystem(dir.sub("dest"), size: "6m")
        let r = try pv(["restore", id, "--repo", repo, "--to", dir.sub("dest/out")])
        XCTAssertEqual(r.status, Self.noSpace, r.stderr)
        XCTAssertTrue(r.stderr.contains("full"), r.stderr)
        let restored = (try? TreeCompare.entries(dir.sub("dest/out/plans"))) ?? [:]
        for (rel, entry) in restored where entry.type == "f" {
            XCTAssertTrue(FileManager.default.contentsEqual(atPath: dir.sub("dest/out/plans/\(rel)"), andPath: dir.sub("pushed/\(id)/plans/\(rel)")),
                          "\(rel) is partial or wrong")
        }
    }
}
