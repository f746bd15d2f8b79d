import Foundation
import Logging

public struct RestoreOptions: Sendable {
    public var destination: String
    public var includes: [String] = []
    public var overwrite = false

    public init(destination: String) { self.destination = destination }
}

public struct RestoreResult: Sendable {
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var bytes: UInt64 = 0
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
    let concurrency: Int

    public init(repository: Repository, logger: Logger, concurrency: Int = 3) {
        self.repository = repository
        self.logger = logger
        self.concurrency = concurrency
    }

    struct FileJob {
        var node: SnapshotNode
        var partial: String
        var remaining: Int
        var failed: String?
    }

    struct ChunkTarget: Sendable {
        var file: Int
        var offset: UInt64
    }

    struct BundleWork: Sendable {
        var bundle: Digest32
        var chunks: [(entry: BundleEntry, targets: [ChunkTarget])]
    }

    enum BundleOutcome: Sendable {
        case done(written: [(file: Int, chunks: Int)], failures: [(file: Int, message: String)])
    }

    public func restore(_ snapshot: Snapshot, options: RestoreOptions, index: ChunkIndex) async throws -> RestoreResult {
        try SnapshotPathRules.validate(snapshot.nodes)
        let includes = try options.includes.map { raw -> String in
            let parts = SnapshotPathRules.byteComponents(raw).filter { !$0.isEmpty }
            let trimmed = String(decoding: Array(parts.joined(separator: [UInt8(ascii: "/")])), as: UTF8.self)
            _ = try SnapshotPathRules.components(of: trimmed)
            return trimmed
        }
        let nodes = snapshot.nodes.filter { SnapshotPathRules.isSelected($0.path, includes: includes) }
        if !includes.isEmpty && nodes.isEmpty {
            throw PlanVaultError.invalidArgument("nothing in the snapshot matches --include \(options.includes.joined(separator: ", ")): list paths with `planvault ls`")
        }
        let dest = try Destination(path: options.destination)
        var result = RestoreResult()

        // Folders first, so files have somewhere to go.
        for node in nodes where node.type == .dir {
            do {
                try dest.makeDirectory(node.path)
                result.directories += 1
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
            }
        }

        // Plan: which chunks of which bundles land where.
        var files = [FileJob]()
        var plan = [Digest32: [Digest32: (entry: BundleEntry, targets: [ChunkTarget])]]()
        for node in nodes where node.type == .file {
            let fileIndex = files.count
            let partial: String
            do {
                partial = try dest.createPartial(node.path, size: node.size ?? 0, overwrite: options.overwrite)
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
                continue
            }
            var job = FileJob(node: node, partial: partial, remaining: 0, failed: nil)
            var offset: UInt64 = 0
            var missing: String?
            var targets = [(Digest32, BundleEntry, ChunkTarget)]()
            for hex in node.chunks ?? [] {
                guard let id = Digest32(hex: hex), let location = index.location(of: id) else {
                    missing = "chunk \(hex.prefix(12)) is not in the index (run `planvault verify`)"
                    break
                }
                targets.append((location.bundle, location.entry, ChunkTarget(file: fileIndex, offset: offset)))
                offset += UInt64(location.entry.rawLength)
            }
            if let missing {
                job.failed = missing
            } else {
                for (bundle, entry, target) in targets {
                    plan[bundle, default: [:]][entry.id, default: (entry, [])].targets.append(target)
                }
                job.remaining = targets.count
            }
            files.append(job)
        }

        var finished = Set<Int>()
        var complete = [Int]()
        for i in files.indices where files[i].failed != nil || files[i].remaining == 0 {
            finish(files[i], dest: dest, complete: &complete, index: i, result: &result)
            finished.insert(i)
        }

        let work = plan.map { bundle, chunks in
            BundleWork(bundle: bundle, chunks: chunks.values.sorted { $0.entry.offset < $1.entry.offset })
        }.sorted { $0.bundle < $1.bundle }
        let partials = files.map(\.partial)
        try await withThrowingTaskGroup(of: BundleOutcome.self) { group in
            var next = 0
            func startNext(_ group: inout ThrowingTaskGroup<BundleOutcome, any Error>) {
                guard next < work.count else { return }
                let item = work[next]
                next += 1
                group.addTask { try await self.restoreBundle(item, partials: partials, dest: dest) }
            }
            for _ in 0..<concurrency { startNext(&group) }
            while let outcome = try await group.next() {
                startNext(&group)
                guard case .done(let written, let failures) = outcome else { continue }
                for failure in failures where files[failure.file].failed == nil {
                    files[failure.file].failed = failure.message
                }
                for (file, count) in written { files[file].remaining -= count }
                for file in Set(written.map(\.file) + failures.map(\.file)) where !finished.contains(file) {
                    if files[file].remaining <= 0 {
                        finish(files[file], dest: dest, complete: &complete, index: file, result: &result)
                        finished.insert(file)
                    }
                }
            }
        }
        // Files whose chunks failed mid-way are finished (removed) here.
        for i in files.indices where !finished.contains(i) {
            if files[i].failed == nil { files[i].failed = "not all chunks could be restored" }
            finish(files[i], dest: dest, complete: &complete, index: i, result: &result)
        }

        // Make the data durable before any file takes its real name, then rename them all:
        // after a crash a real name never holds a partly written file.
        dest.sync()
        for i in complete {
            do {
                try dest.commitPartial(files[i].partial, as: files[i].node.path, mode: files[i].node.mode, mtimeNs: files[i].node.mtimeNs)
                result.files += 1
                result.bytes += files[i].node.size ?? 0
            } catch let error as PlanVaultError {
                dest.discardPartial(files[i].partial)
                result.problems.append((files[i].node.path, error.localizedDescription))
            }
        }

        for node in nodes where node.type == .symlink {
            do {
                try dest.makeSymlink(node.path, target: node.target ?? "", overwrite: options.overwrite)
                result.symlinks += 1
            } catch let error as PlanVaultError {
                result.problems.append((node.path, error.localizedDescription))
            }
        }
        // Folder metadata last, deepest first, so writing inside does not disturb mtimes.
        for node in nodes.reversed() where node.type == .dir {
            dest.applyMetadata(node.path, mode: node.mode, mtimeNs: node.mtimeNs)
        }
        return result
    }

