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
        let lost = Set(bundles.filter { present[$0.key] != $0.value }.keys)
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

    /// Every known copy of a chunk, the preferred one first: a reader whose first copy fails
    /// tries the next before giving up.
    public func locations(of id: Digest32) -> [ChunkLocation] {
        guard let first = chunks[id] else { return [] }
        return [first] + (alternates[id] ?? []).filter { $0 != first }
    }
}
