/// Bundles: many encrypted chunks in one content-addressed object.
///
///     "PVB1" | salt (32) | record 0 | record 1 | ... | header record | header length (u32 LE) | "PVBE"
///
/// Records may appear in any order; the header gives each one's offset.
/// Record i = AES-256-GCM(bundleKey, nonce = 0x00000000 || u64be(i), aad = "PVB1" || chunk ID)
///            of (encoding || payload), followed by its 16-byte tag.
/// Header   = AES-256-GCM(bundleKey, nonce = 0x00000001 || 0^8, aad = "PVB1 header")
///            of (u32 count || count × (chunk ID (32) | offset u32 | length u32 | raw length u32)).
/// bundleKey = HKDF-SHA256(dataKey, salt, "planvault/v1/bundle"). The nonce is a counter
/// within one key, and the key is fresh per bundle: no (key, nonce) pair repeats.
public struct BundleEntry: Sendable, Hashable {
    public var id: Digest32
    /// Position of the record in the bundle; also its nonce counter.
    public var slot: UInt32
    public var offset: UInt32
    /// Record length including the tag.
    public var length: UInt32
    /// Plaintext chunk length.
    public var rawLength: UInt32

    /// Why this entry cannot describe a record of a bundle of `bundleSize` bytes, or nil when it
    /// can (FORMAT.md §14). Checked on every entry read from an index file or a bundle header, so
    /// later arithmetic on offsets and lengths cannot overflow or reach past the bundle.
    public func problem(bundleSize: UInt64) -> String? {
        let end = UInt64(offset) + UInt64(length)
        if rawLength == 0 || Int(rawLength) > Limits.maxChunkSize {
            return "chunk \(id.shortHex) claims \(rawLength) bytes, outside 1 to \(Limits.maxChunkSize)"
        }
        if Int(length) < Limits.recordOverhead || UInt64(length) > UInt64(rawLength) + UInt64(Limits.recordOverhead) {
            return "chunk \(id.shortHex) has a record of \(length) bytes for \(rawLength) bytes of data"
        }
        if UInt64(offset) < UInt64(BundleFormat.prefixLength) || end > bundleSize {
            return "chunk \(id.shortHex) at offset \(offset) (+\(length)) lies outside the bundle's \(bundleSize) bytes"
        }
        return nil
    }
}

public struct SealedChunk: Sendable {
    public let id: Digest32
    public let record: [UInt8]
    public let rawLength: Int
}

public enum BundleFormat {
    static let magic = Array("PVB1".utf8)
    static let endMagic = Array("PVBE".utf8)
    static let saltLength = 32
    static let prefixLength = 4 + saltLength
    static let trailerLength = 8
    static let headerAAD = Array("PVB1 header".utf8)
    static let headerEntrySize = 32 + 12

    static func chunkNonce(slot: UInt32) -> [UInt8] { [0, 0, 0, 0] + UInt64(slot).bigEndianBytes }
    static let headerNonce: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    static func chunkAAD(_ id: Digest32) -> [UInt8] { magic + id.bytes }
}

/// Encrypts the chunks of one bundle under that bundle's own key. Immutable, so
/// worker tasks can seal chunks of the same bundle concurrently.
public final class BundleSealer: Sendable {
    public let salt: [UInt8]
    let key: SecretKey

    public init(keys: MasterKeys) throws {
        salt = try LibCrypto.randomBytes(BundleFormat.saltLength)
        key = try keys.bundleKey(salt: salt)
    }

    /// Compresses (when worthwhile) and encrypts one chunk as record `slot`.
    /// `level`: zlib level for a chunk the probe finds compressible; nil to store it as it is.
    public func seal(_ data: UnsafeRawBufferPointer, id: Digest32, slot: UInt32, level: Int32? = Zlib.defaultLevel,
                     times: StageTimes? = nil) throws -> SealedChunk {
        var packed: [UInt8]?
        if let level {
            let worth = times?.time(.probe) { CompressibilityProbe.isWorthCompressing(data) } ?? CompressibilityProbe.isWorthCompressing(data)
            packed = worth ? (times?.time(.compress, bytes: data.count) { Zlib.compressIfSmaller(data, level: level) }
                ?? Zlib.compressIfSmaller(data, level: level)) : nil
        }
        // The record's plaintext is the encoding byte and the payload, encrypted as two parts.
        var encoding = packed == nil ? PayloadEncoding.stored.rawValue : PayloadEncoding.zlib.rawValue
        let key = self.key
        let seal = {
            try withUnsafeBytes(of: &encoding) { head in
                try packed.withUnsafeBytesOrRaw(data) { body in
                    try LibCrypto.aes256GCMSeal(key: key, nonce: BundleFormat.chunkNonce(slot: slot), aad: BundleFormat.chunkAAD(id),
                                                parts: [head, body])
                }
            }
        }
        let record = try times?.time(.encrypt, bytes: 1 + (packed?.count ?? data.count), seal) ?? seal()
        return SealedChunk(id: id, record: record, rawLength: data.count)
    }

