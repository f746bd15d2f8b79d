import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

final class CompressionTests: XCTestCase {
    func testFilesOfCompressedFormatsAreKnownByTheirNameEnding() {
        for path in ["plans/BCP/plan.DOCX", "plans/photo.jpg", "a/b/archive.tar.gz", "video.mp4", "deck.pptx"] {
            XCTAssertTrue(CompressibilityProbe.isCompressedFormat(path: path), path)
        }
        for path in ["plans/BCP/plan.pdf", "notes.md", "contacts.csv", "zip", "folder.zip/notes.txt", "no-ending", "x.docxx"] {
            XCTAssertFalse(CompressibilityProbe.isCompressedFormat(path: path), path)
        }
    }

    func testAChunkSealedWithoutALevelIsStoredEvenWhenItWouldCompress() throws {
        let keys = try MasterKeys.generate()
        let sealer = try BundleSealer(keys: keys)
        let text = Array(String(repeating: "call tree, deputy director, 555-0100\n", count: 2000).utf8)
        let id = text.withUnsafeBytes { keys.chunkID($0) }
        let stored = try text.withUnsafeBytes { try sealer.seal($0, id: id, slot: 0, level: nil) }
        let packed = try text.withUnsafeBytes { try sealer.seal($0, id: id, slot: 1) }
        XCTAssertEqual(stored.record.count, text.count + Limits.recordOverhead, "stored: the data, its encoding byte and the tag")
        XCTAssertLessThan(packed.record.count, text.count / 10, "the same text with the default level is compressed")
    }

    func testZlibRoundTripOfText() throws {
        let text = Array(String(repeating: "Call tree: Jane Doe, +1 555 0100, backup site B.\n", count: 2000).utf8)
        let packed = try XCTUnwrap(text.withUnsafeBytes { Zlib.compressIfSmaller($0) })
        XCTAssertLessThan(packed.count, text.count / 10)
        XCTAssertEqual(try packed.withUnsafeBytes { try Zlib.decompress($0, expectedSize: text.count) }, text)
        XCTAssertEqual(try Zlib.decompress(packed), text)
    }

    func testIncompressibleDataIsStoredAsIs() throws {
        let random = try LibCrypto.randomBytes(256 * 1024)
        XCTAssertNil(random.withUnsafeBytes { Zlib.compressIfSmaller($0) })
        XCTAssertFalse(random.withUnsafeBytes { CompressibilityProbe.isWorthCompressing($0) })
        let text = Array(String(repeating: "runbook step ", count: 30000).utf8)
        XCTAssertTrue(text.withUnsafeBytes { CompressibilityProbe.isWorthCompressing($0) })
    }

    func testMostlyRandomChunkWithAZeroRunIsCompressed() throws {
        // 1 MiB of random bytes with one 64 KiB run of zeros: above 7.5 bits per byte as a whole,
        // yet one sampled block is all zeros, and zlib saves about what the run takes.
        var chunk = try LibCrypto.randomBytes(1 << 20)
        for i in (3 << 16)..<(4 << 16) { chunk[i] = 0 }
        let counts = chunk.reduce(into: [Int](repeating: 0, count: 256)) { $0[Int($1)] += 1 }
        XCTAssertGreaterThan(CompressibilityProbe.entropy(counts: counts, total: chunk.count), CompressibilityProbe.entropyThreshold)
        XCTAssertTrue(chunk.withUnsafeBytes { CompressibilityProbe.isWorthCompressing($0) })
        let packed = try XCTUnwrap(chunk.withUnsafeBytes { Zlib.compressIfSmaller($0) })
        XCTAssertLessThan(packed.count, chunk.count - 60_000)
    }

    func testShortTailOfASmallChunkDoesNotDecideAlone() throws {
        // 8 KiB of random bytes and a 200-byte tail of zeros: the tail is a block too short to judge.
        let chunk = try LibCrypto.randomBytes(8192) + [UInt8](repeating: 0, count: 200)
        XCTAssertFalse(chunk.withUnsafeBytes { CompressibilityProbe.isWorthCompressing($0) })
    }

