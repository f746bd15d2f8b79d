/// An index file lists bundles and the chunks each holds. Plaintext layout
/// (sealed as an object of kind `index`, encoding 0):
///
///     "PVIX" | version u32 = 1 | bundle count u32 |
///     per bundle: bundle ID (32) | bundle size u64 | entry count u32 |
///                 per entry: chunk ID (32) | slot u32 | offset u32 | length u32 | raw length u32
public struct IndexedBundle: Sendable, Hashable {
    public var id: Digest32
    public var size: UInt64
    public var entries: [BundleEntry]

    public init(id: Digest32, size: UInt64, entries: [BundleEntry]) {
        self.id = id
        self.size = size
        self.entries = entries
    }
}

public enum IndexFile {
    static let magic = Array("PVIX".utf8)
    static let bundleRecordSize = 32 + 8 + 4
    static let entryRecordSize = 32 + 4 * 4

    public static func encode(_ bundles: [IndexedBundle]) -> [UInt8] {
        var w = ByteWriter(capacity: 12 + bundles.reduce(0) { $0 + 44 + $1.entries.count * 48 })
        w.raw(magic)
        w.u32(1)
        w.u32(UInt32(bundles.count))
        for b in bundles {
            w.digest(b.id)
            w.u64(b.size)
            w.u32(UInt32(b.entries.count))
            for e in b.entries {
                w.digest(e.id)
                w.u32(e.slot)
                w.u32(e.offset)
                w.u32(e.length)
                w.u32(e.rawLength)
            }
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> [IndexedBundle] {
        do {
            var r = ByteReader(bytes)
            guard Array(try r.take(4)) == magic else { throw ByteReaderError.truncated }
            let version = try r.u32()
            guard version == 1 else { throw PlanVaultError.unsupportedFormat("index file \(name) has version \(version)") }
            // Counts are checked against the bytes left before anything is reserved (FORMAT.md §14).
            let count = Int(try r.u32())
            guard count <= r.remaining / bundleRecordSize else {
                throw PlanVaultError.objectDamaged(kind: .index, name: name, reason: "claims \(count) bundles in \(r.remaining) bytes")
            }
            var out = [IndexedBundle]()
            out.reserveCapacity(count)
            for _ in 0..<count {
                let id = try r.digest()
                let size = try r.u64()
                guard size <= Limits.maxBundleSize else {
                    throw PlanVaultError.objectDamaged(kind: .index, name: name, reason: "bundle \(id.shortHex) claims \(size) bytes, over the 4 GiB limit")
                }
                let n = Int(try r.u32())
                guard n <= r.remaining / entryRecordSize else {
                    throw PlanVaultError.objectDamaged(kind: .index, name: name, reason: "bundle \(id.shortHex) claims \(n) entries in \(r.remaining) bytes")
                }
                var entries = [BundleEntry]()
                entries.reserveCapacity(n)
                for _ in 0..<n {
                    let entry = BundleEntry(id: try r.digest(), slot: try r.u32(), offset: try r.u32(), length: try r.u32(), rawLength: try r.u32())
                    if let problem = entry.problem(bundleSize: size) {
                        throw PlanVaultError.objectDamaged(kind: .index, name: name, reason: "bundle \(id.shortHex): \(problem)")
                    }
                    entries.append(entry)
                }
                out.append(IndexedBundle(id: id, size: size, entries: entries))
            }
            guard r.remaining == 0 else { throw ByteReaderError.truncated }
            return out
        } catch let error as PlanVaultError {
            throw error
        } catch {
            throw PlanVaultError.objectDamaged(kind: .index, name: name, reason: "malformed index data")
        }
    }
}
