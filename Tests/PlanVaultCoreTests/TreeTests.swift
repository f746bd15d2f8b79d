import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Format version 2: snapshots as headers over deduplicated directory trees (issue 9).
final class TreeTests: XCTestCase {
    func testNestedUnicodeEmptyAndWideFoldersRoundTripByteIdentical() async throws {
        let dir = try TempDir()
        let source = dir.sub("plans")
        try Fixture.makeAwkwardTree(source)
        // Byte order differs from Unicode order: "Z" < "a" < "é" (0xC3) and NFC vs NFD are two names.
        for name in ["Zeta.txt", "alpha.txt", "\u{E9}t\u{E9}.txt", "e\u{301}te\u{301}.txt"] {
            try Fixture.write("\(source)/Names/\(name)", name)
        }
        try Fixture.writeMany("\(source)/Wide", count: 50_000, name: { "f\($0)" }, content: { [UInt8($0 & 0xFF)] })
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [source])
        XCTAssertTrue(pushed.problems.isEmpty, "\(pushed.problems.prefix(3))")

        let reopened = try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: Fixture.passphrase,
                                                 cacheRoot: nil, logger: Fixture.logger)
        let loaded = try await reopened.resolveSnapshot("latest").snapshot
        // Pre-order by bytes, parents first: the order of the paths' component lists, each
        // component compared by its bytes.
        // Checked pair by pair, on keys made once per path.
        let paths = loaded.nodes.map(\.path)
        let keys = paths.map { path in path.split(separator: "/").map { Array($0.utf8) } }
        let outOfOrder = zip(keys.indices, keys.indices.dropFirst()).first { earlier, later in
            keys[later].lexicographicallyPrecedes(keys[earlier]) { $0.lexicographicallyPrecedes($1) }
        }
        XCTAssertNil(outOfOrder, outOfOrder.map { "\(paths[$0.0]) is stored before \(paths[$0.1])" } ?? "")
        XCTAssertEqual(loaded.nodes.filter { $0.type == .file }.count, pushed.snapshot.summary.files)
        XCTAssertTrue(paths.contains("plans/Names/e\u{301}te\u{301}.txt") && paths.contains("plans/Names/\u{E9}t\u{E9}.txt"), "NFC and NFD are two names")
        let restored = try await Fixture.restore(reopened, to: dir.sub("out"))
        XCTAssertTrue(restored.problems.isEmpty, "\(restored.problems.prefix(3))")
        XCTAssertEqual(try TreeCompare.differences(source, dir.sub("out/plans")), [])
    }

    func testNoChangePushStoresOnlyANewHeader() async throws {
        let dir = try TempDir()
        for i in 0..<200 { try Fixture.write(dir.sub("plans/folder\(i % 10)/doc\(i).md"), Fixture.text(20, seed: i)) }
        let writer = try await Fixture.makeRepository(dir)
        let first = try await Fixture.push(writer, [dir.sub("plans")])
        let bundlesBefore = try await writer.backend.list(.bundle).count
        let indexBefore = try await writer.backend.list(.index).count
        let second = try await Fixture.push(writer, [dir.sub("plans")])
        XCTAssertEqual(first.snapshot.tree, second.snapshot.tree, "an unchanged folder gives the same root tree")
        let bundlesAfter = try await writer.backend.list(.bundle).count
        let indexAfter = try await writer.backend.list(.index).count
        XCTAssertEqual(bundlesAfter, bundlesBefore)
        XCTAssertEqual(indexAfter, indexBefore)
        let stat = try await writer.backend.stat(.snapshot, name: second.snapshotID)
        let header = try XCTUnwrap(stat)
        XCTAssertLessThan(header.size, 1024, "the header is all a no-change push stores")

        // One edited file: only the trees on its path are new.
        try Fixture.write(dir.sub("plans/folder3/doc3.md"), "edited")
        let third = try await Fixture.push(writer, [dir.sub("plans")])
        // The root (naming the source), the source folder and folder3.
        XCTAssertEqual(Set(third.snapshot.treeIDs).subtracting(second.snapshot.treeIDs).count, 3, "only the trees above the edit")
    }

    /// Trees are encoded by hand for speed; their bytes (and so their IDs) must stay exactly what
    /// `JSONEncoder` gave, or every folder would be stored again after an upgrade.
    func testHandWrittenTreeEncodingIsByteIdenticalToJSONEncoder() throws {
        var names = (1..<0x80).map { String(UnicodeScalar(UInt8($0))) + "x" }
        names += ["\"quoted\"", "back\\slash", "a/b", "tab\there", "line\nbreak", "\u{7F}del", "\u{E9}t\u{E9}", "e\u{301}te\u{301}",
                  "\u{2028}\u{2029}", "\u{FEFF}bom", "\u{85}\u{A0}", "😀 emoji", "電話 Kontaktliste – ü ß", String(repeating: "n", count: 255)]
        var generator = SystemRandomNumberGenerator()
        var entries = [TreeEntry]()
        for (i, name) in names.enumerated() {
            let id = Digest32(hex: String(repeating: String(i % 16, radix: 16), count: 64))
            switch i % 4 {
            case 0:
                entries.append(TreeEntry(name: name, type: .file, mode: 0o644, mtimeNs: Int64.random(in: Int64.min...Int64.max, using: &generator),
                                         size: UInt64.max, ctimeNs: -1, inode: 0, device: UInt64(i), chunks: id.map { Array(repeating: $0, count: i % 5) },
                                         target: nil, subtree: nil))
            case 1:
                entries.append(TreeEntry(name: name, type: .dir, mode: 0o7777, mtimeNs: 0, size: nil, ctimeNs: nil, inode: nil, device: nil,
                                         chunks: nil, target: nil, subtree: id?.hex))
            case 2:
                entries.append(TreeEntry(name: name, type: .symlink, mode: 0o777, mtimeNs: -1_000_000_001, size: nil, ctimeNs: nil, inode: nil,
                                         device: nil, chunks: nil, target: "../" + name + "/\u{0}\u{1F}\\", subtree: nil))
            default:
                entries.append(TreeEntry(name: name, type: .file, mode: 0, mtimeNs: Int64(i), size: 0, ctimeNs: nil, inode: nil, device: nil,
                                         chunks: [], target: nil, subtree: nil))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for slice in [[], Array(entries.prefix(1)), entries] {
            let expected = Array(try encoder.encode(TreeObject(entries: slice)))
            let written = TreeCodec.encode(slice)
            XCTAssertEqual(written, expected, String(decoding: written, as: UTF8.self))
        }
        // And it reads back: the names a tree may hold, in byte order.
        let usable = entries.filter { !$0.name.contains("/") }.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        XCTAssertEqual(try TreeCodec.decode(TreeCodec.encode(usable), id: "test"), usable)
    }

    func testATreeWhoseBundleIsGoneIsDamageWithTheReasonTheBundleFailed() async throws {
        let dir = try TempDir(removedAfter: self)
        try Fixture.write(dir.sub("plans/Runbooks/restore.md"), "restore")
        let writer = try await Fixture.makeRepository(dir)
        let pushed = try await Fixture.push(writer, [dir.sub("plans")])
        let root = try XCTUnwrap(pushed.snapshot.tree.flatMap(Digest32.init(hex:)))
        let bundle = try XCTUnwrap(pushed.index.location(of: root)).bundle
        XCTAssertFalse(pushed.chunkBundles.contains(bundle), "trees are in a bundle of their own")
        try FileManager.default.removeItem(atPath: dir.sub("repo/bundles/\(bundle.hex.prefix(2))/\(bundle.hex)"))
        do {
            _ = try await writer.repository.loadSnapshot(pushed.snapshotID, index: pushed.index)
            XCTFail("a snapshot whose root tree is gone was loaded")
        } catch {
            let message = error.localizedDescription
            XCTAssertTrue(message.contains("tree \(root.shortHex)"), message)
            XCTAssertTrue(message.contains("bundle \(bundle.shortHex) could not be read: "), "the first copy's reason is kept: \(message)")
        }
    }

    func testEmptyFoldersShareOneTreeAndTheNextPushExpandsEachOfThem() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/doc.md"), "plan")
        for name in ["empty 1", "empty 2", "nested/empty 3"] {
            try FileManager.default.createDirectory(atPath: dir.sub("plans/\(name)"), withIntermediateDirectories: true)
        }
        let writer = try await Fixture.makeRepository(dir)
        let first = try await Fixture.push(writer, [dir.sub("plans")])
        // The parent is expanded without the tree cache, letting each tree go after its last use:
        // a tree named three times must still be there for the second and third.
        let second = try await Fixture.push(writer, [dir.sub("plans")])
        let firstNodes = try await writer.repository.loadSnapshot(first.snapshotID).nodes
        let secondNodes = try await writer.repository.loadSnapshot(second.snapshotID).nodes
        XCTAssertEqual(secondNodes, firstNodes)
        XCTAssertEqual(second.snapshot.tree, first.snapshot.tree, "the same trees, so the same root")
        XCTAssertEqual(second.snapshot.summary.filesRead, 0, "the parent's files were all matched")
        let parent = try await writer.repository.loadSnapshot(first.snapshotID)
        XCTAssertEqual(parent.nodes.filter { $0.type == .dir }.map(\.path).sorted(),
                       ["plans", "plans/empty 1", "plans/empty 2", "plans/nested", "plans/nested/empty 3"])
    }

    func testHeaderListingReadsNoTrees() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/a.md"), "a")
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        // With every bundle gone, headers still list: listing never touches trees.
        for bundle in try await writer.backend.list(.bundle) { try await writer.backend.delete(.bundle, name: bundle.name) }
        let listed = try await writer.repository.uncached().loadAllSnapshots()
        XCTAssertEqual(listed.snapshots.count, 1)
        XCTAssertTrue(listed.damaged.isEmpty)
    }

    // MARK: Hostile trees

    func assertRefused(_ make: (RepositoryWriter) async throws -> String, containing text: String,
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        let id = try await Fixture.saveRawHeader(writer, root: try await make(writer))
        do {
            _ = try await Fixture.restore(writer.repository, snapshot: id, to: dir.sub("out"))
            XCTFail("a hostile tree was accepted", file: file, line: line)
        } catch let error as PlanVaultError {
            XCTAssertTrue(error.localizedDescription.contains(text), "\(error.localizedDescription)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out")), file: file, line: line)
    }

    func testTreesBreakingEachRuleAreRefused() async throws {
        try await assertRefused({ try await Fixture.storeRawTree($0, [Fixture.entry("b", .file), Fixture.entry("a", .file)]) },
                                containing: "ascending")
        try await assertRefused({ try await Fixture.storeRawTree($0, [Fixture.entry("a/b", .file)]) }, containing: "not a usable file name")
        try await assertRefused({ try await Fixture.storeRawTree($0, [Fixture.entry(String(repeating: "n", count: 256), .file)]) },
                                containing: "not a usable file name")
        try await assertRefused({ try await Fixture.storeRawTree($0, [Fixture.entry("d", .dir)]) }, containing: "every folder has one")
        try await assertRefused({ try await Fixture.storeRawTree($0, [Fixture.entry("d", .dir, subtree: String(repeating: "ab", count: 32))]) },
                                containing: "not in the index")
        try await assertRefused({ writer in Digest32([UInt8](repeating: 1, count: 32)).hex }, containing: "not in the index")
    }

    func testSharedSubtreesCannotExpandWithoutBound() async throws {
        try await assertRefused({ writer in
            let leaf = try await Fixture.storeRawTree(writer, (0..<1500).map { Fixture.entry(String(format: "f%05d", $0), .file) })
            return try await Fixture.storeRawTree(writer, (0..<1500).map { Fixture.entry(String(format: "d%05d", $0), .dir, subtree: leaf) })
        }, containing: "expand to more than")
    }
}
