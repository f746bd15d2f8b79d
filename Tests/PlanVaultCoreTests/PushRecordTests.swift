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

    /// A push writes index files for the bundles it has uploaded as it goes, not one at the end:
    /// it keeps less in memory, and a push killed late leaves little to adopt. Every bundle must
    /// still be indexed, a chunk already uploaded must not be stored again, and the push's record
    /// must name every index file a restore needs.
    func testALongPushWritesIndexFilesAsItGoesAndEveryBundleIsIndexed() async throws {
        let dir = try TempDir(removedAfter: self)
        let writer = try await Fixture.makeRepository(dir, bundleSize: 1024 * 1024)
        for i in 0..<60 { try Fixture.write(dir.sub("plans/a \(i).bin"), Fixture.noise(100 * 1024, seed: UInt64(500 + i))) }
        // Read last (their names sort after "a"), when their twins' bundles are uploaded and indexed.
        for i in 0..<5 { try Fixture.write(dir.sub("plans/z copy \(i).bin"), Fixture.noise(100 * 1024, seed: UInt64(500 + i))) }

        let pushed = try await Archiver(writer: writer, logger: Fixture.logger, indexBatchEntries: 8).push(PushOptions(paths: [dir.sub("plans")]))
        let indexFiles = try await writer.backend.list(.index)
        XCTAssertGreaterThan(indexFiles.count, 2, "index files are written while the push runs")

        let load = try await writer.repository.loadIndexWithBundles()
        XCTAssertTrue(load.adopted.isEmpty, "every bundle the push wrote is named by an index file")
        // The chunker's cuts depend on the repository's key, so count bytes rather than chunks: the
        // sixty distinct files once, the five copies not again, and no chunk twice.
        let trees = Set(pushed.snapshot.treeIDs)
        let dataEntries = load.load.index.indexedBundles().flatMap(\.entries).filter { !trees.contains($0.id) }
        XCTAssertEqual(Set(dataEntries.map(\.id)).count, dataEntries.count, "no chunk is stored twice")
        XCTAssertEqual(dataEntries.reduce(0) { $0 + Int($1.rawLength) }, 60 * 100 * 1024, "a chunk whose bundle is already indexed is not stored again")
        XCTAssertEqual(pushed.snapshot.summary.newChunks, dataEntries.count)
        XCTAssertEqual(load.load.index.chunkCount, pushed.index.chunkCount)
        var stored: UInt64 = 0
        for kind in [ObjectKind.bundle, .index, .snapshot] { stored += try await writer.backend.list(kind).reduce(0) { $0 + $1.size } }
        XCTAssertEqual(pushed.snapshot.summary.bytesStored, stored, "the summary counts every object written, index files too")

        let record = try await AttestationLog.pushRecord(snapshotID: pushed.snapshotID, snapshot: pushed.snapshot,
                                                         repository: writer.repository, index: pushed.index, chunkBundles: pushed.chunkBundles)
        let named = try XCTUnwrap(record.objects).filter { $0.kind == ObjectKind.index.rawValue }.map(\.name)
        XCTAssertEqual(Set(named), Set(indexFiles.map(\.name)), "the record names every index file")

        let restored = try await Fixture.restore(writer.repository, to: dir.sub("restored"))
        XCTAssertTrue(restored.problems.isEmpty, "\(restored.problems)")
        for i in 0..<5 {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.sub("restored/plans/z copy \(i).bin")))
            XCTAssertEqual(Array(bytes), Fixture.noise(100 * 1024, seed: UInt64(500 + i)))
        }
    }

    /// With one upload at a time, two bundle buffers exist. A file's chunks are hashed by child
    /// tasks (up to `sealConcurrency` at once) and come back together at the file's end, filling
    /// both buffers: the rest wait for one. Every byte must still be stored once and restore exactly.
    func testAPushWithFewBundleBuffersStoresEveryChunkOnce() async throws {
        let dir = try TempDir(removedAfter: self)
        let writer = try await Fixture.makeRepository(dir, bundleSize: 1024 * 1024)
        var expected = [String: [UInt8]]()
        for i in 0..<4 {
            let bytes = Fixture.noise(6 * 1024 * 1024 + i * 4096, seed: UInt64(900 + i))
            expected["plans/part \(i).bin"] = bytes
            try Fixture.write(dir.sub("plans/part \(i).bin"), bytes)
        }
        try Fixture.write(dir.sub("plans/zz copy.bin"), try XCTUnwrap(expected["plans/part 3.bin"]))
        expected["plans/zz copy.bin"] = expected["plans/part 3.bin"]

        let pushed = try await Archiver(writer: writer, logger: Fixture.logger, sealConcurrency: 64, uploadConcurrency: 1, indexBatchEntries: 4)
            .push(PushOptions(paths: [dir.sub("plans")]))
        let trees = Set(pushed.snapshot.treeIDs)
        let dataEntries = try await writer.repository.loadIndexWithBundles().load.index.indexedBundles().flatMap(\.entries)
            .filter { !trees.contains($0.id) }
        XCTAssertEqual(Set(dataEntries.map(\.id)).count, dataEntries.count, "no chunk is stored twice")
        XCTAssertEqual(dataEntries.reduce(0) { $0 + Int($1.rawLength) }, (0..<4).reduce(0) { $0 + 6 * 1024 * 1024 + $1 * 4096 })
        // The record names the bundles of chunks that waited, as a record made from the stored snapshot does.
        let fromPush = try await AttestationLog.pushRecord(snapshotID: pushed.snapshotID, snapshot: pushed.snapshot, repository: writer.repository,
                                                           index: pushed.index, chunkBundles: pushed.chunkBundles)
        let stored = try await writer.repository.loadSnapshot(pushed.snapshotID, index: pushed.index)
        let fromNodes = try await AttestationLog.pushRecord(snapshotID: pushed.snapshotID, snapshot: stored, repository: writer.repository, index: pushed.index)
        XCTAssertEqual(try XCTUnwrap(fromPush.objects), fromNodes.objects)

        let restored = try await Fixture.restore(writer.repository, to: dir.sub("restored"))
        XCTAssertTrue(restored.problems.isEmpty, "\(restored.problems)")
        for (path, bytes) in expected {
            XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: dir.sub("restored/\(path)")))), bytes, path)
        }
    }
}
