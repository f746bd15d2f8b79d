import Foundation
import Logging

/// Turns the sources into trees folder by folder: lists a folder, keeps each unchanged file's
/// chunks from the parent, reads the others through the chunk pipeline, and stores the folder's
/// tree as soon as its last entry is done. Memory follows the folders still open (the path
/// from the root to the current folder), not the number of files (issue 12: memory flat as the
/// plan folder grows).
struct FolderArchiver {
    typealias Group = ChunkPipeline.Group

    let listing: SourceListing
    let logger: Logger
    let progress: (@Sendable (PushProgress) -> Void)?
    let times: StageTimes?
    var pipeline: ChunkPipeline
    var trees: TreeBundleWriter
    var parent: ParentTrees?
    /// Files, folders and links one snapshot may hold (`TreeCodec.maxNodes`; lower in tests).
    var maxNodes = TreeCodec.maxNodes

    private(set) var summary = SnapshotSummary()
    private(set) var problems = [(path: String, message: String)]()
    private(set) var warnings = [(path: String, message: String)]()
    var progressState = PushProgress(filesTotal: 0, bytesTotal: 0, filesDone: 0, bytesDone: 0)

    /// Archives every source and returns the root tree's ID: one entry per source, by its name.
    mutating func archive(_ sources: [Archiver.Source], group: inout Group) async throws -> Digest32 {
        var matcher = ParentMatcher(parent?.takeRoot() ?? [])
        var entries = [TreeEntry]()
        for source in sources.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            let old = matcher.entry(named: source.name)
            if let entry = try await visit(absolute: SourceListing.resolve(source: source.path), relative: source.name,
                                           name: source.name, old: old, group: &group) {
                entries.append(entry)
            }
        }
        return try await trees.store(entries, unlessIn: pipeline.index)
    }

    /// The tree entry for one path, or nil when it is left out of the snapshot (a problem says why).
    private mutating func visit(absolute: String, relative: String, name: String, old: TreeEntry?, group: inout Group) async throws -> TreeEntry? {
        var st = stat()
        let statStarted = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        let found = lstat(absolute, &st) == 0
        times?.add(.scan, DispatchTime.now().uptimeNanoseconds &- statStarted)
        guard found else {
            problems.append((absolute, String(cString: strerror(errno))))
            return nil
        }
        let mode = UInt32(st.st_mode) & 0o7777
        let mtime = st.mtimeNs
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            try checkRoomForOneMore(absolute)
            return try await file(absolute: absolute, name: name, st: st, old: old, group: &group)
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(absolute, &buf, buf.count - 1)
            guard n >= 0 else {
                problems.append((absolute, "cannot read link: \(String(cString: strerror(errno)))"))
                return nil
            }
            guard let target = String(validating: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) else {
                problems.append((absolute, "link target is not valid UTF-8; skipped"))
                return nil
            }
            try checkRoomForOneMore(absolute)
            summary.symlinks += 1
            return TreeEntry(name: name, type: .symlink, mode: mode, mtimeNs: mtime, size: nil, ctimeNs: nil, inode: nil,
                             device: nil, chunks: nil, target: target, subtree: nil)
        case S_IFDIR:
            try checkRoomForOneMore(absolute)
            summary.directories += 1
            let children = try await folder(absolute: absolute, relative: relative, parentEntries: parent?.takeFolder(of: old) ?? [], group: &group)
            let subtree = try await trees.store(children, unlessIn: pipeline.index)
            return TreeEntry(name: name, type: .dir, mode: mode, mtimeNs: mtime, size: nil, ctimeNs: nil, inode: nil,
                             device: nil, chunks: nil, target: nil, subtree: subtree.hex)
        default:
            // Sockets, FIFOs and devices have no content to keep; say so rather than drop them silently.
            problems.append((absolute, "not a regular file, folder or symlink; skipped"))
            return nil
        }
    }

    /// Refuses, while walking and before more is read and uploaded, an entry past the nodes one
    /// snapshot may hold: a snapshot no reader would accept is never saved (FORMAT.md §9.3).
    /// Called just before a file, link or folder is kept; entries left out do not count.
    private func checkRoomForOneMore(_ absolute: String) throws {
        guard summary.files + summary.directories + summary.symlinks < maxNodes else {
            throw PlanVaultError.invalidArgument("the sources hold more than the \(maxNodes) files, folders and links one snapshot may hold (FORMAT.md §9.3; stopped at \(absolute)); no snapshot was saved. Push them in parts, as separate source sets (`planvault push FOLDER` for each)")
        }
    }

    /// The entries of one folder, children in byte order. A folder that cannot be listed is kept
    /// (empty), and said.
    private mutating func folder(absolute: String, relative: String, parentEntries: [TreeEntry], group: inout Group) async throws -> [TreeEntry] {
        let listStarted = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        let names: (valid: [String], invalid: [String])
        do {
            names = try SourceListing.childNames(absolute)
        } catch {
            problems.append((absolute, "cannot list folder: \(error.localizedDescription)"))
            return []
        }
        times?.add(.scan, DispatchTime.now().uptimeNanoseconds &- listStarted)
        for bad in names.invalid {
            problems.append(("\(absolute)/\(bad)", "name is not valid UTF-8 and cannot be restored faithfully; skipped (rename it)"))
        }
        var matcher = ParentMatcher(parentEntries)
        var entries = [TreeEntry]()
        entries.reserveCapacity(names.valid.count)
        for name in names.valid {
            let childRelative = "\(relative)/\(name)"
            if listing.isExcluded(relative: childRelative, name: name) { continue }
            let childAbsolute = absolute == "/" ? "/\(name)" : "\(absolute)/\(name)"
            if let entry = try await visit(absolute: childAbsolute, relative: childRelative, name: name,
                                           old: matcher.entry(named: name), group: &group) {
                entries.append(entry)
            }
        }
        return entries
    }

    /// A file's entry: the parent's chunks if it is unchanged, else read now. A file that cannot
    /// be read is left out and said.
    private mutating func file(absolute: String, name: String, st: stat, old: TreeEntry?, group: inout Group) async throws -> TreeEntry? {
        let size = UInt64(st.st_size)
        let mtime = st.mtimeNs
        let ctime = st.ctimeNs
        // Unchanged: same size, mtime, inode and, as restic checks, ctime (which catches a rewrite
        // that put the old mtime back), and every chunk still indexed.
        if let old, old.type == .file, old.size == size, old.mtimeNs == mtime, old.inode == UInt64(st.st_ino), old.ctimeNs == ctime,
           let chunks = old.chunks, pipeline.referenceIfIndexed(chunks) {
            summary.files += 1
            summary.totalBytes += size
            progressState.filesDone += 1
            progressState.bytesDone += size
            progress?(progressState)
            return TreeEntry(name: name, type: .file, mode: UInt32(st.st_mode) & 0o7777, mtimeNs: mtime, size: size, ctimeNs: ctime,
                             inode: UInt64(st.st_ino), device: UInt64(st.st_dev), chunks: chunks, target: nil, subtree: nil)
        }
        var result: FileReadResult
        do {
            var state = progressState
            let report = progress
            result = try await pipeline.readFile(absolute, group: &group) { bytes in
                state.bytesDone += UInt64(bytes)
                report?(state)
            }
            // A file that changed while it was read is read once more; only a second inconsistent
            // read is kept, and then said (exit 3), never in silence.
            if result.changedWhileReading {
                logger.info("\(absolute) changed while it was read; reading it again")
                result = try await pipeline.readFile(absolute, group: &group) { _ in report?(state) }
                if result.changedWhileReading {
                    warnings.append((absolute, "changed while it was read, twice: the snapshot holds a copy that may mix old and new content; push again when it is not being written"))
                }
            }
        } catch let error as FileReadError {
            problems.append((absolute, error.message))
            progressState.filesDone += 1
            progressState.bytesDone += size
            return nil
        }
        pipeline.reference(result.chunks)
        summary.files += 1
        summary.filesRead += 1
        summary.totalBytes += result.size
        summary.bytesRead += result.size
        progressState.filesDone += 1
        progressState.bytesDone += size
        progress?(progressState)
        return TreeEntry(name: name, type: .file, mode: result.mode, mtimeNs: result.mtimeNs, size: result.size, ctimeNs: result.ctimeNs,
                         inode: result.inode, device: result.device, chunks: result.chunks, target: nil, subtree: nil)
    }
}
