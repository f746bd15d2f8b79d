import Foundation

/// Decoded trees already read by this repository handle, so commands that walk many snapshots
/// (verify, repair) read each shared tree once. Bounded: cleared when it grows past its limit.
final class TreeCache: @unchecked Sendable {
    private let lock = NSLock()
    private var trees: [Digest32: [TreeEntry]] = [:]
    private var index: ChunkIndex?
    private let limit = 50_000

    func tree(_ id: Digest32) -> [TreeEntry]? {
        lock.lock()
        defer { lock.unlock() }
        return trees[id]
    }

    func store(_ id: Digest32, _ entries: [TreeEntry]) {
        lock.lock()
        defer { lock.unlock() }
        if trees.count >= limit { trees.removeAll(keepingCapacity: true) }
        trees[id] = entries
    }

    var knownIndex: ChunkIndex? {
        get { lock.lock(); defer { lock.unlock() }; return index }
        set { lock.lock(); defer { lock.unlock() }; index = newValue }
    }
}

/// What expanding a snapshot's trees does with a folder whose tree cannot be read from any copy.
public enum UnreadableFolderPolicy: Sendable {
    /// The snapshot fails to load: the default, for commands that need all of it.
    case fail
    /// The folder is left out of `nodes` and named in `Snapshot.unreadableFolders`, so a restore
    /// brings back everything else and says what it could not. The root tree must still be read.
    case reported
}

extension Repository {
    /// Loads a snapshot: its header, then its trees, expanded into the flat node list.
    public func loadSnapshot(_ id: String, listedSize: UInt64? = nil, index: ChunkIndex? = nil) async throws -> Snapshot {
        try await expandTrees(try await loadSnapshotHeader(id, listedSize: listedSize), id: id, index: index)
    }

    /// Fills in `nodes` and `treeIDs` from the snapshot's root tree.
    /// `cacheTrees: false` keeps the decoded trees out of the handle's cache, so each is let go
    /// as soon as it is expanded.
    public func expandTrees(_ header: Snapshot, id: String, index given: ChunkIndex? = nil,
                            cacheTrees: Bool = true, unreadableFolders policy: UnreadableFolderPolicy = .fail) async throws -> Snapshot {
        let (root, decoded, unreadable) = try await loadTrees(header, id: id, index: given, cacheTrees: cacheTrees, policy: policy)
        var snapshot = header
        snapshot.treeIDs = Array(decoded.keys).sorted()
        (snapshot.nodes, snapshot.unreadableFolders) = try flatten(root: root, trees: consume decoded, unreadable: unreadable, snapshot: id)
        return snapshot
    }

