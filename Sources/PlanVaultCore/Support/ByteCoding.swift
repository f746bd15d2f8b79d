/// Little-endian binary encoding used by bundle headers and index files.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func digest(_ d: Digest32) { bytes.append(contentsOf: d.bytes) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw ByteReaderError.truncated }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func u32() throws -> UInt32 {
        let s = try take(4)
        return s.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    mutating func u64() throws -> UInt64 {
        let s = try take(8)
        return s.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    mutating func digest() throws -> Digest32 {
        let s = try take(32)
        return s.withUnsafeBytes { Digest32(unsafeBytes: $0) }
    }
}

enum ByteReaderError: Error { case truncated }

extension FixedWidthInteger {
    /// Big-endian bytes, used to build GCM nonces.
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: self.bigEndian) { Array($0) } }
}