    /// A new bundle's bytes so far: magic and salt. Records are appended as they are sealed.
    public func start(reservingCapacity capacity: Int) -> [UInt8] {
        var out = [UInt8]()
        start(&out, reservingCapacity: capacity)
        return out
    }

    /// Starts a new bundle in `bytes`, replacing what it held and keeping its memory.
    public func start(_ bytes: inout [UInt8], reservingCapacity capacity: Int) {
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(capacity)
        bytes += BundleFormat.magic
        bytes += salt
    }

    /// Appends a sealed record (in any order) and returns its header entry.
    public func append(_ chunk: SealedChunk, slot: UInt32, to bytes: inout [UInt8]) -> BundleEntry {
        let entry = BundleEntry(id: chunk.id, slot: slot, offset: UInt32(bytes.count), length: UInt32(chunk.record.count),
                                rawLength: UInt32(chunk.rawLength))
        bytes += chunk.record
        return entry
    }

    /// Appends the sealed header (entries in slot order) and the trailer, completing the bundle.
    public func finish(_ bytes: inout [UInt8], entries: [BundleEntry]) throws {
        guard bytes.count < Int(UInt32.max) else { throw PlanVaultError.invalidArgument("bundle larger than 4 GiB") }
        var header = ByteWriter(capacity: 4 + entries.count * BundleFormat.headerEntrySize)
        header.u32(UInt32(entries.count))
        for (slot, e) in entries.enumerated() {
            precondition(e.slot == UInt32(slot), "bundle entries must be given in slot order")
            header.digest(e.id)
            header.u32(e.offset)
            header.u32(e.length)
            header.u32(e.rawLength)
        }
        let sealedHeader = try LibCrypto.aes256GCMSeal(key: key, nonce: BundleFormat.headerNonce, aad: BundleFormat.headerAAD, plaintext: header.bytes)
        bytes += sealedHeader
        var trailer = ByteWriter()
        trailer.u32(UInt32(sealedHeader.count))
        bytes += trailer.bytes
        bytes += BundleFormat.endMagic
    }

    /// Lays out sealed records, given in slot order, into a complete bundle.
    public func assemble(_ records: [SealedChunk]) throws -> (bytes: [UInt8], entries: [BundleEntry]) {
        var bytes = start(reservingCapacity: records.reduce(BundleFormat.prefixLength + 64) { $0 + $1.record.count + BundleFormat.headerEntrySize })
        let entries = records.enumerated().map { append($1, slot: UInt32($0), to: &bytes) }
        try finish(&bytes, entries: entries)
        return (bytes, entries)
    }
}

/// Reads bundles back: the header, and single chunks, each authenticated.
public struct BundleOpener: Sendable {
    let key: SecretKey
    public let name: String

