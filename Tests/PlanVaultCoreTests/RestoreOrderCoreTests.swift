import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Restore order (`--first`, small before large) and restoring again into the same folder.
final class RestoreOrderCoreTests: XCTestCase {
    func testOrderIsFirstPatternsInTheirOrderThenSmallBeforeLarge() {
        let files: [(path: String, size: UInt64)] = [
            ("plans/Supporting/video.bin", 100_000_000),
            ("plans/Runbooks/a.md", 500),
            ("plans/BCP/plan.docx", 300_000),
            ("plans/Contacts/call-tree.csv", 2000),
            ("plans/Runbooks/b.md", 100),
            ("plans/BCP/index.txt", 10),
        ]
        let (order, ranks) = RestoreOrder.sorted(files, patterns: ["call-tree.csv", "Runbooks"])
        XCTAssertEqual(order.map { files[$0].path }, [
            "plans/Contacts/call-tree.csv", "plans/Runbooks/b.md", "plans/Runbooks/a.md",
            "plans/BCP/index.txt", "plans/BCP/plan.docx", "plans/Supporting/video.bin",
        ])
        XCTAssertEqual(ranks, [nil, 1, nil, 0, 1, nil])
    }

    func testPatternsMatchNamesPathsAndFolders() {
        XCTAssertTrue(RestoreOrder.matches("*.csv", "plans/Contacts/call-tree.csv"))
        XCTAssertTrue(RestoreOrder.matches("Contacts", "plans/Contacts/Staff/list.csv"), "a folder name selects all below it")
        XCTAssertTrue(RestoreOrder.matches("plans/Contacts/*", "plans/Contacts/call-tree.csv"))
        XCTAssertTrue(RestoreOrder.matches("/plans/BCP", "plans/BCP/plan.docx"), "a leading / is the snapshot's top")
        XCTAssertFalse(RestoreOrder.matches("plans/BCP", "plans/BCPold/plan.docx"))
        XCTAssertFalse(RestoreOrder.matches("*.csv", "plans/BCP/plan.docx"))
        XCTAssertFalse(RestoreOrder.matches("Contacts/*", "plans/Contacts/call-tree.csv"), "a pattern with / is matched from the top")
    }

    /// The priority file lies in one bundle; each large file spans several. With one bundle read
    /// at a time, the priority file must be complete, synced and renamed (and announced) before
    /// any large file can take its name.
    func testFirstFileIsInPlaceAndAnnouncedBeforeAnyLargeFile() async throws {
        let dir = try TempDir()
        let callTree = Fixture.text(40, seed: 7)
        try Fixture.write(dir.sub("plans/Contacts/call-tree.csv"), callTree)
        for i in 0..<4 { try Fixture.write(dir.sub("plans/Supporting/video-\(i).bin"), Fixture.noise(3 * 1024 * 1024, seed: UInt64(i + 1))) }
        let writer = try await Fixture.makeRepository(dir, bundleSize: 1024 * 1024)
        _ = try await Fixture.push(writer, [dir.sub("plans")])

        let seen = Seen()
        let out = dir.sub("out")
        var options = RestoreOptions(destination: out)
        options.first = ["call-tree.csv"]
        options.onReady = { path in
            let videos = (0..<4).filter { FileManager.default.fileExists(atPath: "\(out)/plans/Supporting/video-\($0).bin") }
            seen.add(path, content: FileManager.default.contents(atPath: "\(out)/\(path)"), videosInPlace: videos.count)
        }
        let (_, snapshot) = try await writer.repository.resolveSnapshot("latest")
        let index = try await writer.repository.loadIndexWithBundles().load.index
        let result = try await Restorer(repository: writer.repository, logger: Fixture.logger, readsInFlight: 1)
            .restore(snapshot, options: options, index: index)
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(result.files, 5)
        let events = seen.events
        XCTAssertEqual(events.map(\.path), ["plans/Contacts/call-tree.csv"], "only --first files are announced")
        XCTAssertEqual(events.first?.content, Data(callTree.utf8), "announced only when complete under its real name")
        XCTAssertEqual(events.first?.videosInPlace, 0, "no large file was written before the priority file")
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), "\(out)/plans"), [])
    }

    func testPatternMatchingNoFileIsReported() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/notes.md"), Fixture.text(10, seed: 1))
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        var options = RestoreOptions(destination: dir.sub("out"))
        options.first = ["*.md", "call-tree.csv"]
        let (_, snapshot) = try await writer.repository.resolveSnapshot("latest")
        let result = try await Restorer(repository: writer.repository, logger: Fixture.logger)
            .restore(snapshot, options: options, index: try await writer.repository.loadIndexWithBundles().load.index)
        XCTAssertEqual(result.unmatchedFirst, ["call-tree.csv"])
        XCTAssertEqual(result.files, 1)
    }

    /// Restoring again: identical files are kept (read and hashed, not trusted by size and time),
    /// a missing one is written, one that differs is refused, a stale temporary file is removed;
    /// with `overwrite` the differing one is replaced and the tree is whole again.
    func testRestoreAgainKeepsIdenticalFilesRefusesDifferingOnesAndRemovesTemporaryFiles() async throws {
        let dir = try TempDir()
        let source = dir.sub("plans")
        try Fixture.makeAwkwardTree(source)
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [source])
        let out = dir.sub("out")
        let first = try await Fixture.restore(writer.repository, to: out)
        XCTAssertTrue(first.problems.isEmpty, "\(first.problems)")
        XCTAssertEqual(first.files, 7)

        // Same size and mtime, different bytes: only reading the content can tell.
        let changed = "\(out)/plans/BCP/notes.md"
        var attributes = try FileManager.default.attributesOfItem(atPath: changed)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: changed))
        bytes[100] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: changed))
        attributes = attributes.filter { $0.key == .modificationDate }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: changed)
        try FileManager.default.removeItem(atPath: "\(out)/plans/Contacts/  spaced   name  .txt")
        try Fixture.write("\(out)/plans/BCP/.pv-restore-0123456789abcdef", "left by a killed restore")

        let again = try await Fixture.restore(writer.repository, to: out)
        XCTAssertEqual(again.kept, 5 + 2, "five identical files and both symlinks are kept")
        XCTAssertEqual(again.files, 1, "the missing file is written")
        XCTAssertEqual(again.temporaryFilesRemoved, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/plans/BCP/.pv-restore-0123456789abcdef"))
        XCTAssertEqual(again.problems.map(\.path), ["plans/BCP/notes.md"])
        XCTAssertTrue(again.problems.first?.message.contains("differs from the snapshot") ?? false, "\(again.problems)")
        XCTAssertEqual(FileManager.default.contents(atPath: changed), bytes, "a differing file is left alone without overwrite")

        let forced = try await Fixture.restore(writer.repository, to: out, overwrite: true)
        XCTAssertTrue(forced.problems.isEmpty, "\(forced.problems)")
        XCTAssertEqual(forced.files, 1)
        XCTAssertEqual(forced.kept, 6 + 2)
        XCTAssertEqual(try TreeCompare.differences(source, "\(out)/plans"), [])
    }
}

/// What the ready callback saw, gathered across its calls.
private final class Seen: @unchecked Sendable {
    struct Event { var path: String; var content: Data?; var videosInPlace: Int }
    private let lock = NSLock()
    private var list = [Event]()
    func add(_ path: String, content: Data?, videosInPlace: Int) {
        lock.lock(); defer { lock.unlock() }
        list.append(Event(path: path, content: content, videosInPlace: videosInPlace))
    }
    var events: [Event] { lock.lock(); defer { lock.unlock() }; return list }
}
