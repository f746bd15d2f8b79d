import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Repositories made with the repository key but deliberately malformed (issue 8, defects 1, 3 and
/// 5–10): each must get a clear refusal or report, bounded memory and time, and nothing written
/// outside the destination or under a real name.
final class HostileRepositoryTests: XCTestCase {
    /// A repository holding one pushed text file; returns the writer and that file's node.
    func repositoryWithOneFile(_ dir: TempDir, content: [UInt8] = Array(Fixture.text(40, seed: 7).utf8)) async throws
        -> (RepositoryWriter, SnapshotNode) {
        try Fixture.write(dir.sub("plans/call-tree.csv"), content)
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])
        let stored = try await writer.repository.loadSnapshot(pushed.snapshotID)
        let node = try XCTUnwrap(stored.nodes.first { $0.type == .file })
        return (writer, node)
    }

    /// Saves a snapshot of the given nodes (below a folder "plans") and returns its ID.
    func saveSnapshot(_ writer: RepositoryWriter, _ nodes: [SnapshotNode], time: String = Timestamps.format(Date())) async throws -> String {
        let root = SnapshotNode(path: "plans", type: .dir, mode: 0o755, mtimeNs: 0)
        let snapshot = Snapshot(time: time, host: "test", username: "test", paths: ["/plans"], tags: [], parent: nil,
                                summary: SnapshotSummary(), nodes: [root] + nodes)
        return try await writer.saveSnapshot(snapshot).id
    }

    func restore(_ writer: RepositoryWriter, _ id: String, to dest: String) async throws -> RestoreResult {
        try await Fixture.restore(writer.repository, snapshot: id, to: dest)
    }

    func leftovers(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.contains(".pv-restore-") }
    }

    // MARK: Defect 1: never an older snapshot in silence

    func testLatestRefusesWhenTheNewestSnapshotIsDamaged() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let newer = try await saveSnapshot(writer, [node], time: "2099-01-01T00:00:00.000Z")
        let path = dir.sub("repo/snapshots/\(newer)")
        var bytes = try FileIO.readFile(path)
        bytes[bytes.count / 2] ^= 0x40
        try FileIO.writeAtomically(bytes, to: path, inDirectory: dir.sub("repo/snapshots"))
        do {
            _ = try await writer.repository.resolveSnapshot("latest")
            XCTFail("latest resolved although a snapshot is unreadable")
        } catch let error as PlanVaultError {
            guard case .snapshotUnreadable(let name, _, _) = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(name, newer)
            XCTAssertEqual(error.exitCode, ExitCodes.verificationFailed)
            XCTAssertTrue(error.localizedDescription.contains(String(newer.prefix(12))))
        }
    }

    /// `latest` compares times as instants, whatever number of fraction digits a writer used:
    /// as text, `…:30Z` sorts after `…:30.754Z` though it is the earlier time (FORMAT.md §14).
    func testLatestIsTheNewestInstantNotTheGreatestTimeText() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let newest = try await saveSnapshot(writer, [node], time: "2099-06-01T00:16:30.754Z")
        _ = try await saveSnapshot(writer, [node], time: "2099-06-01T00:16:30Z")
        _ = try await saveSnapshot(writer, [node], time: "2099-06-01T00:16:30.75Z")
        _ = try await saveSnapshot(writer, [node], time: "2099-06-01T00:16:30.7539999Z")
        let resolved = try await writer.repository.resolveSnapshot("latest")
        XCTAssertEqual(resolved.id, newest)
        let order = try await writer.repository.loadAllSnapshots().snapshots.map(\.snapshot.time).suffix(4)
        XCTAssertEqual(Array(order), ["2099-06-01T00:16:30Z", "2099-06-01T00:16:30.75Z", "2099-06-01T00:16:30.7539999Z", "2099-06-01T00:16:30.754Z"])
    }

    /// Times are read by arithmetic, not a date parser: the calendar's edges are exact, and a
    /// date that does not exist is no time.
    func testTimestampsAreExactInstantsAtTheCalendarsEdges() throws {
        func seconds(_ s: String) -> Int64? { Timestamps.instant(s)?.seconds }
        XCTAssertEqual(seconds("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(seconds("2000-03-01T00:00:00Z"), 951_868_800)
        XCTAssertEqual(seconds("2024-02-29T12:00:00Z"), 1_709_208_000)
        XCTAssertEqual(seconds("1969-12-31T23:59:59Z"), -1)
        XCTAssertEqual(Timestamps.instant("1969-12-31T23:59:59.5Z"), Timestamps.Instant(seconds: -1, nanoseconds: 500_000_000))
        XCTAssertEqual(seconds("0000-01-01T00:00:00Z"), -62_167_219_200)
        XCTAssertEqual(Timestamps.instant("9999-12-31T23:59:59.999999999Z"), Timestamps.Instant(seconds: 253_402_300_799, nanoseconds: 999_999_999))
        // A leap second is the next minute's 00, after :59.
        XCTAssertEqual(seconds("2016-12-31T23:59:60Z"), seconds("2017-01-01T00:00:00Z"))
        XCTAssertLessThan(try XCTUnwrap(Timestamps.instant("2016-12-31T23:59:59.999Z")), try XCTUnwrap(Timestamps.instant("2016-12-31T23:59:60Z")))
        for bad in ["2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z",
                    "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00", "yesterday"] {
            XCTAssertNil(Timestamps.instant(bad), bad)
        }
        // What PlanVault writes reads back as the same instant.
        let now = Date(timeIntervalSince1970: 1_796_000_000.125)
        XCTAssertEqual(Timestamps.parse(Timestamps.format(now))?.timeIntervalSince1970, 1_796_000_000.125)
    }

    /// A snapshot whose time cannot be read might be the newest: `latest` names it and stops,
    /// rather than answer with the newest of the others.
    func testLatestRefusesWhenASnapshotHasNoValidTime() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let timeless = try await saveSnapshot(writer, [node], time: "yesterday")
        do {
            _ = try await writer.repository.resolveSnapshot("latest")
            XCTFail("latest resolved although a snapshot has no time")
        } catch let error as PlanVaultError {
            guard case .snapshotWithoutTime(let name, let time) = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(name, timeless)
            XCTAssertEqual(time, "yesterday")
            XCTAssertEqual(error.exitCode, ExitCodes.verificationFailed)
            XCTAssertTrue(error.localizedDescription.contains("\"yesterday\" is not an RFC 3339 UTC time"), error.localizedDescription)
        }
    }

    // MARK: Defect 3: size and chunks must agree

    func testFileWhoseSizeDisagreesWithItsChunksIsReportedNotPadded() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        var longer = node
        longer.path = "plans/longer.csv"
        longer.size = (node.size ?? 0) + 4096
        var noChunks = node
        noChunks.path = "plans/no-chunks.csv"
        noChunks.chunks = nil
        var shorter = node
        shorter.path = "plans/shorter.csv"
        shorter.size = 1
        let id = try await saveSnapshot(writer, [node, longer, noChunks, shorter])
        let result = try await restore(writer, id, to: dir.sub("out"))
        XCTAssertEqual(Set(result.problems.map(\.path)), ["plans/longer.csv", "plans/no-chunks.csv", "plans/shorter.csv"])
        XCTAssertEqual(result.files, 1)
        for name in ["longer.csv", "no-chunks.csv", "shorter.csv"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans/\(name)")), name)
        }
        XCTAssertEqual(leftovers(dir.sub("out")), [])

        var options = VerifyOptions()
        options.readData = .all
        let report = try await Checker(repository: writer.repository, logger: Fixture.logger).verify(options)
        let affected = Set(report.findings.flatMap(\.affects))
        XCTAssertTrue(affected.contains("\(id.prefix(8)):plans/longer.csv"), "\(report.findings)")
        XCTAssertTrue(affected.contains("\(id.prefix(8)):plans/no-chunks.csv"), "\(report.findings)")
        XCTAssertTrue(affected.contains("\(id.prefix(8)):plans/shorter.csv"), "\(report.findings)")
    }

    // MARK: Defects 5–7: counts, offsets and lengths are bounded before use

    func indexPayload(bundles count: UInt32, entries: [BundleEntry] = [], bundleSize: UInt64 = 1 << 20) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("PVIX".utf8))
        w.u32(1)
        w.u32(count)
        if !entries.isEmpty {
            w.digest(Digest32([UInt8](repeating: 7, count: 32)))
            w.u64(bundleSize)
            w.u32(UInt32(entries.count))
            for e in entries {
                w.digest(e.id)
                w.u32(e.slot)
                w.u32(e.offset)
                w.u32(e.length)
                w.u32(e.rawLength)
            }
        }
        return w.bytes
    }

    func testIndexClaimingBillionsOfBundlesIsRefusedBeforeAllocating() {
        XCTAssertThrowsError(try IndexFile.decode(indexPayload(bundles: 0xFFFF_FFFF), name: "hostile")) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("claims 4294967295 bundles"), "\(error)")
        }
    }

    func testIndexEntryWhoseOffsetPlusLengthOverflowsIsRefused() {
        let entry = BundleEntry(id: Digest32([UInt8](repeating: 7, count: 32)), slot: 0,
                                offset: UInt32.max - 10, length: 1000, rawLength: 990)
        XCTAssertThrowsError(try IndexFile.decode(indexPayload(bundles: 1, entries: [entry]), name: "hostile")) { error in
            XCTAssertTrue(error.localizedDescription.contains("outside the bundle"), "\(error)")
        }
    }

    func testChunkClaimingAGibibyteIsRefused() {
        let entry = BundleEntry(id: Digest32([UInt8](repeating: 7, count: 32)), slot: 0,
                                offset: 36, length: 1 << 30, rawLength: 1 << 30)
        XCTAssertThrowsError(try IndexFile.decode(indexPayload(bundles: 1, entries: [entry], bundleSize: 2 << 30), name: "hostile")) { error in
            XCTAssertTrue(error.localizedDescription.contains("outside 1 to"), "\(error)")
        }
    }

    func testRestoreSurvivesAHostileIndexAndFallsBackToTheBundleHeader() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        // An entry that points past 4 GiB.
        let load = try await writer.repository.loadIndex()
        var bundle = try XCTUnwrap(load.index.bundles.first.map { IndexedBundle(id: $0.key, size: $0.value, entries: []) })
        let chunk = try XCTUnwrap(node.chunks?.first)
        bundle.entries = [BundleEntry(id: chunk, slot: 0, offset: UInt32.max - 10, length: 1000, rawLength: 990)]
        try await assertRestoresWithTheIndexReplaced(by: [bundle], writer, dir)
    }

    /// Replaces the only index file by one holding `bundles`, then restores from a fresh open and
    /// checks the file comes back whole.
    func assertRestoresWithTheIndexReplaced(by bundles: [IndexedBundle], _ writer: RepositoryWriter, _ dir: TempDir,
                                            file: StaticString = #filePath, line: UInt = #line) async throws {
        let indexNames = try await writer.backend.list(.index)
        let indexName = try XCTUnwrap(indexNames.first?.name)
        let sealed = try SealedObject.seal(IndexFile.encode(bundles), kind: .index, keys: writer.repository.keys, compress: false)
        try await writer.backend.delete(.index, name: indexName)
        try await writer.backend.write(.index, name: LibCrypto.sha256(sealed).hex, data: sealed)
        let reopened = try await Repository.open(backend: writer.backend, passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let result = try await Fixture.restore(reopened, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)", file: file, line: line)
        XCTAssertEqual(try FileIO.readFile(dir.sub("out/plans/call-tree.csv")), try FileIO.readFile(dir.sub("plans/call-tree.csv")), file: file, line: line)
    }

    /// An index file that gives a bundle the wrong size: the bundle is read from its own header,
    /// as an unindexed one would be, so its chunks stay reachable (FORMAT.md §8).
    func testABundleWhoseIndexedSizeIsWrongIsReadFromItsOwnHeader() async throws {
        let dir = try TempDir()
        let (writer, _) = try await repositoryWithOneFile(dir)
        let load = try await writer.repository.loadIndex()
        let (id, size) = try XCTUnwrap(load.index.bundles.first)
        let entries = load.index.preferredLocations.filter { $0.bundle == id }.map(\.entry)
        try await assertRestoresWithTheIndexReplaced(by: [IndexedBundle(id: id, size: size + 1, entries: entries)], writer, dir)
    }

    func testSnapshotThatInflatesPastItsLimitIsRefused() throws {
        let keys = try MasterKeys.generate()
        let bomb = [UInt8](repeating: 0x20, count: Limits.maxSnapshotPayload + 1)
        let sealed = try SealedObject.seal(bomb, kind: .snapshot, keys: keys, compress: true)
        XCTAssertLessThan(sealed.count, 1 << 20, "a zlib bomb is small at rest")
        XCTAssertThrowsError(try SealedObject.open(sealed, kind: .snapshot, name: "bomb", keys: keys)) { error in
            XCTAssertTrue(error.localizedDescription.contains("exceeds"), "\(error)")
        }
    }

    // MARK: Defect 8: deep trees, descriptor-relative

    func testDeepTreeRestoresAndOverlongPathsAreRefused() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        var nodes = [SnapshotNode]()
        var path = "plans"
        for _ in 0..<2000 {
            path += "/d"
            nodes.append(SnapshotNode(path: path, type: .dir, mode: 0o700, mtimeNs: 1_700_000_000_000_000_000))
        }
        var deepFile = node
        deepFile.path = path + "/call-tree.csv"
        nodes.append(deepFile)
        let id = try await saveSnapshot(writer, nodes)
        let result = try await restore(writer, id, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems.prefix(3))")
        XCTAssertEqual(result.directories, 2001)
        XCTAssertEqual(result.files, 1)

        // 4096 bytes is the stated limit for a path.
        var tooDeep = nodes
        var long = path
        while long.utf8.count < Limits.maxPathLength { long += "/d"; tooDeep.append(SnapshotNode(path: long, type: .dir, mode: 0o700, mtimeNs: 0)) }
        let refusedID = try await saveSnapshot(writer, tooDeep)
        do {
            _ = try await restore(writer, refusedID, to: dir.sub("out2"))
            XCTFail("a path over the limit was accepted")
        } catch let error as PlanVaultError {
            XCTAssertTrue(error.localizedDescription.contains("byte limit"), "\(error)")
        }
    }

    // MARK: Defect 9: a chunk's second copy

    func testAFIFOOrSymlinkPlantedInADirectoryRepositoryIsRefusedNotReadOrWaitedOn() async throws {
        let dir = try TempDir()
        let backend = DirectoryBackend(root: dir.sub("repo"))
        try await backend.prepare()
        let name = String(repeating: "c", count: 64)
        // Opening a FIFO for reading would wait for a writer that never comes; a symlink could
        // lead out of the repository.
        XCTAssertEqual(mkfifo(backend.path(.snapshot, name: name), 0o600), 0)
        try Fixture.write(dir.sub("elsewhere"), Array("not in the repository".utf8))
        XCTAssertEqual(symlink(dir.sub("elsewhere"), backend.path(.index, name: name)), 0)
        for (kind, expected) in [(ObjectKind.snapshot, "not a regular file"), (.index, "symbolic link")] {
            do {
                _ = try await backend.read(kind, name: name, range: nil)
                XCTFail("a planted \(expected) was read as a \(kind.singular)")
            } catch PlanVaultError.objectDamaged(_, let damaged, let reason) {
                XCTAssertEqual(damaged, name)
                XCTAssertTrue(reason.contains(expected), reason)
            }
        }
    }

    func testChunkIsReadFromItsSecondCopyWhenTheFirstIsDamaged() async throws {
        let dir = try TempDir()
        let content = Array(Fixture.text(40, seed: 9).utf8)
        let (writer, node) = try await repositoryWithOneFile(dir, content: content)
        // Store the same chunk again in a second bundle, as a push does after a bundle was lost.
        let id = content.withUnsafeBytes { writer.repository.keys.chunkID($0) }
        XCTAssertEqual(node.chunks, [id])
        let sealer = try BundleSealer(keys: writer.repository.keys)
        let record = try content.withUnsafeBytes { try sealer.seal($0, id: id, slot: 0) }
        let (bytes, entries) = try sealer.assemble([record])
        let second = try await writer.saveBundle(bytes)
        _ = try await writer.saveIndex([IndexedBundle(id: second, size: UInt64(bytes.count), entries: entries)])

        let index = try await writer.repository.loadIndexWithBundles().load.index
        XCTAssertEqual(index.locations(of: id).count, 2)
        let first = try XCTUnwrap(index.location(of: id))
        let path = dir.sub("repo/bundles/\(first.bundle.hex.prefix(2))/\(first.bundle.hex)")
        var damaged = try FileIO.readFile(path)
        damaged[Int(first.entry.offset) + 5] ^= 0x01
        try FileIO.writeAtomically(damaged, to: path, inDirectory: (path as NSString).deletingLastPathComponent)

        let result = try await Fixture.restore(writer.repository, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(try FileIO.readFile(dir.sub("out/plans/call-tree.csv")), content)
    }

    // MARK: Defect 10: times before 1970, symlink times, mode bits

    func testPre1970FractionalMtimeSymlinkMtimeAndForeignModeBits() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        var old = node
        old.path = "plans/old.csv"
        old.mtimeNs = -1_500_000_000  // 1969-12-31T23:59:58.5Z
        var odd = node
        odd.path = "plans/odd-mode.csv"
        odd.mode = 0o100644
        let link = SnapshotNode(path: "plans/link", type: .symlink, mode: 0o777, mtimeNs: 1_600_000_000_250_000_000, target: "old.csv")
        let id = try await saveSnapshot(writer, [link, odd, old])
        let result = try await restore(writer, id, to: dir.sub("out"))
        XCTAssertEqual(result.problems.map(\.path), ["plans/odd-mode.csv"])
        XCTAssertTrue(result.problems.first?.message.contains("07777") ?? false)

        var st = stat()
        XCTAssertEqual(lstat(dir.sub("out/plans/old.csv"), &st), 0)
        XCTAssertEqual(Int64(st.st_mtim.tv_sec), -2)
        XCTAssertEqual(st.st_mtim.tv_nsec, 500_000_000)
        XCTAssertEqual(lstat(dir.sub("out/plans/link"), &st), 0)
        XCTAssertEqual(Int64(st.st_mtim.tv_sec), 1_600_000_000)
        XCTAssertEqual(st.st_mtim.tv_nsec, 250_000_000)
    }
}
