import Foundation
import Logging

public struct RestoreOptions: Sendable {
    public var destination: String
    public var includes: [String] = []
    /// Replace existing files that differ from the snapshot (identical ones are always kept).
    public var overwrite = false
    /// Globs of files to write first (`--first`); see `RestoreOrder`.
    public var first: [String] = []
    /// Called with the snapshot path of each file matching `first` once it is complete, synced
    /// and under its real name.
    public var onReady: (@Sendable (String) -> Void)?
    /// Called as bundles are read: bytes of file content written and to write (a progress bar).
    public var progress: (@Sendable (_ done: UInt64, _ total: UInt64) -> Void)?

    public init(destination: String) { self.destination = destination }
}

public struct RestoreResult: Sendable {
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var bytes: UInt64 = 0
    /// Files and symlinks already in the destination with the snapshot's content, left as they were.
    public var kept = 0
    /// Temporary files an interrupted restore had left, removed.
    public var temporaryFilesRemoved = 0
    /// `first` patterns that selected no file.
    public var unmatchedFirst: [String] = []
    public var problems: [(path: String, message: String)] = []
}

/// Brings a snapshot back into a destination folder. Reads each needed bundle
/// once, authenticates every chunk (AES-GCM tag, then its keyed hash), writes
/// files under temporary names and renames each into place only when all its
/// bytes are in: a restore never leaves a half-written file under a real name,
/// and never writes outside the destination.
public struct Restorer: Sendable {
    let repository: Repository
    let logger: Logger
    let reads: BoundedReads

    /// `readsInFlight`: bundle reads at once (default: what the target asks for, see
    /// `ReadableBackend.readsInFlight`); `bytesInFlight` bounds the memory they hold.
    public init(repository: Repository, logger: Logger, readsInFlight: Int? = nil,
                bytesInFlight: UInt64 = BoundedReads.defaultMaxBytes) {
        self.repository = repository
        self.logger = logger
        reads = BoundedReads(maxReads: readsInFlight ?? repository.backend.readsInFlight, maxBytes: bytesInFlight)
    }

    struct FileJob {
        var node: SnapshotNode
        var partial: [UInt8]
        var remaining: Int
        var failed: String?
        var settled = false
    }

    struct ChunkTarget: Sendable {
        var file: Int
        var offset: UInt64
    }

    struct ChunkWork: Sendable {
        var entry: BundleEntry
        var targets: [ChunkTarget]
    }

    struct BundleWork: Sendable {
        var bundle: Digest32
        var chunks: [ChunkWork]
    }

    /// One ranged read: chunks lying close together in one bundle.
    struct Piece: Sendable {
        var bundle: Digest32
        var chunks: [ChunkWork]
        var span: Range<UInt64>
        /// Bytes of file content it fills (for progress).
        var content: UInt64
    }

    struct BundleOutcome: Sendable {
        var piece: Piece
        var written: [ChunkTarget]
        var failed: [(chunk: ChunkWork, message: String)]
        var writeFailed: [(file: Int, message: String)] = []
    }

