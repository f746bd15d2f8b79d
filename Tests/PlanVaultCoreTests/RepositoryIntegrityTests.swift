import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Config, key files and cached objects (issue 8, defects 2, 11, 21, 23 and 25).
final class RepositoryIntegrityTests: XCTestCase {
    func pushedRepository(_ dir: TempDir, cache: Bool = false) async throws -> RepositoryWriter {
        try Fixture.write(dir.sub("plans/call-tree.csv"), Fixture.text(200, seed: 1))
        let writer = try await Fixture.makeRepository(dir, cache: cache)
        _ = try await Fixture.push(writer, [dir.sub("plans")])
        return writer
    }

    func open(_ dir: TempDir, passphrase: String = Fixture.passphrase, cache: Bool = false) async throws -> Repository {
        try await Repository.open(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: passphrase,
                                  cacheRoot: cache ? dir.sub("cache") : nil, logger: Fixture.logger)
    }

    func flipByte(_ path: String, at position: (Int) -> Int = { $0 / 2 }) throws {
        var bytes = try FileIO.readFile(path)
        bytes[position(bytes.count)] ^= 0x01
        try FileIO.writeAtomically(bytes, to: path, inDirectory: (path as NSString).deletingLastPathComponent)
    }

    // MARK: Defect 2: verify never trusts the cache over the target

