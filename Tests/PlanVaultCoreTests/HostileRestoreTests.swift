import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Snapshots and chunks made with the repository key but built to escape or exhaust the restore
/// (issue 8, reliability item 3): traversal, absolute paths, a symlink then a file below it,
/// duplicates, and zlib bombs. Each is refused, and nothing is written outside the destination.
///
/// With `PLANVAULT_HOSTILE_EXPORT=DIR` each test also leaves its repository in `DIR/CASE/repo`
/// (and the snapshot ID in `DIR/CASE/snapshot`), so `Tests/reliability/run.sh` can restore it with
/// the real CLI and measure its peak memory and time.
final class HostileRestoreTests: XCTestCase {
    /// Escapes land here if a restore ever follows an absolute path.
    static let absoluteEscape = "/tmp/planvault-hostile-absolute-escape.csv"

    func repositoryWithOneFile(_ dir: TempDir) async throws -> (RepositoryWriter, SnapshotNode) {
        try Fixture.write(dir.sub("plans/call-tree.csv"), Fixture.text(40, seed: 7))
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])
        let stored = try await writer.repository.loadSnapshot(pushed.snapshotID)
        let node = try XCTUnwrap(stored.nodes.first { $0.type == .file })
        try FileManager.default.createDirectory(atPath: dir.sub("outside"), withIntermediateDirectories: true)
        return (writer, node)
    }

    func saveSnapshot(_ writer: RepositoryWriter, _ nodes: [SnapshotNode]) async throws -> String {
        let root = SnapshotNode(path: "plans", type: .dir, mode: 0o755, mtimeNs: 0)
        let snapshot = Snapshot(time: Timestamps.format(Date()), host: "test", username: "test", paths: ["/plans"], tags: [], parent: nil,
                                summary: SnapshotSummary(), nodes: [root] + nodes)
        return try await writer.saveSnapshot(snapshot).id
    }

    /// Format 2 cannot even express these snapshots through the writer, so the trees are stored
    /// raw: `plans` holding `entries`.
    func saveRawSnapshot(_ writer: RepositoryWriter, _ entries: [TreeEntry]) async throws -> String {
        let plans = try await Fixture.storeRawTree(writer, entries)
        let root = try await Fixture.storeRawTree(writer, [Fixture.entry("plans", .dir, subtree: plans)])
        return try await Fixture.saveRawHeader(writer, root: root)
    }

    func fileEntry(_ node: SnapshotNode, name: String, mode: UInt32? = nil) -> TreeEntry {
        TreeEntry(name: name, type: .file, mode: mode ?? node.mode, mtimeNs: node.mtimeNs, size: node.size, ctimeNs: nil, inode: nil,
                  device: nil, chunks: node.chunks, target: nil, subtree: nil)
    }

    func export(_ dir: TempDir, _ name: String, snapshot: String) throws {
        guard let root = ProcessInfo.processInfo.environment["PLANVAULT_HOSTILE_EXPORT"] else { return }
        let caseDir = "\(root)/\(name)"
        try? FileManager.default.removeItem(atPath: caseDir)
        try FileManager.default.createDirectory(atPath: caseDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir.sub("repo"), toPath: "\(caseDir)/repo")
        try Fixture.write("\(caseDir)/snapshot", snapshot + "\n")
        try Fixture.write("\(caseDir)/passphrase", Fixture.passphrase + "\n")
    }

    /// Restores the snapshot into `dir/out`, expecting a refusal whose message contains `expected`.
    func assertRefused(_ writer: RepositoryWriter, _ id: String, _ dir: TempDir, _ expected: String,
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        do {
            let result = try await Fixture.restore(writer.repository, snapshot: id, to: dir.sub("out"))
            XCTFail("restored \(result.files) files instead of refusing", file: file, line: line)
        } catch let error as PlanVaultError {
            XCTAssertTrue(error.localizedDescription.contains(expected), "\(error.localizedDescription)", file: file, line: line)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.sub("outside")), [], "written outside", file: file, line: line)
        let top = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
        XCTAssertTrue(top.isSubset(of: ["repo", "plans", "outside", "out"]), "\(top)", file: file, line: line)
    }

    func testTraversalIsRefusedAndNothingIsWrittenOutside() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        // plans/../../outside/escaped.csv, as folders named "..".
        let outside = try await Fixture.storeRawTree(writer, [fileEntry(node, name: "escaped.csv")])
        let up2 = try await Fixture.storeRawTree(writer, [Fixture.entry("outside", .dir, subtree: outside)])
        let up1 = try await Fixture.storeRawTree(writer, [Fixture.entry("..", .dir, subtree: up2)])
        let id = try await saveRawSnapshot(writer, [Fixture.entry("..", .dir, subtree: up1)])
        try await assertRefused(writer, id, dir, "is not a usable file name")
        try export(dir, "traversal", snapshot: id)
    }

    func testATreeNamingAnInvalidChunkIDIsReportedDamaged() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let entry = fileEntry(node, name: "call-tree.csv")
        let hex = try XCTUnwrap(entry.chunks?.first).hex
        let json = String(decoding: TreeCodec.encode([entry]), as: UTF8.self).replacingOccurrences(of: hex, with: "not a chunk ID")
        let plans = try await Fixture.storeRawTree(writer, bytes: Array(json.utf8))
        let root = try await Fixture.storeRawTree(writer, [Fixture.entry("plans", .dir, subtree: plans)])
        let id = try await Fixture.saveRawHeader(writer, root: root)
        try await assertRefused(writer, id, dir, "\"call-tree.csv\" has an invalid chunk ID")
    }

    func testAbsolutePathIsRefusedAndNotCreated() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        unlink(Self.absoluteEscape)
        let id = try await saveRawSnapshot(writer, [fileEntry(node, name: Self.absoluteEscape)])
        try await assertRefused(writer, id, dir, "is not a usable file name")
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.absoluteEscape))
        try export(dir, "absolute-path", snapshot: id)
    }

    func testSymlinkThenFileBelowItIsRefused() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        // out/plans/link -> ../../outside, then a file "through" the link: a symlink with a subtree.
        let below = try await Fixture.storeRawTree(writer, [fileEntry(node, name: "escaped.csv")])
        let id = try await saveRawSnapshot(writer, [Fixture.entry("link", .symlink, subtree: below, target: "../../outside")])
        try await assertRefused(writer, id, dir, "only a folder has a subtree")
        try export(dir, "symlink-then-file", snapshot: id)

        // The same name as a symlink and then as a folder is a duplicate.
        let second = try await saveRawSnapshot(writer, [Fixture.entry("link", .symlink, target: "../../outside"),
                                                        Fixture.entry("link", .dir, subtree: below)])
        try await assertRefused(writer, second, dir, "strictly ascending")
    }

    func testDuplicatePathIsRefused() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let id = try await saveRawSnapshot(writer, [fileEntry(node, name: "call-tree.csv"), fileEntry(node, name: "call-tree.csv", mode: 0o600)])
        try await assertRefused(writer, id, dir, "strictly ascending")
        try export(dir, "duplicate-path", snapshot: id)
    }

    /// A chunk record whose zlib stream inflates to 128 MiB while its entry claims the file's size:
    /// decoding stops at the claimed length, the file is reported, and nothing is written.
    func testChunkZlibBombIsReportedAndNotWritten() async throws {
        let dir = try TempDir()
        let (writer, node) = try await repositoryWithOneFile(dir)
        let claimed = try FileIO.readFile(dir.sub("plans/call-tree.csv"))
        let id = claimed.withUnsafeBytes { writer.repository.keys.chunkID($0) }
        let bomb = try Zlib.compress([UInt8](repeating: 0x41, count: 128 << 20), level: 9)
        XCTAssertLessThan(bomb.count, 1 << 20, "a zlib bomb is small at rest")
        let sealer = try BundleSealer(keys: writer.repository.keys)
        let record = try LibCrypto.aes256GCMSeal(key: sealer.key, nonce: BundleFormat.chunkNonce(slot: 0), aad: BundleFormat.chunkAAD(id),
                                                 plaintext: [PayloadEncoding.zlib.rawValue] + bomb)
        let (bytes, entries) = try sealer.assemble([SealedChunk(id: id, record: record, rawLength: claimed.count)])
        let bundle = try await writer.saveBundle(bytes)
        _ = try await writer.saveIndex([IndexedBundle(id: bundle, size: UInt64(bytes.count), entries: entries)])
        // The intact copy is damaged, so the bomb is the only copy left to read.
        let index = try await writer.repository.loadIndexWithBundles().load.index
        for location in index.locations(of: id) where location.bundle != bundle {
            let path = dir.sub("repo/bundles/\(location.bundle.hex.prefix(2))/\(location.bundle.hex)")
            var damaged = try FileIO.readFile(path)
            damaged[Int(location.entry.offset) + 3] ^= 0x01
            try FileIO.writeAtomically(damaged, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        }
        var bombed = node
        bombed.path = "plans/bombed.csv"
        let snapshot = try await saveSnapshot(writer, [bombed])
        let reopened = try await Repository.open(backend: writer.backend, passphrase: Fixture.passphrase, cacheRoot: nil, logger: Fixture.logger)
        let result = try await Fixture.restore(reopened, snapshot: snapshot, to: dir.sub("out"))
        XCTAssertEqual(result.problems.map(\.path), ["plans/bombed.csv"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans/bombed.csv")))
        try export(dir, "chunk-zlib-bomb", snapshot: snapshot)
    }

    /// A snapshot whose zlib payload inflates past the 256 MiB limit is refused by ID, by `latest` and by verify.
    func testSnapshotZlibBombIsRefusedThroughTheRepository() async throws {
        let dir = try TempDir()
        let (writer, _) = try await repositoryWithOneFile(dir)
        let bomb = [UInt8](repeating: 0x20, count: Limits.maxSnapshotPayload + 1)
        let sealed = try SealedObject.seal(bomb, kind: .snapshot, keys: writer.repository.keys, compress: true)
        XCTAssertLessThan(sealed.count, 1 << 20)
        let id = LibCrypto.sha256(sealed).hex
        try await writer.backend.write(.snapshot, name: id, data: sealed)
        do {
            _ = try await Fixture.restore(writer.repository, snapshot: id, to: dir.sub("out"))
            XCTFail("a snapshot bomb was restored")
        } catch let error as PlanVaultError {
            XCTAssertTrue(error.localizedDescription.contains("exceeds"), "\(error.localizedDescription)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/plans")))
        try export(dir, "snapshot-zlib-bomb", snapshot: id)
    }
}
