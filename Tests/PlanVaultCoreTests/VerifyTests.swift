import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

final class VerifyTests: XCTestCase {
    /// A repository with several bundles, and the path of one bundle file in it.
    func makeRepository(_ dir: TempDir) async throws -> (RepositoryWriter, String, String) {
        try Fixture.write(dir.sub("plans/a.bin"), Fixture.noise(3 * 1024 * 1024, seed: 1))
        try Fixture.write(dir.sub("plans/b.bin"), Fixture.noise(3 * 1024 * 1024, seed: 2))
        try Fixture.write(dir.sub("plans/c.md"), Fixture.text(500, seed: 3))
        let writer = try await Fixture.makeRepository(dir, bundleSize: 1024 * 1024)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        // A bundle of file data (folder listings have a small bundle of their own).
        let bundles = try await writer.backend.list(.bundle).filter { $0.size > 100_000 }.map(\.name).sorted()
        XCTAssertGreaterThan(bundles.count, 2)
        let victim = bundles[1]
        return (writer, victim, dir.sub("repo/bundles/\(victim.prefix(2))/\(victim)"))
    }

    func verify(_ repository: Repository, readData: Bool = true) async throws -> VerifyReport {
        var options = VerifyOptions()
        options.readData = readData ? .all : .none
        return try await Checker(repository: repository, logger: Fixture.logger).verify(options)
    }

    func testCleanRepositoryVerifies() async throws {
        let dir = try TempDir()
        let (writer, _, _) = try await makeRepository(dir)
        let report = try await verify(writer.repository)
        XCTAssertTrue(report.ok, "\(report.findings)")
        XCTAssertEqual(report.bundlesRead, report.bundles)
        XCTAssertGreaterThan(report.chunksChecked, 3)
    }

    func testFlippedByteInBundleIsFoundAndNamed() async throws {
        let dir = try TempDir()
        let (writer, victim, path) = try await makeRepository(dir)
        var bytes = try FileIO.readFile(path)
        bytes[bytes.count / 2] ^= 0x01
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        let structural = try await verify(writer.repository, readData: false)
        XCTAssertTrue(structural.ok, "a flipped byte keeps the size: only reading the data finds it")
        let report = try await verify(writer.repository)
        XCTAssertEqual(report.findings.map(\.object), [victim])
        XCTAssertTrue(report.findings[0].problem.contains("SHA-256"))
        XCTAssertTrue(report.findings[0].affects.contains { $0.hasSuffix(":plans/a.bin") || $0.hasSuffix(":plans/b.bin") || $0.hasSuffix(":plans/c.md") })
    }

    func testTruncatedBundleIsFoundAndNamed() async throws {
        let dir = try TempDir()
        let (writer, victim, path) = try await makeRepository(dir)
        XCTAssertEqual(truncate(path, 1000), 0)
        let report = try await verify(writer.repository)
        XCTAssertEqual(report.findings.map(\.object), [victim])
        XCTAssertTrue(report.findings[0].problem.contains("truncated"), report.findings[0].problem)
        XCTAssertFalse(report.findings[0].affects.isEmpty)
    }

    func testMissingBundleIsFoundAndNamed() async throws {
        let dir = try TempDir()
        let (writer, victim, path) = try await makeRepository(dir)
        XCTAssertEqual(unlink(path), 0)
        let report = try await verify(writer.repository, readData: false)
        XCTAssertEqual(report.findings.map(\.object), [victim])
        XCTAssertEqual(report.findings[0].problem, "bundle is missing")
        XCTAssertFalse(report.findings[0].affects.isEmpty)
    }

    func testDamagedBundleFailsRestoreOfOnlyTheAffectedFiles() async throws {
        let dir = try TempDir()
        let (writer, _, path) = try await makeRepository(dir)
        var bytes = try FileIO.readFile(path)
        bytes[100] ^= 0xff
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
        let result = try await Fixture.restore(writer.repository, to: dir.sub("out"))
        XCTAssertFalse(result.problems.isEmpty)
        for problem in result.problems {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("out/\(problem.path)")), "a damaged file must not appear under its name")
        }
        XCTAssertFalse(try FileIO.listDirectory(dir.sub("out/plans")).contains { $0.hasPrefix(".pv-restore-") })
    }

    func testMaxAgeFlagsAStaleCopy() async throws {
        let dir = try TempDir()
        let (writer, _, _) = try await makeRepository(dir)
        var options = VerifyOptions()
        options.maxAge = 26 * 3600
        let fresh = try await Checker(repository: writer.repository, logger: Fixture.logger).verify(options)
        XCTAssertFalse(fresh.stale)
        let later = try await Checker(repository: writer.repository, logger: Fixture.logger).verify(options, now: Date().addingTimeInterval(27 * 3600))
        XCTAssertTrue(later.stale)
    }
}

