/// Where one chunk is stored.
public struct ChunkLocation: Sendable, Hashable {
    public var bundle: Digest32
    public var entry: BundleEntry
}

/// The in-memory union of all index files: chunk ID → location, and the known bundles.
public struct ChunkIndex: Sendable {
    public private(set) var chunks: [Digest32: ChunkLocation] = [:]
    public private(set) var bundles: [Digest32: UInt64] = [:]
    /// Which index file named each bundle (for reporting).
    public private(set) var indexFileOfBundle: [Digest32: String] = [:]
    /// Further copies of chunks stored more than once (e.g. stored again after a bundle was lost).
    private var alternates: [Digest32: [ChunkLocation]] = [:]

    public init() {}

    public mutating func add(_ bundle: IndexedBundle, fromIndexFile name: String?) {
        bundles[bundle.id] = bundle.size
        if let name { indexFileOfBundle[bundle.id] = name }
        for e in bundle.entries {
            let location = ChunkLocation(bundle: bundle.id, entry: e)
            if chunks[e.id] == nil { chunks[e.id] = location } else { alternates[e.id, default: []].append(location) }
        }
    }

    public func contains(_ id: Digest32) -> Bool { chunks[id] != nil }

    /// Forgets bundles that are absent from the target or have another size than indexed.
    public mutating func retainBundles(_ present: [Digest32: UInt64]) {
        forget(Set(bundles.filter { present[$0.key] != $0.value }.keys))
    }

    /// Forgets the given bundles (lost or known damaged): their chunks are found in another copy
    /// if the index has one, and are otherwise absent, so a push stores them again.
    public mutating func forget(_ lost: Set<Digest32>) {
        guard !lost.isEmpty else { return }
        for id in lost { bundles.removeValue(forKey: id) }
        for (id, location) in chunks where lost.contains(location.bundle) {
            chunks[id] = alternates[id]?.first { !lost.contains($0.bundle) }
        }
        alternates = alternates.compactMapValues { list in
            let kept = list.filter { !lost.contains($0.bundle) }
            return kept.isEmpty ? nil : kept
        }
    }
    public func location(of id: Digest32) -> ChunkLocation? { chunks[id] }

    /// The index as bundles and their entries (every copy), for writing one new index file.
    public func indexedBundles() -> [IndexedBundle] {
        var entries = [Digest32: [BundleEntry]]()
        for location in chunks.values { entries[location.bundle, default: []].append(location.entry) }
        for list in alternates.values { for location in list { entries[location.bundle, default: []].append(location.entry) } }
        return bundles.keys.sorted().map { id in
            IndexedBundle(id: id, size: bundles[id] ?? 0, entries: Array(Set(entries[id] ?? [])).sorted { $0.slot < $1.slot })
        }
    }

    /// Every known copy of a chunk, the preferred one first: a reader whose first copy fails
    /// tries the next before giving up.
    public func locations(of id: Digest32) -> [ChunkLocation] {
        guard let first = chunks[id] else { return [] }
        return [first] + (alternates[id] ?? []).filter { $0 != first }
    }
}
