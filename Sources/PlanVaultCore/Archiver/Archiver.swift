import Foundation
import Logging

public struct PushOptions: Sendable {
    public var paths: [String]
    public var excludes: [String] = []
    public var tags: [String] = []
    public var host: String = HostInfo.hostname
    /// Read every file even if unchanged since the parent snapshot.
    public var rereadAll = false
    /// Overrides the repository's bundle size.
    public var bundleSize: Int?
    /// zlib level for compressible chunks: 1 fastest, 9 smallest.
    public var compressionLevel: Int32 = Zlib.defaultLevel
    /// The snapshot's time, when it should not be now (imports, tests of retention over years).
    public var time: Date?
    /// Bundles never to reference (known damaged): their chunks are stored again.
    public var avoidBundles: Set<Digest32> = []
    /// Where the time goes, stage by stage (`push --profile`); nil to not measure.
    public var times: StageTimes?
    /// Most files, folders and links a snapshot may hold: more could not be read back (FORMAT.md
    /// §9.3). Lower only in tests.
    var maxNodes = TreeCodec.maxNodes

    public init(paths: [String]) { self.paths = paths }
}

public struct PushProgress: Sendable {
    public var filesTotal: Int
    public var bytesTotal: UInt64
    public var filesDone: Int
    public var bytesDone: UInt64
}

public struct PushResult: Sendable {
    public var snapshotID: String
    public var snapshot: Snapshot
    public var parent: String?
    public var problems: [(path: String, message: String)]
    /// Files in the snapshot that may not be a consistent copy (changed while read, twice).
    public var warnings: [(path: String, message: String)] = []
    public var adoptedBundles: Int
    /// The repository's index after this push (what was loaded, plus the bundles it wrote or adopted).
    public var index: ChunkIndex
    /// The bundles holding the snapshot's file chunks (its trees' bundles are found from
    /// `snapshot.treeIDs`): what the push's attestation names, without the snapshot's nodes,
    /// which a push no longer holds.
    public var chunkBundles: Set<Digest32>
}

/// Turns source folders into a snapshot: walks them, reads changed files,
/// chunks, deduplicates, compresses, encrypts and bundles the new chunks, then
/// writes bundles, then the index, then the snapshot — so a run killed at any
/// moment leaves every earlier snapshot intact and the repository readable.
public final class Archiver: Sendable {
    let writer: RepositoryWriter
    let logger: Logger
    let progress: (@Sendable (PushProgress) -> Void)?
    /// Chunks being compressed and encrypted at once; bounds memory to about this many chunk sizes.
    let sealConcurrency: Int
    let uploadConcurrency: Int
    /// Uploaded bundles get an index file once they hold this many entries (see `ChunkPipeline`).
    let indexBatchEntries: Int

    /// About 800 KiB of index file: memory does not grow with the push, and a push killed late
    /// leaves few bundles for the next one to adopt from their headers.
    public static let defaultIndexBatchEntries = 16_384

    public init(writer: RepositoryWriter, logger: Logger, progress: (@Sendable (PushProgress) -> Void)? = nil,
                sealConcurrency: Int = max(2, ProcessInfo.processInfo.activeProcessorCount) * 2, uploadConcurrency: Int = 2,
                indexBatchEntries: Int = Archiver.defaultIndexBatchEntries) {
        self.writer = writer
        self.logger = logger
        self.progress = progress
        self.sealConcurrency = sealConcurrency
        self.uploadConcurrency = uploadConcurrency
        self.indexBatchEntries = indexBatchEntries
    }

    var repository: Repository { writer.repository }

