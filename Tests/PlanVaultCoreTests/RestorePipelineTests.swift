import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// The restore read path: ranged pieces of bundles, reads bounded by bytes, descriptors kept open.
final class RestorePipelineTests: XCTestCase {
    private func chunk(_ n: UInt8, offset: UInt32, length: UInt32) -> Restorer.ChunkWork {
        let entry = BundleEntry(id: Digest32([UInt8](repeating: n, count: 32)), slot: UInt32(n), offset: offset,
                                length: length, rawLength: length - 17)
        return Restorer.ChunkWork(entry: entry, targets: [Restorer.ChunkTarget(file: Int(n), offset: 0)])
    }

    func testPiecesSplitAtTheSizeLimitAndAtLargeGapsAndTheFirstBringsTheSalt() {
        let mib: UInt32 = 1 << 20
        let work = Restorer.BundleWork(bundle: Digest32([UInt8](repeating: 9, count: 32)), chunks: [
            chunk(1, offset: 36, length: 3 * mib),
            chunk(2, offset: 36 + 3 * mib, length: 3 * mib),
            chunk(3, offset: 36 + 6 * mib, length: 3 * mib),       // would make the first piece 9 MiB: a new piece
            chunk(4, offset: 36 + 9 * mib + mib / 2, length: mib), // a half-MiB gap is read through
            chunk(5, offset: 36 + 14 * mib, length: mib),          // a 3.5 MiB gap is not
        ])
        let pieces = Restorer.pieces(of: work)
        XCTAssertEqual(pieces.map { $0.chunks.map { Int($0.entry.slot) } }, [[1, 2], [3, 4], [5]])
        XCTAssertEqual(pieces[0].span.lowerBound, 0, "the first piece starts at 0, so the salt comes with it")
        XCTAssertEqual(pieces[1].span, UInt64(36 + 6 * mib)..<UInt64(36 + 10 * mib + mib / 2))
        for piece in pieces { XCTAssertLessThanOrEqual(piece.span.count, Int(Restorer.pieceLimit)) }
        XCTAssertEqual(pieces.reduce(0) { $0 + $1.content }, UInt64(11 * mib) - 5 * 17)
    }

    func testBoundedReadsNeverHoldMoreThanTheirBytesOrCount() async throws {
        let live = InFlightCounter()
        let reads = BoundedReads(maxReads: 3, maxBytes: 10)
        let sizes: [UInt64] = [4, 4, 4, 9, 1, 1, 1, 1, 12, 2]
        var handled = [Int]()
        try await reads.run(Array(sizes.indices), bytes: { sizes[$0] }, read: { i in
            live.enter(bytes: sizes[i])
            await Task.yield()
            live.leave(bytes: sizes[i])
            return i
        }, handle: { handled.append($0) })
        XCTAssertEqual(handled.sorted(), Array(sizes.indices), "every read completes once")
        XCTAssertLessThanOrEqual(live.maxCount, 3)
        XCTAssertLessThanOrEqual(live.maxBytes, 12, "only a read larger than the budget runs over it, and then alone")
        XCTAssertLessThanOrEqual(live.maxBytesBesidesLargest, 10)
    }

    func testDescriptorsPastCapacityAreClosedAndReopenedWithoutLosingWrites() throws {
        let dir = try TempDir()
        let descriptors = PartialDescriptors(capacity: 4)
        var reopened = 0
        for i in 0..<10 { try Fixture.write(dir.sub("f\(i)"), [UInt8](repeating: 0, count: 2)) }
        for round in 0..<2 {
            for i in 0..<10 {
                // The files exist already: opening one the first time is the same as reopening it.
                let openFile = {
                    reopened += 1
                    return open(dir.sub("f\(i)"), O_WRONLY)
                }
                try descriptors.with(i, create: openFile, reopen: openFile) { fd in
                    let byte: [UInt8] = [UInt8(65 + round)]
                    XCTAssertEqual(pwrite(fd, byte, 1, off_t(round)), 1)
                }
            }
        }
        for i in 0..<10 { if let fd = descriptors.take(i) { close(fd) } }
        XCTAssertEqual(reopened, 20, "ten files opened in each round: only four of them stay open, least recently used out")
        for i in 0..<10 { XCTAssertEqual(FileManager.default.contents(atPath: dir.sub("f\(i)")), Data("AB".utf8)) }
    }

