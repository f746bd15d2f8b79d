import Foundation
import Logging

public struct PruneOptions: Sendable {
    public var dryRun = false
    /// Repack a bundle when more than this share of its bytes is unused.
    public var maxUnusedPercent: Double = 5
    /// Repack at most this many bytes of bundles in one run (nil: no limit).
    public var maxRepackBytes: UInt64?
    public init() {}
}

public struct PruneReport: Sendable {
    public var bundlesTotal = 0
    public var bundlesDeleted = 0
    public var bundlesRepacked = 0
    public var bundlesWritten = 0
    public var bytesFreed: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    public var chunksKept = 0
    public var chunksDropped = 0
    /// Deletes the target refused (append-only server, Object Lock), with the reason.
    public var refused: [(object: String, reason: String)] = []
}

/// `planvault prune`: deletes bundles no retained snapshot needs and repacks mostly unused ones.
///
/// Order, so a kill at any moment cannot lose a needed chunk: (1) new bundles with the still
/// needed chunks of the bundles to repack; (2) one new index file naming every bundle that stays
/// and the new ones; (3) the old index files; (4) the old bundles. Until (3) the old index still
/// finds everything; after (2) the new one does; a bundle deleted in (4) is named by no index.
public struct Pruner: Sendable {
    let writer: RepositoryWriter
    let logger: Logger

    public init(writer: RepositoryWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    public func prune(_ options: PruneOptions) async throws -> PruneReport {
        let repository = writer.repository
        let index = try await repository.loadIndexWithBundles().load.index
        let snapshots = try await repository.loadAllSnapshots(withNodes: true, index: index)
        if let (name, error) = snapshots.damaged.first {
            // What an unreadable snapshot needs is unknown: deleting anything could lose it.
            throw PlanVaultError.snapshotUnreadable(name: name, reason: "prune deletes nothing while a snapshot cannot be read (\(error.localizedDescription))",
                                                   others: snapshots.damaged.count - 1)
        }
        var used = Set<Digest32>()
        for (_, snapshot) in snapshots.snapshots {
            used.formUnion(snapshot.treeIDs)
            for node in snapshot.nodes where node.type == .file {
                used.formUnion(node.chunks ?? [])
            }
        }
        var report = PruneReport()
        let bundles = index.indexedBundles()
        report.bundlesTotal = bundles.count
        // Every used chunk needs one copy; the first bundle that holds it provides it.
        var provided = Set<Digest32>()
        var keep = [IndexedBundle](), delete = [IndexedBundle](), repack = [(bundle: IndexedBundle, entries: [BundleEntry])]()
        var repackBudget = options.maxRepackBytes ?? .max
        for bundle in bundles {
            let needed = bundle.entries.filter { used.contains($0.id) && !provided.contains($0.id) }
            let neededBytes = needed.reduce(UInt64(0)) { $0 + UInt64($1.length) }
            if needed.isEmpty {
                delete.append(bundle)
                continue
            }
            let unusedShare = bundle.size == 0 ? 0 : 100 * Double(bundle.size - min(bundle.size, neededBytes)) / Double(bundle.size)
            if unusedShare > options.maxUnusedPercent && bundle.size <= repackBudget {
                repackBudget -= bundle.size
                repack.append((bundle, needed))
            } else {
                keep.append(bundle)
            }
            provided.formUnion(needed.map(\.id))
        }
        report.chunksKept = provided.count
        report.chunksDropped = bundles.reduce(0) { $0 + $1.entries.count } - provided.count
        report.bundlesRepacked = repack.count
        let reclaimable = delete.reduce(UInt64(0)) { $0 + $1.size } + repack.reduce(UInt64(0)) { $0 + $1.bundle.size }
        let missing = used.subtracting(provided)
        if !missing.isEmpty {
            logger.warning("\(missing.count) chunk(s) that snapshots need are in no bundle: run `planvault verify`")
        }
        if options.dryRun || (delete.isEmpty && repack.isEmpty) {
            report.bundlesDeleted = options.dryRun ? delete.count + repack.count : 0
            report.bytesFreed = options.dryRun ? reclaimable : 0
            // A prune killed after its deletes but before its re-attestation left push records
            // naming deleted objects; with nothing left to delete, this run finishes that step.
            if !options.dryRun { try await AttestationLog.reattestStale(writer: writer) }
            return report
        }

        // (1) Repack.
        var written = [IndexedBundle]()
        var pending = [(id: Digest32, data: [UInt8])]()
        var pendingBytes = 0
        func flush() async throws {
            guard !pending.isEmpty else { return }
            let sealer = try BundleSealer(keys: repository.keys)
            let sealed = try pending.enumerated().map { slot, chunk in
                try chunk.data.withUnsafeBytes { try sealer.seal($0, id: chunk.id, slot: UInt32(slot)) }
            }
            let (bytes, entries) = try sealer.assemble(sealed)
            let id = try await writer.saveBundle(bytes)
            written.append(IndexedBundle(id: id, size: UInt64(bytes.count), entries: entries))
            report.bytesWritten += UInt64(bytes.count)
            pending = []
            pendingBytes = 0
        }
        for (bundle, entries) in repack {
            let chunks = try await repository.readChunks(bundle: bundle.id, entries: entries)
            for entry in entries {
                guard let data = chunks[entry.id] else {
                    throw PlanVaultError.objectDamaged(kind: .bundle, name: bundle.id.hex,
                                                       reason: "chunk \(entry.id.shortHex) cannot be read; prune stops before deleting anything (run `planvault repair`)")
                }
                pending.append((entry.id, data))
                pendingBytes += data.count
                if pendingBytes >= repository.config.bundleSize { try await flush() }
            }
        }
        try await flush()
        report.bundlesWritten = written.count

        // (2) New index files for everything that stays; (3) old index files; (4) old bundles.
        let oldIndexFiles = try await writer.backend.list(.index).map(\.name)
        let saved = Set(try await writer.saveIndexFiles(keep + written))
        for name in oldIndexFiles where !saved.contains(name) {
            do { try await writer.backend.delete(.index, name: name) } catch let error as PlanVaultError {
                report.refused.append(("index file \(name.prefix(12))", error.localizedDescription))
            }
        }
        for bundle in delete + repack.map(\.bundle) {
            do {
                try await writer.backend.delete(.bundle, name: bundle.id.hex)
                report.bundlesDeleted += 1
                report.bytesFreed += bundle.size
            } catch let error as PlanVaultError {
                report.refused.append(("bundle \(bundle.id.hex.prefix(12))", error.localizedDescription))
            }
        }
        if !report.refused.isEmpty {
            logger.warning("the target refused \(report.refused.count) delete(s); nothing is lost, and those objects stay until deleted with a credential that may")
        }
        // Push records name bundles and index files that are gone now: attest the snapshots again.
        try await AttestationLog.reattestStale(writer: writer)
        return report
    }
}