    public func push(_ options: PushOptions) async throws -> PushResult {
        let started = Date()
        let (sources, missingSources) = try Self.resolveSources(options.paths)
        // The snapshot names every source asked for, found or not: it stays in the same source set
        // (parent, retention group, `latest`) as the nights when all were there.
        let sourceSet = options.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        // Adopt bundles an interrupted push left behind, so their chunks are not sent again,
        // and forget chunks whose bundle was lost, so they are stored again.
        var (loaded, adopted, _) = try await repository.loadIndexWithBundles()
        options.times?.markMemory("index loaded")
        if !adopted.isEmpty { logger.info("adopted \(adopted.count) bundle(s) left by an interrupted push") }
        // Bundles a verification found damaged are never referenced again: their chunks are
        // stored anew (into the index as a second copy) when a source still has them.
        let damaged = AttestationLog.damagedBundles(in: try await AttestationLog.trusted(repository)).union(options.avoidBundles)
            .filter { loaded.index.bundles[$0] != nil }
        if !damaged.isEmpty {
            logger.warning("\(damaged.count) bundle(s) were found damaged by `verify`; their chunks are stored again where the sources still have them")
            loaded.index.forget(damaged)
        }

        // The parent only saves reading unchanged files: if it cannot be read (a damaged tree),
        // every file is read, and the damage is said here and by `verify`.
        var parent: (id: String, trees: ParentTrees)?
        let parentStarted = DispatchTime.now().uptimeNanoseconds
        if !options.rereadAll {
            do {
                parent = try await findParent(host: options.host, paths: sourceSet, index: loaded.index)
            } catch let error as PlanVaultError {
                logger.warning("the previous snapshot cannot be read (\(error.localizedDescription)); every file is read again")
            }
        }
        options.times?.add(.parent, DispatchTime.now().uptimeNanoseconds &- parentStarted)
        options.times?.markMemory("parent snapshot loaded")

        let listing = SourceListing(excludes: options.excludes)
        // The pipeline holds the only copy of the index while files are read, and adds the chunks
        // of each bundle it uploads: a second holder (this function, or the repository handle,
        // which keeps the index it loaded for reading trees) would make that a full copy.
        repository.trees.knownIndex = nil
        var archiver = FolderArchiver(
            listing: listing, logger: logger, progress: progress, times: options.times,
            pipeline: ChunkPipeline(repository: repository, writer: writer, index: loaded.index,
                                    bundleSize: options.bundleSize ?? repository.config.bundleSize, compressionLevel: options.compressionLevel,
                                    sealConcurrency: sealConcurrency, uploadConcurrency: uploadConcurrency,
                                    indexBatchEntries: indexBatchEntries, times: options.times),
            trees: TreeBundleWriter(writer: writer), parent: parent?.trees, maxNodes: options.maxNodes)
        loaded.index = ChunkIndex()
        if progress != nil {
            // The bar's total: a second pass over the metadata, made only when a bar is shown.
            let total = listing.count(sources: sources.map { ($0.path, $0.name) })
            archiver.progressState.filesTotal = total.files
            archiver.progressState.bytesTotal = total.bytes
            progress?(archiver.progressState)
        }
        let (root, unindexedBundles): (Digest32, [IndexedBundle]) = try await withThrowingTaskGroup(of: ChunkPipeline.Completion.self) { group in
            let root = try await archiver.archive(sources, group: &group)
            return (root, try await archiver.pipeline.finish(group: &group))
        }
        try await archiver.trees.flush()
        archiver.parent = nil
        options.times?.markMemory("files read")

        var summary = archiver.summary
        let problems = missingSources + archiver.problems
        summary.newChunks = archiver.pipeline.newChunks
        summary.newBundles = archiver.pipeline.bundlesWritten + archiver.trees.bundles.count
        summary.bytesStored = archiver.pipeline.bytesStored + archiver.trees.bytesStored
        summary.errors = problems.count

        // Bundles, then the index files naming them, then the snapshot: a snapshot never names a
        // chunk or tree that no index can find. The pipeline wrote index files for most of its
        // bundles as it went; this one names the rest, the trees' and the adopted ones.
        let finishStarted = DispatchTime.now().uptimeNanoseconds
        defer { options.times?.add(.finish, DispatchTime.now().uptimeNanoseconds &- finishStarted) }
        loaded.index = archiver.pipeline.takeIndex()
        let indexed = unindexedBundles + archiver.trees.bundles + adopted
        if !indexed.isEmpty {
            let savedIndex = try await writer.saveIndex(indexed)
            summary.bytesStored += UInt64(savedIndex.size)
            // The pipeline's bundles and the adopted ones are in the index already.
            for bundle in archiver.trees.bundles { loaded.index.add(bundle, fromIndexFile: nil) }
            loaded.index.recordIndexFile(savedIndex.name, for: indexed.map(\.id))
        }
        repository.trees.knownIndex = loaded.index
        options.times?.markMemory("index saved")
        let header = Snapshot(time: Timestamps.format(options.time ?? started), host: options.host, username: HostInfo.username,
                              paths: sourceSet, tags: options.tags, parent: parent?.id, summary: summary, nodes: [])
        let saved = try await writer.saveSnapshotHeader(header, root: root, treeIDs: archiver.trees.treeIDs)
        options.times?.markMemory("snapshot saved")
        repository.cache?.setParentHint(saved.id, for: Self.parentKey(host: options.host, paths: header.paths))
        var final = saved.snapshot
        final.summary.bytesStored += UInt64(saved.size)
        logger.info("snapshot \(saved.id.prefix(8)) saved: \(summary.files) files, \(summary.filesRead) read, \(summary.newChunks) new chunks")
        return PushResult(snapshotID: saved.id, snapshot: final, parent: parent?.id, problems: problems, warnings: archiver.warnings,
                          adoptedBundles: adopted.count, index: loaded.index, chunkBundles: archiver.pipeline.referencedBundles)
    }