    public func restore(_ snapshot: Snapshot, options: RestoreOptions, index: ChunkIndex) async throws -> RestoreResult {
        try SnapshotPathRules.validate(snapshot.nodes)
        let includes = try options.includes.map { raw -> String in
            let parts = SnapshotPathRules.byteComponents(raw).filter { !$0.isEmpty }
            let trimmed = String(decoding: Array(parts.joined(separator: [UInt8(ascii: "/")])), as: UTF8.self)
            try SnapshotPathRules.checkComponents(of: trimmed)
            return trimmed
        }
        let nodes = snapshot.nodes.filter { SnapshotPathRules.isSelected($0.path, includes: includes) }
        if !includes.isEmpty && nodes.isEmpty {
            throw PlanVaultError.invalidArgument("nothing in the snapshot matches --include \(options.includes.joined(separator: ", ")): list paths with `planvault ls`")
        }
        let dest = try Destination(path: options.destination)
        let descriptors = PartialDescriptors()
        var result = RestoreResult()
        // Folders whose trees could not be read are not in `nodes`: each is named, never skipped quietly.
        for folder in snapshot.unreadableFolders where SnapshotPathRules.isSelected(folder.path, includes: includes) {
            result.problems.append((folder.path, folder.reason))
        }
        var damaged = Set<String>()
        for node in nodes {
            if let problem = SnapshotPathRules.nodeProblem(node) {
                result.problems.append((node.path, problem))
                damaged.insert(node.path)
            }
        }

        // Folders first, so files have somewhere to go.
        for node in nodes where node.type == .dir && !damaged.contains(node.path) {
            do {
                try dest.makeDirectory(node.path)
                result.directories += 1
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
            }
        }

        // Partial files a killed restore left in these folders are removed before new ones are made.
        let folderPaths = [""] + nodes.filter { $0.type == .dir && !damaged.contains($0.path) }.map(\.path)
        result.temporaryFilesRemoved = dest.removeStaleTemporaryFiles(in: folderPaths)

        // Plan: which chunks of which bundles land where. A file's chunks must add up to its size:
        // a file is never padded with zeros or cut short to fit what the snapshot claims.
        var files = [FileJob]()
        var plan = [Digest32: [Digest32: ChunkWork]]()
        var toCreate = [(node: SnapshotNode, targets: [(ChunkLocation, UInt64)])]()
        for node in nodes where node.type == .file && !damaged.contains(node.path) {
            let size = node.size ?? 0
            var offset: UInt64 = 0
            var missing: String?
            var targets = [(ChunkLocation, UInt64)]()
            for id in node.chunks ?? [] {
                guard let location = index.location(of: id) else {
                    missing = "chunk \(id.hex.prefix(12)) is not in the index (run `planvault verify`)"
                    break
                }
                targets.append((location, offset))
                offset += UInt64(location.entry.rawLength)
            }
            if missing == nil && offset != size {
                missing = "the snapshot says \(size) bytes but its chunks hold \(offset) (the snapshot is damaged)"
            }
            if let missing {
                result.problems.append((node.path, missing))
                continue
            }
            do {
                // A file already there with exactly these bytes (a restore run again) is kept.
                let pieces = targets.map { (id: $0.0.entry.id, length: Int($0.0.entry.rawLength)) }
                if try ExistingFileCheck.isIdentical(node.path, size: size, chunks: pieces, dest: dest, keys: repository.keys) {
                    try dest.applyFileMetadata(node.path, mode: node.mode, mtimeNs: node.mtimeNs)
                    result.kept += 1
                    // A priority file already there is ready too: say so before anything is written.
                    if RestoreOrder.rank(of: node.path, patterns: options.first) != nil { options.onReady?(node.path) }
                    continue
                }
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
                continue
            }
            toCreate.append((node, targets))
        }
        for (node, targets) in toCreate {
            // Each temporary file is made when its first chunk arrives (see `PartialDescriptors`);
            // one with no chunks (empty) is made now, since no write will make it.
            let name: [UInt8]
            do {
                try dest.checkPlace(node.path, overwrite: options.overwrite)
                name = try Destination.newPartialName()
                if targets.isEmpty { close(try dest.createPartial(node.path, partial: name, size: 0)) }
            } catch {
                result.problems.append((node.path, (error as? PlanVaultError)?.localizedDescription ?? "\(error)"))
                continue
            }
            let fileIndex = files.count
            for (location, at) in targets {
                plan[location.bundle, default: [:]][location.entry.id, default: ChunkWork(entry: location.entry, targets: [])]
                    .targets.append(ChunkTarget(file: fileIndex, offset: at))
            }
            files.append(FileJob(node: node, partial: name, remaining: targets.count, failed: nil))
        }

        // Writing order: --first matches, then small before large. A bundle is read when the
        // first file in that order needs it, and only once, with every chunk any file needs from it.
        let (order, ranks) = RestoreOrder.sorted(files.map { ($0.node.path, $0.node.size ?? 0) }, patterns: options.first)
        var position = [Int](repeating: 0, count: files.count)
        for (at, file) in order.enumerated() { position[file] = at }
        // Said, not silent: a pattern that selects no file (kept ones count) is likely a typo.
        result.unmatchedFirst = options.first.filter { pattern in
            !nodes.contains { $0.type == .file && RestoreOrder.matches(pattern, $0.path) }
        }
        var commits = Commits(dest: dest, descriptors: descriptors, onReady: options.onReady)

        do {
            // Files with no chunks (empty) are complete already.
            for i in order where files[i].remaining == 0 {
                try commits.complete(i, priority: ranks[i] != nil, files: &files, result: &result)
            }
            // Read bundles; a chunk whose copy fails is tried again from its next copy, if any.
            var tried = [Digest32: Set<Digest32>]()
            let total = Self.contentBytes(plan.values.flatMap(\.values))
            var done: UInt64 = 0
            let openers = OpenerCache()
            while !plan.isEmpty {
                let work = Self.ordered(plan, position: position)
                for item in work { for chunk in item.chunks { tried[chunk.entry.id, default: []].insert(item.bundle) } }
                plan = [:]
                let pieces = work.flatMap(Self.pieces)
                let partials = files.map { (path: $0.node.path, partial: $0.partial, size: $0.node.size ?? 0) }
                try await reads.run(pieces, bytes: { UInt64($0.span.count) }, read: { piece in
                    await self.restorePiece(piece, partials: partials, dest: dest, descriptors: descriptors, openers: openers)
                }, handle: { outcome in
                    done = min(total, done + outcome.piece.content)
                    options.progress?(done, total)
                    var touched = Set<Int>()
                    for target in outcome.written {
                        files[target.file].remaining -= 1
                        touched.insert(target.file)
                    }
                    for (file, message) in outcome.writeFailed where files[file].failed == nil { files[file].failed = message }
                    for (chunk, message) in outcome.failed {
                        let id = chunk.entry.id
                        if let next = index.locations(of: id).first(where: { !(tried[id]?.contains($0.bundle) ?? false) }) {
                            logger.warning("chunk \(id.shortHex) in bundle \(outcome.piece.bundle.shortHex) failed (\(message)); trying its copy in bundle \(next.bundle.shortHex)")
                            plan[next.bundle, default: [:]][id, default: ChunkWork(entry: next.entry, targets: [])].targets += chunk.targets
                        } else {
                            for target in chunk.targets where files[target.file].failed == nil { files[target.file].failed = message }
                        }
                    }
                    // Each file is taken into place as soon as its last chunk is in.
                    for i in touched.sorted(by: { position[$0] < position[$1] }) where files[i].remaining == 0 && files[i].failed == nil {
                        try commits.complete(i, priority: ranks[i] != nil, files: &files, result: &result)
                    }
                    try await commits.flushIfDue(files: &files, result: &result)
                })
            }
            try await commits.flush(files: &files, result: &result)
        } catch {
            // Nothing half-written is left behind under a temporary name either.
            for i in files.indices where !files[i].settled { Self.discard(i, files: files, dest: dest, descriptors: descriptors) }
            throw error
        }

        for i in order where !files[i].settled {
            if files[i].failed == nil && files[i].remaining != 0 { files[i].failed = "not all chunks could be restored" }
            Self.discard(i, files: files, dest: dest, descriptors: descriptors)
            result.problems.append((files[i].node.path, files[i].failed ?? "not all chunks could be restored"))
        }

        for node in nodes where node.type == .symlink && !damaged.contains(node.path) {
            do {
                if let target = try dest.existingLinkTarget(node.path), target == node.target {
                    result.kept += 1
                    continue
                }
                try dest.makeSymlink(node.path, target: node.target ?? "", overwrite: options.overwrite, mtimeNs: node.mtimeNs)
                result.symlinks += 1
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
            }
        }
        // Folder metadata last, deepest first, so writing inside does not disturb mtimes.
        for node in nodes.reversed() where node.type == .dir && !damaged.contains(node.path) {
            do {
                try dest.applyMetadata(node.path, mode: node.mode, mtimeNs: node.mtimeNs)
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
            }
        }
        // The last renames, links and folder times reach the disk too: a restore that is not on
        // disk is not a restore.
        try await BlockingIO.run { try dest.sync() }
        return result
    }

