import Foundation
import Logging

/// `planvault copy`: makes another target hold the same repository. Objects are content-addressed,
/// so what to copy is a set difference by name; each object's hash is checked against its name
/// before it is written. Kinds go in the order a reader depends on them (key files and config,
/// then bundles, index files, snapshots), so a copy killed at any moment leaves the destination a
/// readable repository, and running it again resumes where it stopped. Key files go only into a
/// new copy, and snapshots the destination's retention records removed are not brought back, so
/// a revocation or a `forget` there stays in force. Attestations are not
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
        /// Snapshots the destination's own retention records removed: not brought back.
        public var notCopiedAsRemoved = 0
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

    /// The destination's config, or nil where there is no repository yet. Changes nothing.
    func destinationConfig() async throws -> [UInt8]? {
        do {
            return try await destination.read(.config, name: ObjectName.config, range: nil)
        } catch PlanVaultError.objectMissing {
            return nil
        } catch PlanVaultError.repositoryNotFound {
            return nil
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT || code == ENOTDIR {
            return nil
        }
    }

    /// Checks the destination is empty or a copy of this repository, and prepares it. Returns
    /// whether it already had the config. Run before taking the destination's lock. With
    /// `startingNew` false, a destination without the config is refused (`repositoryNotFound`)
    /// before anything is written there.
    public func prepareDestination(startingNew: Bool = true) async throws -> Bool {
        let config = try await destinationConfig()
        if config == nil, !startingNew { throw PlanVaultError.repositoryNotFound(location: destination.location) }
        if let existingConfig = config {
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
        // Listed before anything is copied, in the reverse of the order they are written: a push
        // running meanwhile adds bundles before its index and snapshot, so every snapshot listed
        // here has its bundles in the bundle listing taken after it.
        let snapshots = try await source.backend.list(.snapshot)
        let indexFiles = try await source.backend.list(.index)
        let bundles = try await source.backend.list(.bundle)
        // Key files go only into a new copy: in an existing one, a key file it lacks may have been
        // removed there on purpose (a revoked passphrase or split), and must not come back.
        if !hadConfig {
            // Before the config, as `init` does: a reader never sees a config without a key.
            try await copyMissing(.key, listing: try await source.backend.list(.key), into: &result, onObject: onObject)
            try await destination.write(.config, name: ObjectName.config, data: source.configBytes)
            result.copied[.config] = (1, UInt64(source.configBytes.count))
        }
        // Snapshots a retention record at the destination removed stay removed.
        let removed = hadConfig ? try await removedAtDestination() : []
        result.notCopiedAsRemoved = snapshots.filter { removed.contains($0.name) }.count
        try await copyMissing(.bundle, listing: bundles, into: &result, onObject: onObject)
        try await copyMissing(.index, listing: indexFiles, into: &result, onObject: onObject)
        try await copyMissing(.snapshot, listing: snapshots.filter { !removed.contains($0.name) }, into: &result, onObject: onObject)
        return result
    }

    /// The destination as a repository: it holds the same config and key files, so the source's
    /// keys open it.
    private var destinationRepository: Repository {
        Repository(backend: destination, config: source.config, configBytes: source.configBytes, keys: source.keys,
                   keyName: source.keyName, configProblem: nil, cache: nil, logger: logger)
    }

    private func removedAtDestination() async throws -> Set<String> {
        let entries = try await AttestationLog.trusted(destinationRepository)
        return Set(entries.flatMap { $0.attestation.type == .retention ? $0.attestation.removed ?? [] : [] })
    }

    /// Appends push records at the destination for the snapshots it holds without one.
    public func attestCopies(_ result: inout Result) async throws {
        let writer = RepositoryWriter(repository: destinationRepository, backend: destination)
        let outcome = try await AttestationLog.attestUnattested(writer: writer, index: nil)
        result.snapshotsAttested = outcome.attested
        result.attestFailures = outcome.failures
    }

    private func copyMissing(_ kind: ObjectKind, listing: [ObjectInfo], into result: inout Result,
                             onObject: (@Sendable (ObjectKind, String) -> Void)?) async throws {
        let present = Dictionary(try await destination.list(kind).map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        var missing = [ObjectInfo]()
        for info in listing {
            // Nothing over the stated limit (FORMAT.md §14) is read into memory.
            guard info.size <= Limits.maxObjectSize(kind) else {
                throw PlanVaultError.objectDamaged(kind: kind, name: info.name, reason: "the source lists it at \(info.size) bytes, over the limit for its kind; it was not copied")
            }
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
                    // No more than the listing said: an object that grew since is not read past it.
                    let bytes = try await source.backend.read(kind, name: info.name, range: 0..<info.size)
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
