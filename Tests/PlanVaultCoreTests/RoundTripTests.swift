import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

final class RoundTripTests: XCTestCase {
    func testPushRestoreRoundTripIsByteIdenticalOnAwkwardTree() async throws {
        let dir = try TempDir()
        let source = dir.sub("plans")
        try Fixture.makeAwkwardTree(source)
        let writer = try await Fixture.makeRepository(dir)
        let result = try await Fixture.push(writer, [source])
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(result.snapshot.summary.files, 7)
        XCTAssertEqual(result.snapshot.summary.symlinks, 2)

        // Restore with a freshly opened repository: passphrase and location only, no cache.
        let reopened = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let restored = try await Fixture.restore(reopened, to: dir.sub("out"))
        XCTAssertTrue(restored.problems.isEmpty, "\(restored.problems)")
        XCTAssertEqual(try TreeCompare.differences(source, dir.sub("out/plans")), [])
        XCTAssertFalse(try FileIO.listDirectory(dir.sub("out/plans")).contains { $0.hasPrefix(".pv-restore-") })
    }

    func testRepositoryHoldsNoPlaintext() async throws {
        let dir = try TempDir()
        let marker = "CONFIDENTIAL-CONTACT-Jane-Roe-555-0199"
        try Fixture.write(dir.sub("plans/contacts.txt"), String(repeating: marker + "\n", count: 50))
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        let enumerator = FileManager.default.enumerator(atPath: dir.sub("repo"))
        while let rel = enumerator?.nextObject() as? String {
            guard let data = FileManager.default.contents(atPath: dir.sub("repo/\(rel)")) else { continue }
            XCTAssertNil(data.range(of: Data(marker.utf8)), "plaintext found in \(rel)")
            XCTAssertNil(data.range(of: Data("contacts.txt".utf8)), "file name found in \(rel)")
        }
    }

