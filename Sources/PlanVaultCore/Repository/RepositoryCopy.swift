import Foundation
import Logging

/// `planvault copy`: makes another target hold the same repository. Objects are content-addressed,
/// so what to copy is a set difference by name; each object's hash is checked against its name
/// before it is written. Kinds go in the order a reader depends on them (key files and config,
/// then bundles, index files, snapshots), so a copy killed at any moment leaves the destination a
/// readable repository, and running it again resumes where it stopped. Attestations are not
/// copied: each target's chain records what that target holds, so the copied snapshots are
/// attested at the destination afterwards.
public struct RepositoryCopy: Sendable {
    public struct Result: Sendable {
        public var copied: [ObjectKind: (count: Int, bytes: UInt64)] = [:]
        public var alreadyPresent = 0
        /// Objects the destination holds under the right name but with another size: damaged there.
        public var mismatched: [String] = []
        public var snapshotsAttested: [String] = []
        public var attestFailures: [String] = []
    }

    let source: Repository
    let destination: any Backend
    let logger: Logger
    let concurrency: Int

    public init(source: Repository, destination: any Backend, logger: Logger, concurrency: Int = 4) {
        self.source = source
        self.destination = destination
        self.logger = logger
        self.concurrency = concurrency
    }

    /// Checks the destination is empty or a copy of this repository, and prepares it. Returns
    /// whether it already had the config. Run before taking the destination's lock.
    public func prepareDestination() async throws -> Bool {
        let existingConfig: [UInt8]?
        do {
            existingConfig = try await destination.read(.config, name: ObjectName.config, range: nil)
        } catch PlanVaultError.objectMissing {
            existingConfig = nil
        } catch PlanVaultError.repositoryNotFound {
            existingConfig = nil
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT || code == ENOTDIR {
            existingConfig = nil
        }
        if let existingConfig {
            guard existingConfig == source.configBytes else {
                let other = (try? RepositoryConfig.decode(existingConfig, location: destination.location).id).map { " (repository \($0.prefix(8)))" } ?? ""
                throw PlanVaultError.invalidArgument("\(destination.location) already holds another repository\(other), not \(source.config.id.prefix(8)): copy to an empty location or to a copy of this repository")
            }
            return true
        }
        try await destination.prepare()
        // Key files without a config are what a copy killed before writing the config leaves;
        // anything else there belongs to something else.
        let sourceKeys = Set(try await source.backend.list(.key).map(\.name))
        let strangers = try await destination.list(.key).filter { !sourceKeys.contains($0.name) }
        guard strangers.isEmpty, try await destination.list(.snapshot).isEmpty else {
            throw PlanVaultError.invalidArgument("\(destination.location) holds key files or snapshots but no config: it is not a copy of this repository; use an empty location")
        }
        return false
    }

    public func run(hadConfig: Bool, onObject: (@Sendable (ObjectKind, String) -> Void)? = nil) async throws -> Result {
        var result = Result()
        // Key files before the config, as `init` does: a reader never sees a config without a key.
        try await copyMissing(.key, into: &result, onObject: onObject)
        if !hadConfig {
            try await destination.write(.config, name: ObjectName.config, data: source.configBytes)
            result.copied[.config] = (1, UInt64(source.configBytes.count))
        }
        for kind in [ObjectKind.bundle, .index, .snapshot] {
            try await copyMissing(kind, into: &result, onObject: onObject)
        }
        return result
    }

    /// Appends push records at the destination for the snapshots it holds without one.
    public func attestCopies(_ result: inout Result) async throws {
        // The destination holds the same config and key files: the source's keys open it.
        let copy = Repository(backend: destination, config: source.config, configBytes: source.configBytes, keys: source.keys,
                              keyName: source.keyName, configProblem: nil, cache: nil, logger: logger)
        let writer = RepositoryWriter(repository: copy, backend: destination)
        let outcome = try await AttestationLog.attestUnattested(writer: writer, index: nil)
        result.snapshotsAttested = outcome.attested
        result.attestFailures = outcome.failures
    }

    private func copyMissing(_ kind: ObjectKind, into result: inout Result, onObject: (@Sendable (ObjectKind, String) -> Void)?) async throws {
        let present = Dictionary(try await destination.list(kind).map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        var missing = [ObjectInfo]()
        for info in try await source.backend.list(kind) {
            guard let size = present[info.name] else {
                missing.append(info)
                continue
            }
            if size == info.size {
                result.alreadyPresent += 1
            } else {
                result.mismatched.append("\(kind.singular) \(info.name.prefix(12)) has \(size) bytes at the destination and \(info.size) at the source")
            }
        }
        let source = self.source, destination = self.destination
        var next = 0
        try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
            func startNext() {
                guard next < missing.count else { return }
                let info = missing[next]
                next += 1
                group.addTask {
                    let bytes = try await source.backend.read(kind, name: info.name, range: nil)
                    guard LibCrypto.sha256(bytes).hex == info.name else {
                        throw PlanVaultError.objectDamaged(kind: kind, name: info.name,
                                                           reason: "at the source its SHA-256 does not match its name; it was not copied (run `planvault verify --read-data` on the source)")
                    }
                    try await destination.write(kind, name: info.name, data: bytes)
                    guard let stored = try await destination.stat(kind, name: info.name), stored.size == UInt64(bytes.count) else {
                        throw PlanVaultError.backend(location: destination.location, message: "\(kind.singular) \(info.name.prefix(12)) was written but is not there with its size")
                    }
                    onObject?(kind, info.name)
                    return (1, UInt64(bytes.count))
                }
            }
            for _ in 0..<max(1, concurrency) { startNext() }
            while let (count, bytes) = try await group.next() {
                let before = result.copied[kind] ?? (0, 0)
                result.copied[kind] = (before.count + count, before.bytes + bytes)
                startNext()
            }
        }
    }
}
