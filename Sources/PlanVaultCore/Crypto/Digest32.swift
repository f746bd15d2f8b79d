/// A 32-byte value: a SHA-256 or HMAC-SHA256 output, used as an object or chunk ID.
/// Stored as four words so hashing and comparison in dictionaries are cheap.
public struct Digest32: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    static var zeroBytes: [UInt8] { [UInt8](repeating: 0, count: 32) }

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32, "Digest32 needs 32 bytes")
        self = bytes.withUnsafeBytes { Digest32(unsafeBytes: $0) }
    }

    public init(unsafeBytes p: UnsafeRawBufferPointer) {
        w0 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    /// Parses 64 hex digits; nil for anything else.
    public init?(hex: String) {
        self.init(hexDigits: Array(hex.utf8))
    }

    /// Parses 64 hex digits given as UTF-8 bytes; nil for anything else.
    public init?<Digits: RandomAccessCollection>(hexDigits utf8: Digits) where Digits.Element == UInt8, Digits.Index == Int {
        guard utf8.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        let start = utf8.startIndex
        for i in 0..<32 {
            guard let hi = Hex.nibble(utf8[start + 2 * i]), let lo = Hex.nibble(utf8[start + 2 * i + 1]) else { return nil }
            bytes[i] = hi << 4 | lo
        }
        self.init(bytes)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: w0.bigEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: w1.bigEndian, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: w2.bigEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: w3.bigEndian, toByteOffset: 24, as: UInt64.self)
        }
        return out
    }

    public var hex: String { Hex.encode(bytes) }
    public var shortHex: String { String(hex.prefix(8)) }
    public var description: String { hex }

    public static func < (a: Digest32, b: Digest32) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