    func testReadDataVerifyFindsDamageToObjectsTheCacheHolds() async throws {
        let dir = try TempDir()
        let writer = try await pushedRepository(dir, cache: true)
        let index = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/index")).first { ObjectName.isValid($0) })
        let snapshot = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/snapshots")).first { ObjectName.isValid($0) })
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.sub("cache/\(writer.repository.config.id)/index/\(index)")))
        try flipByte(dir.sub("repo/index/\(index)"))
        try flipByte(dir.sub("repo/snapshots/\(snapshot)"))

        var options = VerifyOptions()
        options.readData = .all
        let repository = try await open(dir, cache: true)
        let report = try await Checker(repository: repository, logger: Fixture.logger).verify(options)
        XCTAssertTrue(report.findings.contains { $0.object == index && $0.kind == "index" }, "\(report.findings)")
        XCTAssertTrue(report.findings.contains { $0.object == snapshot && $0.kind == "snapshot" }, "\(report.findings)")
    }

    func testPlainVerifyNoticesACachedObjectWhoseTargetCopyChangedSize() async throws {
        let dir = try TempDir()
        _ = try await pushedRepository(dir, cache: true)
        let snapshot = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/snapshots")).first { ObjectName.isValid($0) })
        let path = dir.sub("repo/snapshots/\(snapshot)")
        let bytes = try FileIO.readFile(path)
        try FileIO.writeAtomically(Array(bytes.dropLast(10)), to: path, inDirectory: dir.sub("repo/snapshots"))
        let repository = try await open(dir, cache: true)
        let report = try await Checker(repository: repository, logger: Fixture.logger).verify(VerifyOptions())
        XCTAssertTrue(report.findings.contains { $0.object == snapshot }, "\(report.findings)")
    }

    // MARK: Defect 21: the config is authenticated

    func testAlteredConfigIsRefusedByEveryOpen() async throws {
        let dir = try TempDir()
        _ = try await pushedRepository(dir)
        let path = dir.sub("repo/config")
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        let minSize = ChunkerParameters.default.minSize
        let altered = text.replacingOccurrences(of: "\"min_size\" : \(minSize)", with: "\"min_size\" : \(minSize / 2)")
        XCTAssertNotEqual(text, altered)
        try FileIO.writeAtomically(Array(altered.utf8), to: path, inDirectory: dir.sub("repo"))
        do {
            _ = try await open(dir)
            XCTFail("an altered config was accepted")
        } catch let error as PlanVaultError {
            guard case .configAltered = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(error.exitCode, ExitCodes.verificationFailed)
            XCTAssertTrue(error.localizedDescription.contains("planvault repair"))
        }
    }

    // MARK: Defect 25: init never runs over a repository; a lost config comes back

    func testInitRefusesWhereARepositoryLostItsConfigAndOpenRecoversIt() async throws {
        let dir = try TempDir()
        let writer = try await pushedRepository(dir)
        let original = try FileIO.readFile(dir.sub("repo/config"))
        unlink(dir.sub("repo/config"))
        do {
            _ = try await Repository.initialize(backend: DirectoryBackend(root: dir.sub("repo")), passphrase: "new", kdfCost: Fixture.fastKDF,
                                                cacheRoot: nil, logger: Fixture.logger)
            XCTFail("init ran over an existing repository")
        } catch let error as PlanVaultError {
            guard case .repositoryWithoutConfig = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue(error.localizedDescription.contains("planvault repair"))
        }
        let repository = try await open(dir)
        XCTAssertEqual(repository.configBytes, original)
        XCTAssertNotNil(repository.configProblem)
        XCTAssertEqual(repository.config.id, writer.repository.config.id)
        let result = try await Fixture.restore(repository, to: dir.sub("out"))
        XCTAssertTrue(result.problems.isEmpty)
    }

    // MARK: Defect 23: a damaged key file is named as damaged

    func testDamagedSoleKeyFileIsReportedAsDamagedNotAsAWrongPassphrase() async throws {
        let dir = try TempDir()
        _ = try await pushedRepository(dir)
        let key = try XCTUnwrap(try FileIO.listDirectory(dir.sub("repo/keys")).first { ObjectName.isValid($0) })
        try flipByte(dir.sub("repo/keys/\(key)"))
        do {
            _ = try await open(dir)
            XCTFail("opened with a damaged key file")
        } catch let error as PlanVaultError {
            guard case .noIntactKeyFile(_, let damaged) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue(damaged.first?.hasPrefix(String(key.prefix(12))) ?? false, "\(damaged)")
            XCTAssertTrue(error.localizedDescription.contains("no intact key file"))
        }
    }

    // MARK: Defect 11: planted key files cannot stall an open

    func testPlantedCostlyKeyFilesAreTriedLastWithinABudgetAndNamed() async throws {
        let dir = try TempDir()
        let writer = try await pushedRepository(dir)
        // Key files an agent token could plant: valid JSON for this repository, highest accepted cost.
        let other = try MasterKeys.generate()
        var planted = [String]()
        for i in 0..<8 {
            var file = try KeyFile.wrap(other, passphrase: "attacker \(i)", repository: writer.repository.config.id,
                                        config: writer.repository.configBytes, label: "zzz", host: "x", username: "x", cost: (1 << 15, 8, 1))
            file.kdf.p = 8
            file.created = "2999-01-01T00:00:00.000Z"
            let bytes = try file.encoded()
            let name = LibCrypto.sha256(bytes).hex
            try await writer.backend.write(.key, name: name, data: bytes)
            planted.append(name)
        }
        // The real key (cheap here) opens without any planted file being tried first.
        let repository = try await open(dir)
        XCTAssertEqual(repository.keyName, writer.repository.keyName)
        // A wrong passphrase stops at the budget and names what it did not try.
        do {
            _ = try await open(dir, passphrase: "wrong")
            XCTFail("opened with a wrong passphrase")
        } catch let error as PlanVaultError {
            guard case .keyFilesUnusable(_, _, let untried) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertFalse(untried.isEmpty)
            XCTAssertTrue(untried.allSatisfy { name in planted.contains { $0.hasPrefix(name) } }, "\(untried)")
            XCTAssertEqual(error.exitCode, ExitCodes.wrongPassphrase)
        }
    }

    func testManyPlantedCheapKeyFilesCannotUseUpTheBudgetBeforeTheRealOne() async throws {
        let dir = try TempDir()
        let writer = try await pushedRepository(dir)
        // The cheapest parameters accepted, dated in the future so that they sort first among
        // the key files no costlier than the default: more of them than the budget's 48 units.
        let other = try MasterKeys.generate()
        for i in 0..<60 {
            var file = try KeyFile.wrap(other, passphrase: "attacker \(i)", repository: writer.repository.config.id,
                                        config: writer.repository.configBytes, label: nil, host: "x", username: "x", cost: (1024, 1, 1))
            file.created = "2999-01-01T00:00:00.000Z"
            let bytes = try file.encoded()
            try await writer.backend.write(.key, name: LibCrypto.sha256(bytes).hex, data: bytes)
        }
        // Each is charged its real work (1/256 of the default), so the real key is still tried.
        let repository = try await open(dir)
        XCTAssertEqual(repository.keyName, writer.repository.keyName)
    }

    func testOnlyTheKeyFileNamedIsTriedWhenOneIsNamed() async throws {
        let dir = try TempDir()
        let writer = try await pushedRepository(dir)
        let other = try MasterKeys.generate()
        let file = try KeyFile.wrap(other, passphrase: "someone else", repository: writer.repository.config.id,
                                    config: writer.repository.configBytes, label: nil, host: "x", username: "x", cost: Fixture.fastKDF)
        let bytes = try file.encoded()
        let planted = LibCrypto.sha256(bytes).hex
        try await writer.backend.write(.key, name: planted, data: bytes)
        let real = try XCTUnwrap(writer.repository.keyName)
        let backend = DirectoryBackend(root: dir.sub("repo"))
        func open(_ only: String) async throws -> Repository {
            try await Repository.open(backend: backend, credential: .passphrase(Fixture.passphrase), cacheRoot: nil,
                                      logger: Fixture.logger, onlyKeyFile: only)
        }
        // The real one, by the start of its name: it opens.
        let opened = try await open(String(real.prefix(8)).uppercased())
        XCTAssertEqual(opened.keyName, real)
        // Another one only: the passphrase does not open it, and the real one is not tried.
        do {
            _ = try await open(String(planted.prefix(12)))
            XCTFail("a key file other than the one named was tried")
        } catch let error as PlanVaultError {
            XCTAssertEqual(error.exitCode, ExitCodes.wrongPassphrase, error.localizedDescription)
        }
        // A name that fits none, or several, is refused with what to give.
        for (only, expected) in [("zz", "has a name starting with \"zz\""), ("", "2 key files")] {
            do {
                _ = try await open(only)
                XCTFail("--key-file \(only) was accepted")
            } catch PlanVaultError.invalidArgument(let message) {
                XCTAssertTrue(message.contains(expected), message)
            }
        }
    }

    func testDeletedSoleKeyFileAndConfigFromAnotherRepositoryAreNamedAsSuch() async throws {
        let dir = try TempDir()
        _ = try await pushedRepository(dir)
        let other = try TempDir()
        _ = try await Fixture.makeRepository(other)
        let ownConfig = try FileIO.readFile(dir.sub("repo/config"))
        try FileIO.writeAtomically(try FileIO.readFile(other.sub("repo/config")), to: dir.sub("repo/config"), inDirectory: dir.sub("repo"))
        do {
            _ = try await open(dir)
            XCTFail("a swapped config was accepted")
        } catch let error as PlanVaultError {
            guard case .configAltered = error else { return XCTFail("unexpected \(error)") }
        }
        try FileIO.writeAtomically(ownConfig, to: dir.sub("repo/config"), inDirectory: dir.sub("repo"))
        for key in try FileIO.listDirectory(dir.sub("repo/keys")) where ObjectName.isValid(key) { unlink(dir.sub("repo/keys/\(key)")) }
        do {
            _ = try await open(dir)
            XCTFail("opened without a key file")
        } catch let error as PlanVaultError {
            guard case .noIntactKeyFile = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue(error.localizedDescription.contains("no key file at all"))
        }
    }
}