    /// Closes and removes the temporary file of file `i`.
    static func discard(_ i: Int, files: [FileJob], dest: Destination, descriptors: PartialDescriptors) {
        if let fd = descriptors.take(i) { close(fd) }
        dest.discardPartial(files[i].node.path, partial: files[i].partial)
    }

    /// Bytes of file content the chunks fill, counting a chunk once per place it goes.
    static func contentBytes(_ chunks: [ChunkWork]) -> UInt64 {
        chunks.reduce(UInt64(0)) { $0 + UInt64($1.entry.rawLength) * UInt64($1.targets.count) }
    }

    /// Bundles to read, each with its chunks in file order, sorted by the earliest file (in
    /// writing order) that needs them; bundle ID breaks ties.
    static func ordered(_ plan: [Digest32: [Digest32: ChunkWork]], position: [Int]) -> [BundleWork] {
        var ranked = [(rank: Int, work: BundleWork)]()
        ranked.reserveCapacity(plan.count)
        for (bundle, chunks) in plan {
            let sorted = chunks.values.sorted { $0.entry.offset < $1.entry.offset }
            var rank = Int.max
            for chunk in sorted { for target in chunk.targets { rank = min(rank, position[target.file]) } }
            ranked.append((rank, BundleWork(bundle: bundle, chunks: sorted)))
        }
        ranked.sort { a, b in a.rank != b.rank ? a.rank < b.rank : a.work.bundle < b.work.bundle }
        return ranked.map(\.work)
    }

