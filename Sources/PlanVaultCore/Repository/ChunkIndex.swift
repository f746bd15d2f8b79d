/// Where one chunk is stored.
public struct ChunkLocation: Sendable, Hashable {
    public var bundle: Digest32
    public var entry: BundleEntry
}

/// The in-memory union of all index files: chunk ID → location, and the known bundles.
///
/// It grows with the plan folder (one record per chunk), so it is kept compact: the records sit
/// in fixed-size segments (`SegmentedArray`) and name their bundle by number, and an open-addressing table of record
/// positions finds them by chunk ID. About 60 bytes a chunk, where a dictionary of locations
/// took some 300 (issue 12: memory flat as the folder grows).
public struct ChunkIndex: Sendable {
    public private(set) var bundles: [Digest32: UInt64] = [:]
    /// Which index file named each bundle (for reporting).
    public private(set) var indexFileOfBundle: [Digest32: String] = [:]
    /// Further copies of chunks stored more than once (e.g. stored again after a bundle was lost).
    private var alternates: [Digest32: [ChunkLocation]] = [:]

    private struct Record: Sendable {
        var entry: BundleEntry
        var bundle: UInt32
    }

    /// Bundles by number, and numbers by bundle; a number is never reused.
    private var bundleIDs: [Digest32] = []
    private var bundleNumbers: [Digest32: UInt32] = [:]
    /// The preferred copy of each chunk.
    private var records = SegmentedArray<Record>()
    /// Open addressing, linear probing: 0 is empty, n is `records[n - 1]`. Its size is a power of
    /// two, at most 70% full.
    private var slots: [UInt32] = []

    public init() {}

    /// The number of distinct chunks.
    public var chunkCount: Int { records.count }

    public mutating func add(_ bundle: IndexedBundle, fromIndexFile name: String?) {
        bundles[bundle.id] = bundle.size
        if let name { indexFileOfBundle[bundle.id] = name }
        let number = self.number(of: bundle.id)
        for e in bundle.entries {
            if let at = position(of: e.id) {
                let location = ChunkLocation(bundle: bundle.id, entry: e)
                if self.location(at: at) != location { alternates[e.id, default: []].append(location) }
            } else {
                append(Record(entry: e, bundle: number))
            }
        }
    }

    /// Notes the index file that names bundles added before it was written.
    public mutating func recordIndexFile(_ name: String, for bundles: [Digest32]) {
        for id in bundles where self.bundles[id] != nil { indexFileOfBundle[id] = name }
    }

    public func contains(_ id: Digest32) -> Bool { position(of: id) != nil }

    public func location(of id: Digest32) -> ChunkLocation? { position(of: id).map(location(at:)) }

    /// Every known copy of a chunk, the preferred one first: a reader whose first copy fails
    /// tries the next before giving up.
    public func locations(of id: Digest32) -> [ChunkLocation] {
        guard let first = location(of: id) else { return [] }
        return [first] + (alternates[id] ?? []).filter { $0 != first }
    }

    /// The preferred copy of every chunk.
    public var preferredLocations: [ChunkLocation] { records.indices.map(location(at:)) }

    /// Forgets bundles that are absent from the target or have another size than indexed.
    public mutating func retainBundles(_ present: [Digest32: UInt64]) {
        forget(Set(bundles.filter { present[$0.key] != $0.value }.keys))
    }

    /// Forgets the given bundles (lost or known damaged): their chunks are found in another copy
    /// if the index has one, and are otherwise absent, so a push stores them again.
    public mutating func forget(_ lost: Set<Digest32>) {
        guard !lost.isEmpty else { return }
        for id in lost { bundles.removeValue(forKey: id) }
        var kept = SegmentedArray<Record>()
        for record in records {
            guard lost.contains(bundleIDs[Int(record.bundle)]) else {
                kept.append(record)
                continue
            }
            if let next = alternates[record.entry.id]?.first(where: { !lost.contains($0.bundle) }) {
                kept.append(Record(entry: next.entry, bundle: number(of: next.bundle)))
            }
        }
        records = kept
        alternates = alternates.compactMapValues { list in
            let kept = list.filter { !lost.contains($0.bundle) }
            return kept.isEmpty ? nil : kept
        }
        rebuildSlots()
    }

    /// The index as bundles and their entries (every copy), for writing one new index file.
    public func indexedBundles() -> [IndexedBundle] {
        var entries = [[BundleEntry]](repeating: [], count: bundleIDs.count)
        for record in records { entries[Int(record.bundle)].append(record.entry) }
        for list in alternates.values {
            for location in list {
                if let number = bundleNumbers[location.bundle] { entries[Int(number)].append(location.entry) }
            }
        }
        return bundles.keys.sorted().map { id in
            let listed = bundleNumbers[id].map { entries[Int($0)] } ?? []
            return IndexedBundle(id: id, size: bundles[id] ?? 0, entries: Array(Set(listed)).sorted { $0.slot < $1.slot })
        }
    }

    // MARK: - Storage

    private func location(at position: Int) -> ChunkLocation {
        let record = records[position]
        return ChunkLocation(bundle: bundleIDs[Int(record.bundle)], entry: record.entry)
    }

    private mutating func number(of bundle: Digest32) -> UInt32 {
        if let known = bundleNumbers[bundle] { return known }
        let number = UInt32(truncatingIfNeeded: bundleIDs.count)
        bundleIDs.append(bundle)
        bundleNumbers[bundle] = number
        return number
    }

    private func position(of id: Digest32) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = id.hashValue & mask
        while true {
            let slot = slots[i]
            if slot == 0 { return nil }
            if records[Int(slot) - 1].entry.id == id { return Int(slot) - 1 }
            i = (i + 1) & mask
        }
    }

    private mutating func append(_ record: Record) {
        // A slot holds a record's position + 1 in 32 bits: four billion chunks would take over
        // 200 GiB of index in memory, so this is never reached on a real machine.
        precondition(records.count < Int(UInt32.max), "chunk index full")
        records.append(record)
        if records.count * 10 > slots.count * 7 {
            rebuildSlots()
        } else {
            place(records.count - 1)
        }
    }

    private mutating func rebuildSlots() {
        var size = 16
        while records.count * 10 > size * 7 { size *= 2 }
        slots = [UInt32](repeating: 0, count: size)
        for position in records.indices { place(position) }
    }

    private mutating func place(_ position: Int) {
        let mask = slots.count - 1
        var i = records[position].entry.id.hashValue & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = UInt32(truncatingIfNeeded: position + 1)
    }
}