    /// A file whose chunks are all in is queued for renaming; a failed one is removed and reported.
    private func finish(_ job: FileJob, dest: Destination, complete: inout [Int], index: Int, result: inout RestoreResult) {
        if let failure = job.failed {
            dest.discardPartial(job.partial)
            result.problems.append((job.node.path, failure))
        } else {
            complete.append(index)
        }
    }

    /// Reads one bundle (only the span that holds the needed chunks), opens each chunk and writes it to its files.
    private func restoreBundle(_ work: BundleWork, partials: [String], dest: Destination) async throws -> BundleOutcome {
        let name = work.bundle.hex
        var written = [(file: Int, chunks: Int)]()
        var failures = [(file: Int, message: String)]()
        let allFiles = work.chunks.flatMap { $0.targets.map(\.file) }
        let end = UInt64(work.chunks.map { $0.entry.offset + $0.entry.length }.max() ?? 0)
        let first = UInt64(work.chunks.map(\.entry.offset).min() ?? 0)
        // Read from the start when the needed span begins near it; otherwise the prefix (for the salt) and the span.
        let spanStart = first <= 1 << 20 ? 0 : first
        let data: [UInt8]
        let opener: BundleOpener
        do {
            data = try await repository.backend.read(.bundle, name: name, range: spanStart..<end)
            let prefix = spanStart == 0 ? data.prefix(BundleFormat.prefixLength)
                : try await repository.backend.read(.bundle, name: name, range: 0..<UInt64(BundleFormat.prefixLength))[...]
            opener = try BundleOpener(prefix: prefix, name: name, keys: repository.keys)
        } catch let error as PlanVaultError {
            return .done(written: [], failures: allFiles.map { ($0, error.localizedDescription) })
        }
        for (entry, targets) in work.chunks {
            do {
                let start = Int(UInt64(entry.offset) - spanStart), stop = start + Int(entry.length)
                guard stop <= data.count else {
                    throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) lies past the end")
                }
                let plain = try data.withUnsafeBytes { try opener.openChunk(UnsafeRawBufferPointer(rebasing: $0[start..<stop]), entry: entry, keys: repository.keys) }
                for target in targets {
                    try plain.withUnsafeBytes { try dest.writePartial(partials[target.file], data: $0, offset: target.offset) }
                    written.append((target.file, 1))
                }
            } catch let error as PlanVaultError {
                failures += targets.map { ($0.file, error.localizedDescription) }
            }
        }
        return .done(written: written, failures: failures)
    }
}