    /// Largest read of one piece of a bundle, and the largest gap of unneeded bytes read through
    /// rather than split at. Pieces keep memory bounded and let one bundle be read and decrypted
    /// on several cores at once.
    static let pieceLimit: UInt64 = 8 << 20
    static let gapLimit: UInt64 = 1 << 20

    /// Splits a bundle's chunks (sorted by offset) into ranged reads. A piece starting within
    /// `gapLimit` of the bundle's start reads from 0, so it brings the salt along.
    static func pieces(of work: BundleWork) -> [Piece] {
        var pieces = [Piece]()
        for chunk in work.chunks {
            let start = UInt64(chunk.entry.offset), end = start + UInt64(chunk.entry.length)
            let content = UInt64(chunk.entry.rawLength) * UInt64(chunk.targets.count)
            if var last = pieces.last, start >= last.span.upperBound, start - last.span.upperBound <= gapLimit,
               end - last.span.lowerBound <= pieceLimit {
                last.chunks.append(chunk)
                last.span = last.span.lowerBound..<end
                last.content += content
                pieces[pieces.count - 1] = last
            } else {
                let from = pieces.isEmpty && start <= gapLimit ? 0 : start
                pieces.append(Piece(bundle: work.bundle, chunks: [chunk], span: from..<end, content: content))
            }
        }
        return pieces
    }

    /// Reads one piece of a bundle, opens each chunk and writes it to its files.
    private func restorePiece(_ piece: Piece, partials: [(path: String, partial: [UInt8], size: UInt64)], dest: Destination,
                              descriptors: PartialDescriptors, openers: OpenerCache) async -> BundleOutcome {
        let name = piece.bundle.hex
        var outcome = BundleOutcome(piece: piece, written: [], failed: [])
        // Entries were checked against the bundle size when read (BundleEntry.problem), and the
        // arithmetic is in UInt64, so no offset here can overflow.
        let data: [UInt8]
        let opener: BundleOpener
        do {
            data = try await repository.backend.read(.bundle, name: name, range: piece.span)
            if let known = openers[piece.bundle] {
                opener = known
            } else {
                let prefix = piece.span.lowerBound == 0 ? data.prefix(BundleFormat.prefixLength)
                    : try await repository.backend.read(.bundle, name: name, range: 0..<UInt64(BundleFormat.prefixLength))[...]
                opener = try BundleOpener(prefix: prefix, name: name, keys: repository.keys)
                openers[piece.bundle] = opener
            }
        } catch let error as PlanVaultError {
            outcome.failed = piece.chunks.map { ($0, error.localizedDescription) }
            return outcome
        } catch {
            outcome.failed = piece.chunks.map { ($0, "\(error)") }
            return outcome
        }
        for chunk in piece.chunks {
            let entry = chunk.entry
            let plain: [UInt8]
            do {
                let start = UInt64(entry.offset) - piece.span.lowerBound, stop = start + UInt64(entry.length)
                guard stop <= UInt64(data.count) else {
                    throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) lies past the end")
                }
                plain = try data.withUnsafeBytes {
                    try opener.openChunk(UnsafeRawBufferPointer(rebasing: $0[Int(start)..<Int(stop)]), entry: entry, keys: repository.keys)
                }
            } catch let error as PlanVaultError {
                outcome.failed.append((chunk, error.localizedDescription))
                continue
            } catch {
                outcome.failed.append((chunk, "\(error)"))
                continue
            }
            // A failed write is the destination's fault, not the copy's: no other copy is tried.
            for target in chunk.targets {
                let file = partials[target.file]
                do {
                    try descriptors.with(target.file, create: { try dest.createPartial(file.path, partial: file.partial, size: file.size) },
                                         reopen: { try dest.reopenPartial(file.path, partial: file.partial) }) { fd in
                        try plain.withUnsafeBytes { try dest.writePartial(file.path, fd: fd, data: $0, offset: target.offset) }
                    }
                    outcome.written.append(target)
                } catch let error as PlanVaultError {
                    outcome.writeFailed.append((target.file, error.localizedDescription))
                } catch {
                    outcome.writeFailed.append((target.file, "\(error)"))
                }
            }
        }
        return outcome
    }
}

/// Bundle openers (the bundle's derived key) already made by this restore, so pieces after the
/// first need no extra read of the bundle's salt.
final class OpenerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var openers: [Digest32: BundleOpener] = [:]

    subscript(bundle: Digest32) -> BundleOpener? {
        get { lock.lock(); defer { lock.unlock() }; return openers[bundle] }
        set { lock.lock(); defer { lock.unlock() }; openers[bundle] = newValue }
    }
}
