import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// The compact in-memory index: lookups, second copies, forgetting lost bundles, and the
/// bundle list written back to an index file.
final class ChunkIndexTests: XCTestCase {
    /// A distinct, deterministic ID for `n` within `space`.
    func id(_ n: Int, _ space: UInt8) -> Digest32 {
        var bytes = [UInt8](repeating: space, count: 32)
        withUnsafeBytes(of: UInt64(n).bigEndian) { for (i, b) in $0.enumerated() { bytes[24 + i] = b } }
        return Digest32(bytes)
    }

    func bundle(_ n: Int, chunks: [Int]) -> IndexedBundle {
        let entries = chunks.enumerated().map { slot, chunk in
            BundleEntry(id: id(chunk, 1), slot: UInt32(slot), offset: UInt32(64 + 100 * slot), length: 100, rawLength: 83)
        }
        return IndexedBundle(id: id(n, 2), size: 10_000, entries: entries)
    }

    func testIndexFilesWrittenForManyBundlesAreSplitSoNoneIsTooLargeToRead() async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        let bundles = (0..<5).map { bundle($0, chunks: Array($0 * 3..<($0 + 1) * 3)) }
        let names = try await writer.saveIndexFiles(bundles, entriesPerFile: 7)
        // Two bundles (6 entries) fit in 7; a third would not. No bundle is split.
        var read = [[IndexedBundle]]()
        for name in names {
            let sealed = try FileIO.readFile(dir.sub("repo/index/\(name)"))
            read.append(try IndexFile.decode(try SealedObject.open(sealed, kind: .index, name: name, keys: writer.repository.keys), name: name))
        }
        XCTAssertEqual(read.map { $0.map(\.id) }, [[bundles[0].id, bundles[1].id], [bundles[2].id, bundles[3].id], [bundles[4].id]])
        XCTAssertEqual(read.flatMap { $0 }, bundles)
        XCTAssertLessThanOrEqual((RepositoryWriter.entriesPerIndexFile + 1) * (IndexFile.entryRecordSize + IndexFile.bundleRecordSize), Limits.maxIndexFileSize,
                                 "a full index file must stay far inside the limit readers enforce")
    }

    func testTheSegmentedRecordStoreKeepsOrderAcrossSegments() {
        var store = SegmentedArray<Int>()
        XCTAssertTrue(store.isEmpty)
        let n = SegmentedArray<Int>.segmentLength * 2 + 5
        for i in 0..<n { store.append(i * 3) }
        XCTAssertEqual(store.count, n)
        XCTAssertEqual(Array(store), (0..<n).map { $0 * 3 }, "iteration crosses segments in order")
        for i in [0, SegmentedArray<Int>.segmentLength - 1, SegmentedArray<Int>.segmentLength, n - 1] {
            XCTAssertEqual(store[i], i * 3, "element \(i)")
        }
    }

    func testFindsEveryChunkOfManyBundlesAndNoOther() {
        var index = ChunkIndex()
        for b in 0..<500 { index.add(bundle(b, chunks: Array(b * 40..<(b + 1) * 40)), fromIndexFile: "file-\(b % 7)") }
        XCTAssertEqual(index.chunkCount, 20_000)
        XCTAssertEqual(index.bundles.count, 500)
        for chunk in stride(from: 0, to: 20_000, by: 37) {
            let location = index.location(of: id(chunk, 1))
            XCTAssertEqual(location?.bundle, id(chunk / 40, 2), "chunk \(chunk)")
            XCTAssertEqual(location?.entry.slot, UInt32(chunk % 40))
        }
        XCTAssertFalse(index.contains(id(20_000, 1)))
        XCTAssertFalse(index.contains(id(5, 2)), "a bundle ID is not a chunk ID")
        XCTAssertEqual(index.indexFileOfBundle[id(8, 2)], "file-1")
    }

    func testASecondCopyIsKeptAndTakesOverWhenItsBundleIsForgotten() {
        var index = ChunkIndex()
        index.add(bundle(1, chunks: [10, 11, 12]), fromIndexFile: "a")
        index.add(bundle(2, chunks: [11, 13]), fromIndexFile: "b")
        XCTAssertEqual(index.chunkCount, 4)
        XCTAssertEqual(index.locations(of: id(11, 1)).map(\.bundle), [id(1, 2), id(2, 2)])
        // The same bundle named by two index files is one copy, not two.
        index.add(bundle(1, chunks: [10, 11, 12]), fromIndexFile: "c")
        XCTAssertEqual(index.locations(of: id(10, 1)).count, 1)

        index.forget([id(1, 2)])
        XCTAssertEqual(index.location(of: id(11, 1))?.bundle, id(2, 2), "the copy in bundle 2 is used")
        XCTAssertNil(index.location(of: id(10, 1)), "a chunk with no other copy is gone")
        XCTAssertNil(index.location(of: id(12, 1)))
        XCTAssertEqual(index.location(of: id(13, 1))?.bundle, id(2, 2))
        XCTAssertEqual(index.chunkCount, 2)
        XCTAssertEqual(Set(index.bundles.keys), [id(2, 2)])
    }

    func testRetainBundlesForgetsMissingAndResizedOnes() {
        var index = ChunkIndex()
        for b in 0..<3 { index.add(bundle(b, chunks: [b]), fromIndexFile: nil) }
        index.retainBundles([id(0, 2): 10_000, id(1, 2): 9_999])
        XCTAssertEqual(Set(index.bundles.keys), [id(0, 2)])
        XCTAssertTrue(index.contains(id(0, 1)))
        XCTAssertFalse(index.contains(id(1, 1)))
        XCTAssertFalse(index.contains(id(2, 1)))
    }

    func testIndexedBundlesListEveryCopyOnceBySlot() {
        var index = ChunkIndex()
        let first = bundle(1, chunks: [3, 1, 2])
        let second = bundle(2, chunks: [2, 4])
        index.add(first, fromIndexFile: nil)
        index.add(second, fromIndexFile: nil)
        index.add(first, fromIndexFile: nil)
        XCTAssertEqual(index.indexedBundles(), [first, second])
        XCTAssertEqual(Set(index.preferredLocations.map(\.entry.id)), Set([1, 2, 3, 4].map { id($0, 1) }))
    }
}
