import Foundation

/// The trees of a snapshot being written. Each folder's entries are encoded and named as the
/// folder is finished; trees the repository does not have yet are sealed into bundles of their
/// own (FORMAT.md §9.2), a new bundle after `RepositoryWriter.treeBatchBytes` of plaintext, so a
/// large folder's trees are never all in memory at once.
struct TreeBundleWriter {
    let writer: RepositoryWriter
    /// Tree bundles written so far (not yet in any index file).
    private(set) var bundles = [IndexedBundle]()
    private(set) var bytesStored: UInt64 = 0
    /// Every distinct tree of the snapshot, stored now or before.
    private(set) var treeIDs = [Digest32]()
    private var seen = Set<Digest32>()
    private var pending = [(id: Digest32, bytes: [UInt8])]()
    private var pendingBytes = 0

    init(writer: RepositoryWriter) {
        self.writer = writer
    }

    /// Stores one folder's tree, unless `stored` (what the repository holds) has it, and returns
    /// its ID; `entries` may come in any order.
    mutating func store(_ entries: [TreeEntry], unlessIn stored: ChunkIndex) async throws -> Digest32 {
        let sorted = entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let bytes = TreeCodec.encode(sorted)
        let keys = writer.repository.keys
        let id = bytes.withUnsafeBytes { keys.chunkID($0) }
        guard seen.insert(id).inserted else { return id }
        treeIDs.append(id)
        guard !stored.contains(id) else { return id }
        guard bytes.count <= Limits.maxChunkSize else {
            throw PlanVaultError.invalidArgument("a folder of this snapshot lists too many entries to store (\(bytes.count) bytes of tree, limit \(Limits.maxChunkSize))")
        }
        pending.append((id, bytes))
        pendingBytes += bytes.count
        if pendingBytes >= min(writer.repository.config.bundleSize, RepositoryWriter.treeBatchBytes) { try await flush() }
        return id
    }

    /// Seals and writes the trees still waiting.
    mutating func flush() async throws {
        guard !pending.isEmpty else { return }
        let sealer = try BundleSealer(keys: writer.repository.keys)
        let sealed = try pending.enumerated().map { slot, tree in
            try tree.bytes.withUnsafeBytes { try sealer.seal($0, id: tree.id, slot: UInt32(slot)) }
        }
        let (bytes, entries) = try sealer.assemble(sealed)
        let id = try await writer.saveBundle(bytes)
        bundles.append(IndexedBundle(id: id, size: UInt64(bytes.count), entries: entries))
        bytesStored += UInt64(bytes.count)
        pending = []
        pendingBytes = 0
    }
}