    func testIncrementalPushAfterEditsStoresOnlyTheNewChunks() async throws {
        let dir = try TempDir()
        let source = dir.sub("plans")
        var big = Fixture.noise(24 * 1024 * 1024, seed: 9)
        try Fixture.write("\(source)/disaster-recovery.pdf", big)
        try Fixture.write("\(source)/runbook.md", Fixture.text(2000, seed: 1))
        try Fixture.write("\(source)/unchanged.docx", Fixture.noise(500_000, seed: 2))
        let writer = try await Fixture.makeRepository(dir)
        let first = try await Fixture.push(writer, [source])
        let firstChunks = first.snapshot.summary.newChunks

        // Insert a paragraph in the middle of the big file and append to the runbook.
        big.insert(contentsOf: Array("Revised evacuation route via gate 4.".utf8), at: big.count / 2)
        try Fixture.write("\(source)/disaster-recovery.pdf", big)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: "\(source)/runbook.md"))
        handle.seekToEndOfFile()
        handle.write(Data("New step: call the county EOC.\n".utf8))
        try handle.close()

        let second = try await Fixture.push(writer, [source])
        XCTAssertEqual(second.parent, first.snapshotID)
        XCTAssertEqual(second.snapshot.summary.filesRead, 2, "the unchanged file must not be read again")
        XCTAssertLessThanOrEqual(second.snapshot.summary.newChunks, 5, "an edit in the middle re-stores only the chunks around it")
        XCTAssertLessThan(second.snapshot.summary.bytesStored, 10 * 1024 * 1024, "far less than the 24 MiB file")
        XCTAssertGreaterThan(firstChunks, 10)

        let third = try await Fixture.push(writer, [source])
        XCTAssertEqual(third.snapshot.summary.filesRead, 0)
        XCTAssertEqual(third.snapshot.summary.newChunks, 0)

        let restored = try await Fixture.restore(writer.repository, to: dir.sub("out"))
        XCTAssertTrue(restored.problems.isEmpty)
        XCTAssertEqual(try TreeCompare.differences(source, dir.sub("out/plans")), [])
        // The first snapshot still restores its own version.
        let old = try await Fixture.restore(writer.repository, snapshot: first.snapshotID, to: dir.sub("old"))
        XCTAssertTrue(old.problems.isEmpty)
        XCTAssertEqual(FileManager.default.contents(atPath: dir.sub("old/plans/disaster-recovery.pdf"))?.count, 24 * 1024 * 1024)
    }

    func testParentIsFoundFromTheCacheHintAndWithoutIt() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/plan.docx"), Fixture.noise(500_000, seed: 31))
        let writer = try await Fixture.makeRepository(dir, cache: true)
        let first = try await Fixture.push(writer, [dir.sub("plans")])
        let second = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(second.parent, first.snapshotID)
        XCTAssertEqual(second.snapshot.summary.filesRead, 0)
        // A stale hint (its snapshot forgotten) falls back to looking at every snapshot.
        try await writer.backend.delete(.snapshot, name: second.snapshotID)
        let third = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(third.parent, first.snapshotID)
        XCTAssertEqual(third.snapshot.summary.filesRead, 0)
    }

    func testIdenticalFilesAreStoredOnce() async throws {
        let dir = try TempDir()
        let content = Fixture.noise(3 * 1024 * 1024, seed: 5)
        try Fixture.write(dir.sub("a/plan.docx"), content)
        try Fixture.write(dir.sub("b/copy of plan.docx"), content)
        let writer = try await Fixture.makeRepository(dir)
        let first = try await Fixture.push(writer, [dir.sub("a")])
        let second = try await Fixture.push(writer, [dir.sub("b")])
        XCTAssertGreaterThan(first.snapshot.summary.newChunks, 0)
        XCTAssertEqual(second.snapshot.summary.newChunks, 0)
    }

    func testContentRepeatedWithinAFileIsStoredOnceAndRestoresInOrder() async throws {
        // Chunks of a large file are hashed in child tasks; a repeated run of content yields the
        // same chunks again, possibly while their twin is still being hashed. Each is stored once,
        // and the file's chunk list keeps the order the content has.
        let dir = try TempDir()
        let block = Fixture.noise(6 * 1024 * 1024, seed: 11)
        let content = block + block + block + Fixture.noise(300 * 1024, seed: 12)
        try Fixture.write(dir.sub("plans/fileserver image.img"), content)
        let writer = try await Fixture.makeRepository(dir)
        let result = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        let cuts = writer.repository.chunker.cuts(of: content)
        var offset = 0
        var expected = [Digest32]()
        for length in cuts {
            expected.append(content.withUnsafeBytes { writer.repository.keys.chunkID(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) })
            offset += length
        }
        let stored = try await Fixture.restore(writer.repository, to: dir.sub("out"))
        XCTAssertTrue(stored.problems.isEmpty, "\(stored.problems)")
        XCTAssertEqual(try FileIO.readFile(dir.sub("out/plans/fileserver image.img")), content)
        XCTAssertLessThan(Set(expected).count, expected.count, "the repeated runs share chunks")
        XCTAssertEqual(result.snapshot.summary.newChunks, Set(expected).count, "each distinct chunk is stored once")
    }

    func testWrongPassphraseFailsClearly() async throws {
        let dir = try TempDir()
        _ = try await Fixture.makeRepository(dir)
        do {
            _ = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: "not the passphrase", cacheRoot: nil, logger: Fixture.logger)
            XCTFail("opened with a wrong passphrase")
        } catch let error as PlanVaultError {
            XCTAssertEqual(error, .wrongPassphrase(location: dir.sub("repo")))
            XCTAssertEqual(error.exitCode, ExitCodes.wrongPassphrase)
            XCTAssertTrue(error.localizedDescription.contains("passphrase does not open"))
        }
    }

    func testSecondKeyOpensTheSameRepository() async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        try Fixture.write(dir.sub("plans/x.txt"), "x")
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])
        _ = try await writer.addKey(passphrase: "successor custodian passphrase", label: "successor", cost: Fixture.fastKDF)
        let other = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: "successor custodian passphrase", cacheRoot: nil, logger: Fixture.logger)
        let latest = try await other.resolveSnapshot("latest").id
        XCTAssertEqual(latest, pushed.snapshotID)
    }

    func testIncludeRestoresOnlyTheNamedSubtree() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/COOP/a.txt"), "a")
        try Fixture.write(dir.sub("plans/COOP/deep/b.txt"), "b")
        try Fixture.write(dir.sub("plans/BCP/c.txt"), "c")
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        let result = try await Fixture.restore(writer.repository, to: dir.sub("out"), includes: ["plans/COOP"])
        XCTAssertEqual(result.files, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("out/plans/COOP/deep/b.txt")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans/BCP")))
    }

    func testInterruptedPushBundlesAreAdoptedNotResent() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/a.bin"), Fixture.noise(3 * 1024 * 1024, seed: 77))
        let writer = try await Fixture.makeRepository(dir)
        // Simulate a push killed after its bundle was written but before its index: write the bundle only.
        let sealer = try BundleSealer(keys: writer.repository.keys)
        let data = Fixture.noise(3 * 1024 * 1024, seed: 77)
        var records = [SealedChunk]()
        var offset = 0
        for (slot, len) in writer.repository.chunker.cuts(of: data).enumerated() {
            let piece = Array(data[offset..<(offset + len)])
            offset += len
            records.append(try piece.withUnsafeBytes { try sealer.seal($0, id: writer.repository.keys.chunkID($0), slot: UInt32(slot)) })
        }
        _ = try await writer.saveBundle(try sealer.assemble(records).bytes)
        let result = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(result.adoptedBundles, 1)
        XCTAssertEqual(result.snapshot.summary.newChunks, 0, "chunks already in an unindexed bundle are not sent again")
        let report = try await Checker(repository: writer.repository, logger: Fixture.logger).verify({ var o = VerifyOptions(); o.readData = .all; return o }())
        XCTAssertTrue(report.ok, "\(report.findings)")
    }
}
