/// Content-defined chunking with FastCDC (Xia et al., 2016/2020): a gear rolling
/// hash with cut-point skipping and normalised chunking.
///
/// The gear table is derived from the repository's master key, so chunk
/// boundaries (and therefore chunk sizes) reveal nothing to someone who knows a
/// plaintext file but not the key: the same defence restic gets from its secret
/// Rabin polynomial.
public struct ChunkerParameters: Codable, Sendable, Equatable {
    public var minSize: Int
    public var averageSize: Int
    public var maxSize: Int

    /// For new repositories (an existing one keeps the sizes in its config). A repeated extent
    /// is found only where it spans whole chunks, so smaller chunks find more of a disk image's
    /// repeats. Measured on the benchmark corpus's disk image (75 MB, zlib level 1 per chunk):
    /// 1 MiB average chunks store 40.3 MB of it, 512 KiB 38.0 MB, 256 KiB 34.7 MB. The whole first
    /// push (three rounds each, alternating, new repositories): 837.4 MiB on average with
    /// 64 KiB / 256 KiB / 1 MiB against 840.1 MiB with 128 KiB / 512 KiB / 2 MiB, for the same CPU
    /// (6.4–7.3 s user+sys against 6.7–7.5 s); those paid in turn for the cheaper zlib default.
    public static let `default` = ChunkerParameters(minSize: 64 * 1024, averageSize: 256 * 1024, maxSize: 1024 * 1024)

    public init(minSize: Int, averageSize: Int, maxSize: Int) {
        self.minSize = minSize
        self.averageSize = averageSize
        self.maxSize = maxSize
    }

    enum CodingKeys: String, CodingKey {
        case minSize = "min_size", averageSize = "average_size", maxSize = "max_size"
    }

    /// Chunk sizes must be ordered, the average a power of two, and the maximum fit a bundle record.
    public var isValid: Bool {
        minSize >= 64 && minSize < averageSize && averageSize < maxSize && maxSize <= 64 * 1024 * 1024
            && averageSize & (averageSize - 1) == 0
    }

    /// log2 of the average size: the number of mask bits at the average.
    var averageBits: Int { Int.bitWidth - 1 - averageSize.leadingZeroBitCount }
}

public struct GearTable: Sendable {
    public let values: [UInt64]

    /// Derives the 256 gear values from 2048 key-derived bytes (little-endian words).
    public init(keyMaterial: [UInt8]) {
        precondition(keyMaterial.count == 2048, "gear table needs 2048 bytes")
        values = keyMaterial.withUnsafeBytes { p in
            (0..<256).map { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
    }
}

public struct Chunker: Sendable {
    public let parameters: ChunkerParameters
    let gear: GearTable
    /// Harder mask (more bits) before the average size, easier one after: normalised chunking, level 2.
    let maskBeforeAverage: UInt64
    let maskAfterAverage: UInt64

    public init(parameters: ChunkerParameters, gear: GearTable) {
        self.parameters = parameters
        self.gear = gear
        let bits = parameters.averageBits
        // The gear hash shifts left, so its high bits depend on the most input bytes:
        // the masks select the top bits.
        maskBeforeAverage = ~UInt64(0) << UInt64(64 - (bits + 2))
        maskAfterAverage = ~UInt64(0) << UInt64(64 - (bits - 2))
    }

    /// Length of the next chunk at the start of `data`. When `data` holds fewer
    /// than `maxSize` bytes it must be the end of the stream.
    public func nextCut(_ data: UnsafeRawBufferPointer) -> Int {
        let n = data.count
        if n <= parameters.minSize { return n }
        let normal = min(parameters.averageSize, n)
        let limit = min(parameters.maxSize, n)
        let bytes = data.bindMemory(to: UInt8.self)
        return gear.values.withUnsafeBufferPointer { g -> Int in
            var fp: UInt64 = 0
            var i = parameters.minSize
            while i < normal {
                fp = (fp &<< 1) &+ g[Int(bytes[i])]
                if fp & maskBeforeAverage == 0 { return i + 1 }
                i += 1
            }
            while i < limit {
                fp = (fp &<< 1) &+ g[Int(bytes[i])]
                if fp & maskAfterAverage == 0 { return i + 1 }
                i += 1
            }
            return limit
        }
    }

    /// Splits a whole in-memory buffer into chunk lengths.
    public func cuts(of data: [UInt8]) -> [Int] {
        var lengths = [Int]()
        data.withUnsafeBytes { p in
            var offset = 0
            while offset < p.count {
                let len = nextCut(UnsafeRawBufferPointer(rebasing: p[offset...]))
                lengths.append(len)
                offset += len
            }
        }
        return lengths
    }
}
