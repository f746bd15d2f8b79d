/// Reads a tree written in exactly the form `TreeCodec.encode` gives: no whitespace, the known
/// keys each once and in sorted order, integers without fraction, exponent or leading zero, and
/// strings with only the escapes `JSONEncoder` writes. That form is every tree PlanVault writes.
/// Anything else (other whitespace or order, unknown keys, other escapes, a bad chunk ID, bytes
/// that are not UTF-8, too many entries) gives nil, and the caller reads it with `JSONDecoder`,
/// which accepts or refuses it as before: this reader only makes the common case fast (decoding
/// trees with `JSONDecoder` took over a third of a no-change push of 100,000 files).
/// Every read is bounds-checked; no count from the input sizes an allocation.
struct TreeJSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    /// The tree's version and entries, or nil when the bytes are not in the canonical form.
    static func read(_ bytes: [UInt8]) -> (version: Int64, entries: [TreeEntry])? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = TreeJSONReader(bytes: buffer)
            return reader.tree()
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func tree() -> (version: Int64, entries: [TreeEntry])? {
        guard literal(#"{"entries":["#) else { return nil }
        var entries = [TreeEntry]()
        if !byte(UInt8(ascii: "]")) {
            repeat {
                guard entries.count < TreeCodec.maxEntries, let entry = entry() else { return nil }
                entries.append(entry)
            } while byte(UInt8(ascii: ","))
            guard byte(UInt8(ascii: "]")) else { return nil }
        }
        guard literal(#","version":"#), let version = signed(), byte(UInt8(ascii: "}")), at == bytes.count else { return nil }
        return (version, entries)
    }

    /// The keys of an entry, in the order they are written.
    private enum Key: Int, CaseIterable {
        case chunks, ctimeNs, device, inode, mode, mtimeNs, name, size, subtree, target, type

        var text: String {
            switch self {
            case .ctimeNs: "ctime_ns"
            case .mtimeNs: "mtime_ns"
            default: "\(self)"
            }
        }

        static let byText: [[UInt8]: Key] = Dictionary(uniqueKeysWithValues: allCases.map { (Array($0.text.utf8), $0) })
    }

    private mutating func entry() -> TreeEntry? {
        guard byte(UInt8(ascii: "{")) else { return nil }
        var chunks: [Digest32]?, ctime: Int64?, device: UInt64?, inode: UInt64?, mode: UInt64?, mtime: Int64?
        var name: String?, size: UInt64?, subtree: String?, target: String?, type: NodeType?
        var last = -1
        repeat {
            // Keys strictly in order, so none twice.
            guard let key = key(), key.rawValue > last else { return nil }
            last = key.rawValue
            switch key {
            case .chunks: guard let value = chunkIDs() else { return nil }; chunks = value
            case .ctimeNs: guard let value = signed() else { return nil }; ctime = value
            case .device: guard let value = unsigned() else { return nil }; device = value
            case .inode: guard let value = unsigned() else { return nil }; inode = value
            case .mode: guard let value = unsigned(), value <= UInt64(UInt32.max) else { return nil }; mode = value
            case .mtimeNs: guard let value = signed() else { return nil }; mtime = value
            case .name: guard let value = string() else { return nil }; name = value
            case .size: guard let value = unsigned() else { return nil }; size = value
            case .subtree: guard let value = string() else { return nil }; subtree = value
            case .target: guard let value = string() else { return nil }; target = value
            case .type: guard let value = string().flatMap(NodeType.init(rawValue:)) else { return nil }; type = value
            }
        } while byte(UInt8(ascii: ","))
        guard byte(UInt8(ascii: "}")), let name, let type, let mode, let mtime else { return nil }
        return TreeEntry(name: name, type: type, mode: UInt32(mode), mtimeNs: mtime, size: size, ctimeNs: ctime, inode: inode,
                         device: device, chunks: chunks, target: target, subtree: subtree)
    }

    /// `"key":`, for a known key only.
    private mutating func key() -> Key? {
        guard byte(UInt8(ascii: "\"")) else { return nil }
        let start = at
        while at < bytes.count, bytes[at] != UInt8(ascii: "\"") { at += 1 }
        guard at < bytes.count, at - start <= 8 else { return nil }
        let key = Key.byText[Array(bytes[start..<at])]
        at += 1
        guard byte(UInt8(ascii: ":")) else { return nil }
        return key
    }

    /// `["64 hex digits",...]`
    private mutating func chunkIDs() -> [Digest32]? {
        guard byte(UInt8(ascii: "[")) else { return nil }
        var ids = [Digest32]()
        if byte(UInt8(ascii: "]")) { return ids }
        repeat {
            guard 66 <= bytes.count - at, bytes[at] == UInt8(ascii: "\""), bytes[at + 65] == UInt8(ascii: "\""),
                  let id = Digest32(hexDigits: UnsafeBufferPointer(rebasing: bytes[(at + 1)..<(at + 65)])) else { return nil }
            ids.append(id)
            at += 66
        } while byte(UInt8(ascii: ","))
        return byte(UInt8(ascii: "]")) ? ids : nil
    }

    /// Digits without a leading zero (other than 0 itself), no sign, fraction or exponent; nil on overflow.
    private mutating func unsigned() -> UInt64? {
        let start = at
        var value: UInt64 = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[at] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            at += 1
        }
        let digits = at - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        return value
    }

    private mutating func signed() -> Int64? {
        let negative = byte(UInt8(ascii: "-"))
        guard let magnitude = unsigned() else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// A string with only the escapes `JSONEncoder` writes (\" \\ \b \t \n \f \r, and \u00xx for
    /// the other control characters); nil if its bytes are not UTF-8.
    private mutating func string() -> String? {
        guard byte(UInt8(ascii: "\"")) else { return nil }
        var out = [UInt8]()
        while at < bytes.count {
            let c = bytes[at]
            at += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { return nil }
                let escape = bytes[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(escape)
                case UInt8(ascii: "\\"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "u"):
                    guard 4 <= bytes.count - at, bytes[at] == UInt8(ascii: "0"), bytes[at + 1] == UInt8(ascii: "0"),
                          let hi = Hex.nibble(bytes[at + 2]), let lo = Hex.nibble(bytes[at + 3]), hi < 2 else { return nil }
                    out.append(hi << 4 | lo)
                    at += 4
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                out.append(c)
            }
        }
        return nil
    }

    private mutating func byte(_ expected: UInt8) -> Bool {
        guard at < bytes.count, bytes[at] == expected else { return false }
        at += 1
        return true
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard count <= bytes.count - at else { return false }
        for i in 0..<count where bytes[at + i] != text.utf8Start[i] { return false }
        at += count
        return true
    }
}
