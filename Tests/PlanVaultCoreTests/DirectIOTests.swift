import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Bundles are written around the page cache where the filesystem allows it, and the ordinary way
/// where it does not; either way the object on disk is exactly the bytes given.
final class DirectIOTests: XCTestCase {
    private func roundTrip(in folder: String, count: Int) throws {
        let data = Fixture.noise(count, seed: UInt64(count))
        try FileIO.writeAtomically(data, to: "\(folder)/object", inDirectory: folder, direct: true)
        XCTAssertEqual(try FileIO.readFile("\(folder)/object"), data, "\(count) bytes in \(folder)")
        let leftovers = try FileIO.listDirectory(folder).filter { $0.hasPrefix(".tmp-") }
        XCTAssertEqual(leftovers, [], "no temporary file is left")
        try FileManager.default.removeItem(atPath: "\(folder)/object")
    }

    func testSizesThatAreNotWholeBlocksKeepTheirExactLength() throws {
        let dir = try TempDir()
        // Below the direct-write threshold, exactly one piece, a piece and a bit, and a bundle's size plus an odd tail.
        for count in [1000, DirectIO.pieceSize, DirectIO.pieceSize + 1, 16 * 1024 * 1024 + 4097] {
            try roundTrip(in: dir.path, count: count)
        }
    }

    func testAStreamWrittenInPiecesOfAnySizeIsExactlyItsBytes() throws {
        let dir = try TempDir()
        // Pieces as a server receives them (TLS records of odd sizes) and some far larger than the
        // aligned buffer, so a piece can fill it several times over; ends on and off a block.
        let sizes = [(0, [0]), (4096, [4096]), (DirectIO.minimumSize + 1, [16_384, 1, 4095]),
                     (3 * DirectIO.pieceSize + 5, [DirectIO.pieceSize * 2 + 3, 100_000])]
        // With the push's buffer size, and with the server's smaller one.
        for bufferSize in [DirectIO.pieceSize, 512 * 1024] {
            for (count, pieces) in sizes {
            let data = Fixture.noise(count, seed: UInt64(count) + 1)
            let path = dir.sub("stream-\(count)-\(bufferSize)")
            let writer = try DirectFileWriter(creating: path, mode: 0o600, expectedSize: count, bufferSize: bufferSize)
            var offset = 0
            var next = 0
            while offset < data.count {
                let size = min(pieces[next % pieces.count], data.count - offset)
                try data[offset..<offset + size].withUnsafeBytes { try writer.append($0) }
                offset += size
                next += 1
            }
            try writer.finish()
            try writer.close()
            XCTAssertEqual(writer.size, count)
            XCTAssertEqual(try FileIO.readFile(path), data, "\(count) bytes written in pieces through a \(bufferSize)-byte buffer")
            }
        }
    }

    func testRangedBundleReadsAtOddOffsetsReturnExactlyTheirBytes() async throws {
        let dir = try TempDir()
        let backend = DirectoryBackend(root: dir.sub("repo"))
        try await backend.prepare()
        let data = Fixture.noise(5 * 1024 * 1024 + 777, seed: 3)
        let name = LibCrypto.sha256(data).hex
        try await backend.write(.bundle, name: name, data: data)
        // Unaligned starts and ends, a range over a piece boundary, one reaching the end, the whole.
        let ranges: [Range<UInt64>] = [1..<1_048_577, 4095..<3_000_001, 2_097_150..<4_194_310,
                                       UInt64(data.count) - 1_500_000..<UInt64(data.count), 0..<UInt64(data.count)]
        for range in ranges {
            let got = try await backend.read(.bundle, name: name, range: range)
            XCTAssertEqual(got, Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "\(range)")
        }
        let whole = try await backend.read(.bundle, name: name, range: nil)
        XCTAssertEqual(whole, data)
        do {
            _ = try await backend.read(.bundle, name: name, range: 4_000_000..<UInt64(data.count) + 10)
            XCTFail("a range past the end must not be padded")
        } catch let error as PlanVaultError {
            XCTAssertTrue("\(error.localizedDescription)".contains("short read"), error.localizedDescription)
        }
    }

    func testAPushedRepositoryRestoresAndVerifiesWithDirectlyWrittenBundles() async throws {
        let dir = try TempDir()
        try Fixture.write(dir.sub("plans/big.bin"), Fixture.noise(5 * 1024 * 1024 + 123, seed: 9))
        try Fixture.write(dir.sub("plans/notes.md"), Fixture.text(2000, seed: 4))
        let writer = try await Fixture.makeRepository(dir)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        let (_, snapshot) = try await writer.repository.resolveSnapshot("latest")
        let index = try await writer.repository.loadIndexWithBundles().load.index
        let result = try await Restorer(repository: writer.repository, logger: Fixture.logger)
            .restore(snapshot, options: RestoreOptions(destination: dir.sub("out")), index: index)
        XCTAssertTrue(result.problems.isEmpty, "\(result.problems)")
        XCTAssertEqual(try TreeCompare.differences(dir.sub("plans"), dir.sub("out/plans")), [])
    }
}