    /// Every tree of a snapshot, decoded, and its root. Each level of the trees is read with one
    /// ranged read per bundle; a tree whose copy fails is read from its next copy. With
    /// `policy: .reported`, trees that no copy gives are returned in `unreadable` with the reason
    /// (their subtrees are not looked for); the root tree is always required.
    func loadTrees(_ header: Snapshot, id: String, index given: ChunkIndex? = nil, cacheTrees: Bool = true,
                   policy: UnreadableFolderPolicy = .fail) async throws
        -> (root: Digest32, trees: [Digest32: [TreeEntry]], unreadable: [Digest32: String]) {
        guard let rootHex = header.tree, let root = Digest32(hex: rootHex) else {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "the snapshot names no root tree")
        }
        var index: ChunkIndex
        if let given { index = given } else if let known = trees.knownIndex { index = known } else {
            index = try await loadIndexWithBundles().load.index
            trees.knownIndex = index
        }
        var decoded = [Digest32: [TreeEntry]]()
        var unreadable = [Digest32: String]()
        var level: Set<Digest32> = [root]
        var depth = 0
        while !level.isEmpty {
            depth += 1
            guard depth <= TreeCodec.maxDepth else {
                throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "its folders nest deeper than \(TreeCodec.maxDepth) levels")
            }
            var missing = level.filter { decoded[$0] == nil && unreadable[$0] == nil }
            for tree in missing { if let cached = trees.tree(tree) { decoded[tree] = cached } }
            missing = missing.filter { decoded[$0] == nil }
            if missing.contains(where: { !index.contains($0) }) && given == nil {
                // Trees written since the index was read (by this process) are found on a fresh read.
                index = try await loadIndexWithBundles().load.index
                trees.knownIndex = index
            }
            let read = try await readTrees(missing, index: index, snapshot: id,
                                           policy: depth == 1 ? .fail : policy)
            for (tree, entries) in read.trees {
                decoded[tree] = entries
                if cacheTrees { trees.store(tree, entries) }
            }
            unreadable.merge(read.unreadable) { first, _ in first }
            var next = Set<Digest32>()
            for tree in level {
                for entry in decoded[tree] ?? [] {
                    if let sub = entry.subtree.flatMap(Digest32.init(hex:)), decoded[sub] == nil, unreadable[sub] == nil { next.insert(sub) }
                }
            }
            level = next
        }
        return (root, decoded, unreadable)
    }

    /// Pre-order walk (parents first, names in byte order) into snapshot nodes, with the limits of
    /// FORMAT.md §14 on path length and node count.
    /// Each tree is dropped once its last use is expanded, so the trees and the nodes made from
    /// them are not both held whole. A folder whose tree is in `unreadable` is left out and
    /// returned with the reason.
    private func flatten(root: Digest32, trees: consuming [Digest32: [TreeEntry]], unreadable: [Digest32: String],
                         snapshot id: String) throws -> (nodes: [SnapshotNode], unreadable: [UnreadableFolder]) {
        var uses = [Digest32: Int]()
        for entries in trees.values {
            for entry in entries { if let sub = entry.subtree.flatMap(Digest32.init(hex:)) { uses[sub, default: 0] += 1 } }
        }
        var nodes = [SnapshotNode]()
        var lost = [UnreadableFolder]()
        var stack: [(prefix: [UInt8], entries: [TreeEntry], next: Int)] = [([], trees[root] ?? [], 0)]
        if uses[root] == nil { trees.removeValue(forKey: root) }
        while var top = stack.popLast() {
            guard top.next < top.entries.count else { continue }
            let entry = top.entries[top.next]
            top.next += 1
            stack.append(top)
            let path = top.prefix.isEmpty ? Array(entry.name.utf8) : top.prefix + [UInt8(ascii: "/")] + Array(entry.name.utf8)
            guard path.count <= Limits.maxPathLength else {
                throw PlanVaultError.unsafePath("a path of \(path.count) bytes is over the \(Limits.maxPathLength) byte limit (snapshot \(id.prefix(8)))")
            }
            guard nodes.count < TreeCodec.maxNodes else {
                throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "its trees expand to more than \(TreeCodec.maxNodes) entries")
            }
            var node = SnapshotNode(path: String(decoding: path, as: UTF8.self), type: entry.type, mode: entry.mode, mtimeNs: entry.mtimeNs,
                                    size: entry.size, inode: entry.inode, device: entry.device, chunks: entry.chunks, target: entry.target)
            node.ctimeNs = entry.ctimeNs
            let subtree = entry.subtree.flatMap(Digest32.init(hex:))
            if let sub = subtree, let reason = unreadable[sub] {
                lost.append(UnreadableFolder(path: node.path, reason: "its contents are unknown: tree \(sub.shortHex) \(reason)"))
                continue
            }
            nodes.append(node)
            if let sub = subtree {
                guard let children = trees[sub] else {
                    throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "tree \(sub.shortHex) could not be read")
                }
                let left = (uses[sub] ?? 1) - 1
                uses[sub] = left
                if left <= 0 { trees.removeValue(forKey: sub) }
                stack.append((path, children, 0))
            }
        }
        return (nodes, lost)
    }

    /// Reads and decodes trees, grouped by the bundle of their first copy. A tree no copy gives
    /// fails the read (`.fail`) or is returned in `unreadable` with the reason (`.reported`).
    private func readTrees(_ ids: Set<Digest32>, index: ChunkIndex, snapshot: String, policy: UnreadableFolderPolicy) async throws
        -> (trees: [Digest32: [TreeEntry]], unreadable: [Digest32: String]) {
        var out = [Digest32: [TreeEntry]]()
        var unreadable = [Digest32: String]()
        func failed(_ id: Digest32, _ reason: String) throws {
            guard policy == .reported else {
                throw PlanVaultError.objectDamaged(kind: .snapshot, name: snapshot, reason: "tree \(id.shortHex) \(reason)")
            }
            unreadable[id] = reason
        }
        var byBundle = [Digest32: [ChunkLocation]]()
        for id in ids {
            guard let location = index.location(of: id) else {
                try failed(id, "is not in the index (run `planvault verify`)")
                continue
            }
            byBundle[location.bundle, default: []].append(location)
        }
        // Each tree is decoded as soon as it is opened: the plaintext of a whole bundle of trees
        // (tens of MiB for a large folder) is never held at once.
        let decode = { (id: Digest32, plain: [UInt8]) in Result { try TreeCodec.decode(plain, id: id.hex) } }
        for (bundle, locations) in byBundle {
            var trees: [Digest32: Result<[TreeEntry], any Error>]?
            var firstError = "bundle \(bundle.shortHex) could not be read"
            do {
                trees = try await readChunks(bundle: bundle, entries: locations.map(\.entry), transform: decode)
            } catch {
                // Said if no other copy can be read either.
                firstError += ": \(error.localizedDescription)"
            }
            for location in locations {
                var tree = trees?[location.entry.id]
                var lastError = trees == nil ? firstError : "its copy in bundle \(bundle.shortHex) does not authenticate"
                if tree == nil {
                    // Its next copies, one at a time.
                    for copy in index.locations(of: location.entry.id).dropFirst() {
                        do {
                            tree = try await readChunks(bundle: copy.bundle, entries: [copy.entry], transform: decode)[copy.entry.id]
                            break
                        } catch let error as PlanVaultError {
                            lastError = error.localizedDescription
                        }
                    }
                }
                guard let tree else {
                    try failed(location.entry.id, "could not be read: \(lastError)")
                    continue
                }
                do {
                    out[location.entry.id] = try tree.get()
                } catch {
                    try failed(location.entry.id, "could not be decoded: \(error.localizedDescription)")
                }
            }
        }
        return (out, unreadable)
    }

    /// Reads the span of a bundle that holds `entries` and opens each (authenticated) chunk.
    /// Chunks that fail to open are left out of the result.
    func readChunks(bundle: Digest32, entries: [BundleEntry]) async throws -> [Digest32: [UInt8]] {
        try await readChunks(bundle: bundle, entries: entries) { _, plain in plain }
    }

    /// As `readChunks(bundle:entries:)`, handing each chunk to `transform` as soon as it is opened,
    /// so only what `transform` keeps is held.
    func readChunks<T>(bundle: Digest32, entries: [BundleEntry],
                       transform: (_ id: Digest32, _ plain: [UInt8]) -> T) async throws -> [Digest32: T] {
        let name = bundle.hex
        let first = entries.map { UInt64($0.offset) }.min() ?? 0
        let end = entries.map { UInt64($0.offset) + UInt64($0.length) }.max() ?? 0
        let spanStart = first <= 1 << 20 ? 0 : first
        let data = try await backend.read(.bundle, name: name, range: spanStart..<end)
        let prefix = spanStart == 0 ? data.prefix(BundleFormat.prefixLength)
            : try await backend.read(.bundle, name: name, range: 0..<UInt64(BundleFormat.prefixLength))[...]
        let opener = try BundleOpener(prefix: prefix, name: name, keys: keys)
        var out = [Digest32: T]()
        for entry in entries {
            let start = UInt64(entry.offset) - spanStart, stop = start + UInt64(entry.length)
            guard stop <= UInt64(data.count) else { continue }
            let plain = try? data.withUnsafeBytes {
                try opener.openChunk(UnsafeRawBufferPointer(rebasing: $0[Int(start)..<Int(stop)]), entry: entry, keys: keys)
            }
            if let plain { out[entry.id] = transform(entry.id, plain) }
        }
        return out
    }
}