    /// `prefix` is the first 36 bytes of the bundle ("PVB1" and the salt).
    public init(prefix: ArraySlice<UInt8>, name: String, keys: MasterKeys) throws {
        guard prefix.count >= BundleFormat.prefixLength, Array(prefix.prefix(4)) == BundleFormat.magic else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "bad magic: not a PlanVault bundle")
        }
        let salt = Array(prefix[(prefix.startIndex + 4)..<(prefix.startIndex + BundleFormat.prefixLength)])
        key = try keys.bundleKey(salt: salt)
        self.name = name
    }

    /// Length of the sealed header, from a bundle's last 8 bytes.
    public static func headerLength(trailer: ArraySlice<UInt8>, bundleSize: UInt64, name: String) throws -> Int {
        guard trailer.count == BundleFormat.trailerLength, Array(trailer.suffix(4)) == BundleFormat.endMagic else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "bad end marker (truncated?)")
        }
        var reader = ByteReader(Array(trailer.prefix(4)))
        let length = Int((try? reader.u32()) ?? 0)
        guard bundleSize <= Limits.maxBundleSize, length >= 16 + 4,
              UInt64(length) + UInt64(BundleFormat.prefixLength + BundleFormat.trailerLength) <= bundleSize else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "header length \(length) does not fit the bundle's \(bundleSize) bytes")
        }
        return length
    }

    /// Decrypts and parses the sealed header record of a bundle of `bundleSize` bytes.
    public func entries(sealedHeader: ArraySlice<UInt8>, bundleSize: UInt64) throws -> [BundleEntry] {
        let plain: [UInt8]
        do {
            plain = try sealedHeader.withUnsafeBytes {
                try LibCrypto.aes256GCMOpen(key: key, nonce: BundleFormat.headerNonce, aad: BundleFormat.headerAAD, sealed: $0)
            }
        } catch {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "header authentication failed")
        }
        return try BundleHeader.parse(plain, bundleSize: bundleSize, name: name)
    }

    /// All entries of a bundle held entirely in memory.
    public func entries(bundle: [UInt8]) throws -> [BundleEntry] {
        guard bundle.count >= BundleFormat.prefixLength + BundleFormat.trailerLength else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "only \(bundle.count) bytes (truncated)")
        }
        let length = try Self.headerLength(trailer: bundle[(bundle.count - 8)...], bundleSize: UInt64(bundle.count), name: name)
        let end = bundle.count - BundleFormat.trailerLength
        return try entries(sealedHeader: bundle[(end - length)..<end], bundleSize: UInt64(bundle.count))
    }

    /// Decrypts one record, decodes it and checks that its content hashes to its ID.
    public func openChunk(_ record: UnsafeRawBufferPointer, entry: BundleEntry, keys: MasterKeys) throws -> [UInt8] {
        guard record.count == Int(entry.length), Int(entry.rawLength) <= Limits.maxChunkSize else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) record is \(record.count) bytes, expected \(entry.length)")
        }
        let opened: (tag: UInt8, body: [UInt8])
        do {
            opened = try LibCrypto.aes256GCMOpenTagged(key: key, nonce: BundleFormat.chunkNonce(slot: entry.slot),
                                                       aad: BundleFormat.chunkAAD(entry.id), sealed: record)
        } catch {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) at offset \(entry.offset) failed authentication")
        }
        let data: [UInt8]
        switch PayloadEncoding(rawValue: opened.tag) {
        case .stored?:
            data = opened.body
        case .zlib?:
            do {
                data = try opened.body.withUnsafeBytes { try Zlib.decompress($0, expectedSize: Int(entry.rawLength)) }
            } catch {
                throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex): \(error)")
            }
        case nil:
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) has an unknown encoding")
        }
        guard data.count == Int(entry.rawLength), data.withUnsafeBytes({ keys.chunkID($0) }) == entry.id else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "chunk \(entry.id.shortHex) does not match its ID")
        }
        return data
    }
}

/// The plaintext of a bundle header: u32 count, then count × (chunk ID | offset | length | raw length).
/// Separate from decryption so the parser can be fuzzed without a key.
enum BundleHeader {
    static func parse(_ plain: [UInt8], bundleSize: UInt64, name: String) throws -> [BundleEntry] {
        do {
            var reader = ByteReader(plain)
            let count = Int(try reader.u32())
            guard count.multipliedReportingOverflow(by: BundleFormat.headerEntrySize) == (reader.remaining, false) else {
                throw ByteReaderError.truncated
            }
            var out = [BundleEntry]()
            out.reserveCapacity(count)
            for slot in 0..<count {
                let entry = BundleEntry(id: try reader.digest(), slot: UInt32(slot), offset: try reader.u32(),
                                        length: try reader.u32(), rawLength: try reader.u32())
                if let problem = entry.problem(bundleSize: bundleSize) {
                    throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "header entry \(slot): \(problem)")
                }
                out.append(entry)
            }
            return out
        } catch let error as PlanVaultError {
            throw error
        } catch {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "header is malformed")
        }
    }
}

extension Optional where Wrapped == [UInt8] {
    /// Runs `body` with these bytes, or with `fallback` when there are none.
    func withUnsafeBytesOrRaw<T>(_ fallback: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        switch self {
        case .some(let bytes): return try bytes.withUnsafeBytes(body)
        case .none: return try body(fallback)
        }
    }
}
