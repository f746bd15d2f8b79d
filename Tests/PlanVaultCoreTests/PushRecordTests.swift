import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// A push no longer holds its snapshot's nodes, so it names the bundles of its chunks as it goes.
/// Its attestation must still list exactly what a restore of the stored snapshot needs.
final class PushRecordTests: XCTestCase {
    func testPushRecordNamesExactlyTheBundlesTheStoredSnapshotNeeds() async throws {
        let dir = try TempDir(removedAfter: self)
        // Small bundles, so the snapshot spans many, and the second push mixes kept and new ones.
        let writer = try await Fixture.makeRepository(dir, bundleSize: 1024 * 1024)
        for i in 0..<6 { try Fixture.write(dir.sub("plans/part \(i).bin"), Fixture.noise(700 * 1024, seed: UInt64(40 + i))) }
        try Fixture.write(dir.sub("plans/Runbooks/restore.md"), Fixture.text(300, seed: 3))
        try Fixture.write(dir.sub("plans/Runbooks/copy of restore.md"), Fixture.text(300, seed: 3))
        try FileManager.default.createDirectory(atPath: dir.sub("plans/Empty"), withIntermediateDirectories: true)

        let first = try await Fixture.push(writer, [dir.sub("plans")])
        try Fixture.write(dir.sub("plans/part 2.bin"), Fixture.noise(900 * 1024, seed: 99))
        try Fixture.write(dir.sub("plans/Runbooks/new.csv"), Fixture.text(50, seed: 5))
        let second = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(second.snapshot.summary.filesRead, 2, "only the changed and the new file are read")

        for pushed in [first, second] {
            let fromPush = try await AttestationLog.pushRecord(snapshotID: pushed.snapshotID, snapshot: pushed.snapshot,
                                                               repository: writer.repository, index: pushed.index,
                                                               chunkBundles: pushed.chunkBundles)
            // The same record made the old way: from every node of the snapshot as stored.
            let stored = try await writer.repository.loadSnapshot(pushed.snapshotID, index: pushed.index)
            let fromNodes = try await AttestationLog.pushRecord(snapshotID: pushed.snapshotID, snapshot: stored,
                                                                repository: writer.repository, index: pushed.index)
            let objects = try XCTUnwrap(fromPush.objects)
            XCTAssertEqual(objects, fromNodes.objects)
            XCTAssertGreaterThan(objects.filter { $0.kind == ObjectKind.bundle.rawValue }.count, 3)
        }
        XCTAssertFalse(second.chunkBundles.isSubset(of: first.chunkBundles), "the second push wrote bundles of its own")
        XCTAssertFalse(second.chunkBundles.isDisjoint(with: first.chunkBundles), "and kept the first push's for unchanged files")
    }
}
