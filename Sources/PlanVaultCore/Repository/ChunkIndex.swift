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

    public init() {}

    public mutating func add(_ bundle: IndexedBundle, fromIndexFile name: String?) {
        bundles[bundle.id] = bundle.size
        if let name { indexFileOfBundle[bundle.id] = name }
        for e in bundle.entries where chunks[e.id] == nil {
            chunks[e.id] = ChunkLocation(bundle: bundle.id, entry: e)
        }
    }

    public func contains(_ id: Digest32) -> Bool { chunks[id] != nil }
    public func location(of id: Digest32) -> ChunkLocation? { chunks[id] }
}