    func testDamagedZlibDataIsRejected() throws {
        var packed = try Zlib.compress(Array(repeating: 7, count: 10000))
        packed[packed.count / 2] ^= 0xff
        XCTAssertThrowsError(try packed.withUnsafeBytes { try Zlib.decompress($0, expectedSize: 10000) })
    }
}

final class ChunkerTests: XCTestCase {
    let params = ChunkerParameters(minSize: 16 * 1024, averageSize: 64 * 1024, maxSize: 256 * 1024)

    func chunker(seed: UInt8) -> Chunker {
        Chunker(parameters: params, gear: GearTable(keyMaterial: (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(seed) &* 7) ^ seed }))
    }

    func chunks(_ data: [UInt8], _ c: Chunker) -> [[UInt8]] {
        var out = [[UInt8]]()
        var offset = 0
        for len in c.cuts(of: data) {
            out.append(Array(data[offset..<(offset + len)]))
            offset += len
        }
        return out
    }

    func testChunkSizesRespectMinimumAndMaximum() throws {
        let data = try LibCrypto.randomBytes(4 * 1024 * 1024)
        let cuts = chunker(seed: 1).cuts(of: data)
        XCTAssertEqual(cuts.reduce(0, +), data.count)
        for len in cuts.dropLast() {
            XCTAssertGreaterThanOrEqual(len, params.minSize)
            XCTAssertLessThanOrEqual(len, params.maxSize)
        }
        let average = data.count / cuts.count
        XCTAssertTrue((params.averageSize / 2...params.averageSize * 2).contains(average), "average chunk \(average)")
    }

    func testBoundariesAreStableUnderAnInsertionInTheMiddle() throws {
        let original = try LibCrypto.randomBytes(8 * 1024 * 1024)
        var edited = original
        edited.insert(contentsOf: Array("INSERTED PARAGRAPH".utf8), at: original.count / 2)
        let c = chunker(seed: 2)
        let before = chunks(original, c)
        let after = chunks(edited, c)
        let beforeSet = Set(before)
        let changed = after.filter { !beforeSet.contains($0) }
        // Only the chunk holding the insertion (and at most its neighbour) differ.
        XCTAssertLessThanOrEqual(changed.count, 4, "only the chunks around the insertion change")
        XCTAssertGreaterThan(before.count, 50)
        XCTAssertEqual(after.reduce(0) { $0 + $1.count }, edited.count)
    }

    func testDifferentKeysCutDifferently() throws {
        let data = try LibCrypto.randomBytes(2 * 1024 * 1024)
        XCTAssertNotEqual(chunker(seed: 3).cuts(of: data), chunker(seed: 4).cuts(of: data))
    }
}

final class CompressionLevelTests: XCTestCase {
    func testHigherCompressionLevelStoresTextSmaller() throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/runbook.md"), Fixture.text(40_000, seed: 6))
        let env = ["PLANVAULT_PASSPHRASE": Fixture.passphrase, "PLANVAULT_CACHE_DIR": dir.sub("cache"), "HOME": dir.path]
        var stored = [Int: UInt64]()
        for level in [1, 9] {
            let repo = dir.sub("repo\(level)")
            XCTAssertEqual(try CLI.run(["init", "--repo", repo], env: env).status, 0)
            let push = try CLI.run(["push", "--repo", repo, "--json", "--compression-level", String(level), dir.sub("plans")], env: env)
            XCTAssertEqual(push.status, 0, push.stderr)
            let summary = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(push.stdout.utf8)) as? [String: Any])?["summary"] as? [String: Any])
            stored[level] = (summary["bytes_stored"] as? NSNumber)?.uint64Value
        }
        XCTAssertLessThan(try XCTUnwrap(stored[9]), try XCTUnwrap(stored[1]))
        let bad = try CLI.run(["push", "--repo", dir.sub("repo1"), "--compression-level", "12", dir.sub("plans")], env: env)
        XCTAssertEqual(bad.status, 64, "a value out of range is a usage error")
        XCTAssertTrue(bad.stderr.contains("--compression-level 12 is out of range: give 1 to 9"), bad.stderr)
    }
}