    struct Source {
        var path: String
        var name: String
    }

    /// Absolute, normalised source paths, each with a distinct last component. A source that
    /// cannot be found is returned apart, to be named as a problem while the others are pushed
    /// (restic's behaviour, exit 3); when none can be found the push stops here.
    static func resolveSources(_ paths: [String]) throws -> (sources: [Source], missing: [(path: String, message: String)]) {
        guard !paths.isEmpty else { throw PlanVaultError.invalidArgument("no paths to push: name them on the command line or as `sources` in the config file") }
        var seen = [String: String]()
        var out = [Source]()
        var missing = [(path: String, message: String)]()
        for raw in paths {
            let absolute = URL(fileURLWithPath: raw).standardizedFileURL.path
            var st = stat()
            guard lstat(absolute, &st) == 0 else {
                missing.append((absolute, String(cString: strerror(errno))))
                continue
            }
            var name = (absolute as NSString).lastPathComponent
            if name == "/" || name.isEmpty { name = "root" }
            if let other = seen[name] {
                throw PlanVaultError.invalidArgument("sources \(other) and \(absolute) have the same name \"\(name)\"; a snapshot keeps each source under its name, so push them separately")
            }
            seen[name] = absolute
            out.append(Source(path: absolute, name: name))
        }
        if out.isEmpty {
            let list = missing.map { "\($0.path) (\($0.message))" }.joined(separator: ", ")
            throw PlanVaultError.invalidArgument("no source can be read: \(list); check the paths given to push or `sources` in the config file")
        }
        return (out, missing.map { ($0.path, "this source cannot be read (\($0.message)); the other sources were pushed without it") })
    }

    /// The newest snapshot from this host of the same source set, with its trees decoded.
    /// Looks first at the snapshot this machine's last push of the same source set wrote (one
    /// decryption), and decodes every snapshot only when that hint is missing or stale.
    func findParent(host: String, paths: [String], index: ChunkIndex? = nil) async throws -> (id: String, trees: ParentTrees)? {
        let wanted = paths.sorted()
        let key = Self.parentKey(host: host, paths: paths)
        let header: (id: String, snapshot: Snapshot)
        if let hint = repository.cache?.parentHint(for: key), try await repository.snapshotIDs().contains(hint),
           let hinted = try? await repository.loadSnapshotHeader(hint), hinted.host == host, hinted.paths.sorted() == wanted {
            header = (hint, hinted)
        } else {
            let all = try await repository.loadAllSnapshots().snapshots
            guard let newest = all.last(where: { $0.snapshot.host == host && $0.snapshot.paths.sorted() == wanted }) else { return nil }
            header = (newest.id, newest.snapshot)
        }
        // Kept out of the handle's tree cache: each is let go once the push has matched its folder.
        let (root, trees, _) = try await repository.loadTrees(header.snapshot, id: header.id, index: index, cacheTrees: false)
        return (header.id, ParentTrees(root: root, trees: trees))
    }

    static func parentKey(host: String, paths: [String]) -> String {
        ([host] + paths.sorted()).joined(separator: "\u{0}")
    }
}