final class RestoreSafetyTests: XCTestCase {
    /// A snapshot whose root tree holds `entries` (built by `make` from a writer), stored raw.
    func assertRefused(file: StaticString = #filePath, line: UInt = #line,
                       _ make: (RepositoryWriter) async throws -> [TreeEntry]) async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        let root = try await Fixture.storeRawTree(writer, try await make(writer))
        let id = try await Fixture.saveRawHeader(writer, root: root)
        try FileManager.default.createDirectory(atPath: dir.sub("dest/inner"), withIntermediateDirectories: true)
        do {
            _ = try await Fixture.restore(writer.repository, snapshot: id, to: dir.sub("dest/inner"))
            XCTFail("restore accepted an unsafe snapshot", file: file, line: line)
        } catch let error as PlanVaultError {
            switch error {
            case .unsafePath, .objectDamaged: break
            default: XCTFail("unexpected error \(error)", file: file, line: line)
            }
        }
        // Nothing was written outside the destination, nor inside it.
        XCTAssertEqual(try FileIO.listDirectory(dir.sub("dest")).sorted(), ["inner"], file: file, line: line)
        XCTAssertEqual(try FileIO.listDirectory(dir.sub("dest/inner")), [], file: file, line: line)
    }

    func testRestoreRefusesDotDotPaths() async throws {
        try await assertRefused { writer in
            let below = try await Fixture.storeRawTree(writer, [Fixture.entry("..", .dir, subtree: try await Fixture.storeRawTree(writer, [Fixture.entry("escaped.txt", .file)]))])
            return [Fixture.entry("plans", .dir, subtree: below)]
        }
    }

    func testRestoreRefusesAbsolutePaths() async throws {
        try await assertRefused { _ in [Fixture.entry("/tmp/escaped.txt", .file)] }
    }

    func testRestoreRefusesPathsBelowASymlink() async throws {
        try await assertRefused { writer in
            [Fixture.entry("link", .symlink, subtree: try await Fixture.storeRawTree(writer, [Fixture.entry("escaped.txt", .file)]), target: "/tmp")]
        }
    }

    func testRestoreRefusesDuplicateNames() async throws {
        try await assertRefused { _ in [Fixture.entry("a.txt", .file), Fixture.entry("a.txt", .file)] }
    }

    func testRestoreDoesNotWriteThroughASymlinkAlreadyInTheDestination() async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        try Fixture.write(dir.sub("plans/sub/a.txt"), "a")
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        try FileManager.default.createDirectory(atPath: dir.sub("dest/plans"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.sub("elsewhere"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.sub("dest/plans/sub"), withDestinationPath: dir.sub("elsewhere"))
        let result = try await Fixture.restore(writer.repository, to: dir.sub("dest"))
        XCTAssertFalse(result.problems.isEmpty)
        XCTAssertEqual(try FileIO.listDirectory(dir.sub("elsewhere")), [])
    }

    func testRestoreRefusesToOverwriteUnlessAsked() async throws {
        let dir = try TempDir()
        let writer = try await Fixture.makeRepository(dir)
        try Fixture.write(dir.sub("plans/a.txt"), "from the snapshot")
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        try Fixture.write(dir.sub("dest/plans/a.txt"), "already here")
        let refused = try await Fixture.restore(writer.repository, to: dir.sub("dest"))
        XCTAssertEqual(refused.files, 0)
        XCTAssertTrue(refused.problems.first?.message.contains("--overwrite") ?? false)
        XCTAssertEqual(try String(contentsOfFile: dir.sub("dest/plans/a.txt"), encoding: .utf8), "already here")
        let forced = try await Fixture.restore(writer.repository, to: dir.sub("dest"), overwrite: true)
        XCTAssertEqual(forced.files, 1)
        XCTAssertEqual(try String(contentsOfFile: dir.sub("dest/plans/a.txt"), encoding: .utf8), "from the snapshot")
    }
}