    func testATemporaryFileIsCreatedOnceAtItsFirstWriteThenOnlyReopened() throws {
        let dir = try TempDir()
        let descriptors = PartialDescriptors(capacity: 1)
        let counts = OpenCounts()
        let paths = [dir.sub("partial-0"), dir.sub("partial-1")]
        let write: @Sendable (Int, Int) throws -> Void = { file, offset in
            try descriptors.with(file, create: {
                counts.add(created: file)
                return open(paths[file], O_WRONLY | O_CREAT | O_EXCL, 0o600)
            }, reopen: {
                counts.add(reopened: file)
                return open(paths[file], O_WRONLY)
            }) { fd in
                XCTAssertGreaterThanOrEqual(fd, 0, "file \(file) opened")
                XCTAssertEqual(pwrite(fd, [UInt8(65 + offset)], 1, off_t(offset)), 1)
            }
        }
        // Two files, 16 writes each from 8 threads at once: the first writes race to create.
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            do { try write(i % 2, i / 2) } catch { XCTFail("write \(i): \(error)") }
        }
        XCTAssertEqual(counts.created, [0: 1, 1: 1], "each file created once, by its first write (O_EXCL would fail a second)")
        // Both closed, then one write at a time with room for one descriptor: each write opens
        // its file again and closes the other's.
        for file in 0..<2 { if let fd = descriptors.take(file) { close(fd) } }
        let reopenedBefore = counts.reopened
        for offset in 16..<18 { for file in 0..<2 { try write(file, offset) } }
        for file in 0..<2 { if let fd = descriptors.take(file) { close(fd) } }
        XCTAssertEqual(counts.created, [0: 1, 1: 1], "a closed file is reopened, not created again")
        for file in 0..<2 { XCTAssertEqual(counts.reopened[file, default: 0] - reopenedBefore[file, default: 0], 2, "file \(file) reopened twice") }
        let expected = Data((0..<18).map { UInt8(65 + $0) })
        for file in 0..<2 { XCTAssertEqual(FileManager.default.contents(atPath: paths[file]), expected) }
    }
}

extension RestorePipelineTests {
    func testAFileThatCouldNotBeCreatedIsNotTriedAgainForItsLaterChunks() throws {
        struct Full: Error {}
        let descriptors = PartialDescriptors(capacity: 4)
        var creates = 0
        for chunk in 0..<3 {
            XCTAssertThrowsError(try descriptors.with(0, create: {
                creates += 1
                throw Full()
            }, reopen: {
                XCTFail("a file never made is not reopened")
                return -1
            }) { _ in XCTFail("no write without a descriptor (chunk \(chunk))") }) { XCTAssertTrue($0 is Full, "\($0)") }
        }
        XCTAssertEqual(creates, 1, "the first chunk's failure is said again for the others, not retried")
    }
}

/// How often each file was created and reopened.
private final class OpenCounts: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var created = [Int: Int]()
    private(set) var reopened = [Int: Int]()

    func add(created file: Int) {
        lock.lock()
        created[file, default: 0] += 1
        lock.unlock()
    }

    func add(reopened file: Int) {
        lock.lock()
        reopened[file, default: 0] += 1
        lock.unlock()
    }
}

/// Counts reads in flight and the bytes they hold, and the largest of each seen.
private final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var bytes: UInt64 = 0
    private var sizes = [UInt64]()
    private(set) var maxCount = 0
    private(set) var maxBytes: UInt64 = 0
    private(set) var maxBytesBesidesLargest: UInt64 = 0

    func enter(bytes n: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        bytes += n
        sizes.append(n)
        maxCount = max(maxCount, count)
        maxBytes = max(maxBytes, bytes)
        if !sizes.contains(where: { $0 > 10 }) { maxBytesBesidesLargest = max(maxBytesBesidesLargest, bytes) }
    }

    func leave(bytes n: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        count -= 1
        bytes -= n
        if let i = sizes.firstIndex(of: n) { sizes.remove(at: i) }
    }
}
