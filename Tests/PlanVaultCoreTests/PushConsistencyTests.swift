import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// A file that changes while it is read (issue 8, defect 28): read again, and said if it keeps changing.
final class PushConsistencyTests: XCTestCase {
    /// Pushes with a progress callback that appends to `file` on the first `changes` callbacks
    /// (the callback runs between chunks, i.e. while the file is being read).
    func push(changing file: String, times changes: Int, _ dir: TempDir) async throws -> PushResult {
        let writer = try await Fixture.makeRepository(dir)
        let remaining = Counter(changes)
        let archiver = Archiver(writer: writer, logger: Fixture.logger, progress: { update in
            guard update.bytesDone > 0, remaining.take() else { return }
            guard let handle = FileHandle(forWritingAtPath: file) else { return }
            handle.seekToEndOfFile()
            handle.write(Data("appended while read\n".utf8))
            try? handle.close()
        })
        return try await archiver.push(PushOptions(paths: [dir.sub("plans")]))
    }

    func testASourceWithMoreEntriesThanASnapshotMayHoldIsRefusedNotSaved() async throws {
        let dir = try TempDir()
        for i in 0..<10 { try Fixture.write(dir.sub("plans/file-\(i).txt"), Fixture.text(10, seed: i)) }
        // Left out of the snapshot (said as a problem), so it does not count against the limit.
        XCTAssertEqual(mkfifo(dir.sub("plans/zz-fifo"), 0o600), 0)
        let writer = try await Fixture.makeRepository(dir)
        // 11 nodes (the folder and its files): one over the limit is refused, and nothing a
        // reader would then refuse is saved.
        var options = PushOptions(paths: [dir.sub("plans")])
        options.maxNodes = 1
        // Found while walking: with room for the folder alone, no file is read.
        let read = BytesSeen()
        do {
            _ = try await Archiver(writer: writer, logger: Fixture.logger, progress: { read.note($0.bytesDone) }).push(options)
            XCTFail("a snapshot over the node limit was saved")
        } catch PlanVaultError.invalidArgument(let message) {
            XCTAssertTrue(message.contains("stopped at \(dir.sub("plans/file-0.txt"))"), message)
        }
        XCTAssertEqual(read.most, 0, "files were read before the node limit was found")
        options.maxNodes = 10
        do {
            _ = try await Archiver(writer: writer, logger: Fixture.logger).push(options)
            XCTFail("a snapshot over the node limit was saved")
        } catch PlanVaultError.invalidArgument(let message) {
            XCTAssertTrue(message.contains("the sources hold more than the 10 files, folders and links"), message)
            XCTAssertTrue(message.contains("stopped at \(dir.sub("plans/file-9.txt"))"), message)
        }
        let saved = try await writer.backend.list(.snapshot)
        XCTAssertEqual(saved.count, 0)
        options.maxNodes = 11
        let result = try await Archiver(writer: writer, logger: Fixture.logger).push(options)
        let expanded = try await writer.repository.expandTrees(result.snapshot, id: result.snapshotID)
        XCTAssertEqual(expanded.nodes.count, 11, "exactly the limit is saved, the FIFO after it left out")
        XCTAssertEqual(result.problems.map(\.path), [dir.sub("plans/zz-fifo")])
    }

    /// The most bytes a push's progress reported read.
    final class BytesSeen: @unchecked Sendable {
        private let lock = NSLock()
        private var value: UInt64 = 0

        func note(_ bytes: UInt64) {
            lock.lock()
            value = max(value, bytes)
            lock.unlock()
        }

        var most: UInt64 {
            lock.lock()
            defer { lock.unlock() }
            return value
        }
    }

    func testAFileThatChangedOnceIsReadAgainWithoutWarning() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/log.txt"), Fixture.text(100, seed: 1))
        let result = try await push(changing: dir.sub("plans/log.txt"), times: 1, dir)
        XCTAssertTrue(result.warnings.isEmpty, "\(result.warnings)")
        XCTAssertEqual(result.snapshot.summary.files, 1)
        XCTAssertEqual(result.snapshot.summary.totalBytes, UInt64(try FileIO.readFile(dir.sub("plans/log.txt")).count),
                       "the second, consistent read is the one kept")
    }

    func testAFileThatKeepsChangingIsAWarningNeverSilence() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/log.txt"), Fixture.text(100, seed: 1))
        let result = try await push(changing: dir.sub("plans/log.txt"), times: 100, dir)
        XCTAssertEqual(result.warnings.map(\.path), [dir.sub("plans/log.txt")])
        XCTAssertTrue(result.warnings.first?.message.contains("changed while it was read") ?? false)
    }
}

/// A thread-safe countdown.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int
    init(_ n: Int) { left = n }
    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard left > 0 else { return false }
        left -= 1
        return true
    }
}