extension RepositoryWriter {
    public struct SavedSnapshot: Sendable {
        public var id: String
        public var size: Int
        /// Bundles of new trees (already indexed in `indexFile`).
        public var treeBundles: [IndexedBundle]
        public var indexFile: String?
        /// Bytes written: the header, tree bundles and their index file.
        public var bytesStored: UInt64
        public var snapshot: Snapshot
    }

    /// Plaintext of trees sealed into one bundle at most: trees compress well, so a full-size
    /// batch would hold tens of MiB of them in memory for a bundle of a few.
    static let treeBatchBytes = 4 * 1024 * 1024

    /// Stores a snapshot: its trees that the index does not have yet (in new bundles, indexed),
    /// then its header. Trees first, header last: a header never names a tree that is not stored.
    public func saveSnapshot(_ snapshot: Snapshot, index given: ChunkIndex? = nil) async throws -> SavedSnapshot {
        let index: ChunkIndex
        if let given { index = given } else { index = try await repository.loadIndexWithBundles().load.index }
        var trees = TreeBundleWriter(writer: self)
        let root = try await TreeBuilder.build(snapshot.nodes, into: &trees, unlessIn: index)
        try await trees.flush()
        var stored = trees.bytesStored
        var indexFile: String?
        if !trees.bundles.isEmpty {
            let saved = try await saveIndex(trees.bundles)
            indexFile = saved.name
            stored += UInt64(saved.size)
        }
        let header = try await saveSnapshotHeader(snapshot, root: root, treeIDs: trees.treeIDs)
        return SavedSnapshot(id: header.id, size: header.size, treeBundles: trees.bundles, indexFile: indexFile,
                             bytesStored: stored + UInt64(header.size), snapshot: header.snapshot)
    }

    /// Writes a snapshot's header naming `root`, whose trees (`treeIDs`) are already stored and
    /// indexed. Returns the header as saved, with `treeIDs` filled in.
    func saveSnapshotHeader(_ snapshot: Snapshot, root: Digest32, treeIDs: [Digest32]) async throws -> (id: String, size: Int, snapshot: Snapshot) {
        var header = snapshot
        header.tree = root.hex
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let sealed = try SealedObject.seal(Array(try encoder.encode(header)), kind: .snapshot, keys: repository.keys, compress: true)
        let id = LibCrypto.sha256(sealed).hex
        try await backend.write(.snapshot, name: id, data: sealed)
        repository.cache?.store(.snapshot, name: id, bytes: sealed)
        header.treeIDs = treeIDs.sorted()
        return (id, sealed.count, header)
    }
}
