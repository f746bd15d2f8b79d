import Foundation

/// One entry of a directory tree (FORMAT.md §9): a file, folder or symlink by name, with its
/// metadata and either its chunk IDs (files) or its subtree's ID (folders).
public struct TreeEntry: Codable, Sendable, Equatable {
    public var name: String
    public var type: NodeType
    public var mode: UInt32
    public var mtimeNs: Int64
    public var size: UInt64?
    public var ctimeNs: Int64?
    public var inode: UInt64?
    public var device: UInt64?
    /// Chunk IDs in order (files only); hex strings in the JSON, 32-byte values in memory.
    public var chunks: [Digest32]?
    public var target: String?
    public var subtree: String?

    enum CodingKeys: String, CodingKey {
        case name, type, mode, mtimeNs = "mtime_ns", size, ctimeNs = "ctime_ns", inode, device, chunks, target, subtree
    }

    /// A chunk ID in a tree that is not 64 hex digits.
    struct InvalidChunkID: Error {
        var entry: String
    }

    public init(name: String, type: NodeType, mode: UInt32, mtimeNs: Int64, size: UInt64?, ctimeNs: Int64?, inode: UInt64?,
                device: UInt64?, chunks: [Digest32]?, target: String?, subtree: String?) {
        self.name = name
        self.type = type
        self.mode = mode
        self.mtimeNs = mtimeNs
        self.size = size
        self.ctimeNs = ctimeNs
        self.inode = inode
        self.device = device
        self.chunks = chunks
        self.target = target
        self.subtree = subtree
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(NodeType.self, forKey: .type)
        mode = try c.decode(UInt32.self, forKey: .mode)
        mtimeNs = try c.decode(Int64.self, forKey: .mtimeNs)
        size = try c.decodeIfPresent(UInt64.self, forKey: .size)
        ctimeNs = try c.decodeIfPresent(Int64.self, forKey: .ctimeNs)
        inode = try c.decodeIfPresent(UInt64.self, forKey: .inode)
        device = try c.decodeIfPresent(UInt64.self, forKey: .device)
        let entryName = name
        chunks = try c.decodeIfPresent([String].self, forKey: .chunks).map { list in
            try list.map { hex in
                guard let id = Digest32(hex: hex) else { throw InvalidChunkID(entry: entryName) }
                return id
            }
        }
        target = try c.decodeIfPresent(String.self, forKey: .target)
        subtree = try c.decodeIfPresent(String.self, forKey: .subtree)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(mode, forKey: .mode)
        try c.encode(mtimeNs, forKey: .mtimeNs)
        try c.encodeIfPresent(size, forKey: .size)
        try c.encodeIfPresent(ctimeNs, forKey: .ctimeNs)
        try c.encodeIfPresent(inode, forKey: .inode)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encodeIfPresent(chunks?.map(\.hex), forKey: .chunks)
        try c.encodeIfPresent(target, forKey: .target)
        try c.encodeIfPresent(subtree, forKey: .subtree)
    }
}

/// A directory tree object: the plaintext of a tree blob, stored as a chunk in a bundle and
/// named by its chunk ID, so identical folders are stored once across snapshots and hosts.
struct TreeObject: Codable {
    var version = 2
    var entries: [TreeEntry]
}

public enum TreeCodec {
    /// Largest number of entries in one tree, and deepest nesting a reader follows (§14).
    public static let maxEntries = 1_000_000
    public static let maxDepth = 2048
    /// Largest number of nodes one snapshot expands to: trees may share subtrees, and a hostile
    /// tree that names one subtree many times must not expand without bound.
    public static let maxNodes = 2_000_000

    /// The stored form of a tree: compact JSON with sorted keys, byte for byte what `JSONEncoder`
    /// gives with `.sortedKeys` and `.withoutEscapingSlashes` (a test holds the two together), so
    /// trees written before keep their IDs. Written by hand because a push encodes every folder's
    /// tree, and `JSONEncoder` took a quarter of a no-change push of 100,000 files.
    static func encode(_ entries: [TreeEntry]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32 + entries.count * 192)
        out.append(contentsOf: #"{"entries":["#.utf8)
        for (i, entry) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            TreeJSON.append(entry, to: &out)
        }
        out.append(contentsOf: #"],"version":2}"#.utf8)
        return out
    }

    /// Parses and checks a tree: names usable as one path component, strictly ascending by their
    /// bytes (so no duplicates), folders with a subtree and nothing else with one.
    static func decode(_ bytes: [UInt8], id: String) throws -> [TreeEntry] {
        func damaged(_ reason: String) -> PlanVaultError {
            .objectDamaged(kind: .snapshot, name: "tree \(id.prefix(12))", reason: reason)
        }
        // The form PlanVault writes is read fast; any other JSON goes to JSONDecoder, as it always did.
        let tree: (version: Int64, entries: [TreeEntry])
        if let canonical = TreeJSONReader.read(bytes) {
            tree = canonical
        } else {
            do {
                let decoded = try JSONDecoder().decode(TreeObject.self, from: Data(bytes))
                tree = (Int64(decoded.version), decoded.entries)
            } catch let invalid as TreeEntry.InvalidChunkID {
                throw damaged("\"\(invalid.entry)\" has an invalid chunk ID")
            } catch {
                throw damaged("not a readable tree")
            }
        }
        guard tree.version == 2 else { throw damaged("tree version \(tree.version) is not 2") }
        guard tree.entries.count <= maxEntries else { throw damaged("\(tree.entries.count) entries, over the \(maxEntries) limit") }
        var previous: [UInt8]?
        for entry in tree.entries {
            let name = Array(entry.name.utf8)
            guard !name.isEmpty, name.count <= Limits.maxNameLength, !name.contains(0), !name.contains(UInt8(ascii: "/")),
                  name != [46], name != [46, 46] else {
                throw damaged("entry \"\(entry.name)\" is not a usable file name")
            }
            if let previous, !previous.lexicographicallyPrecedes(name) {
                throw damaged("entries are not in strictly ascending byte order at \"\(entry.name)\" (duplicate?)")
            }
            previous = name
            if (entry.type == .dir) != (entry.subtree != nil) {
                throw damaged("\"\(entry.name)\": only a folder has a subtree, and every folder has one")
            }
            if let subtree = entry.subtree, Digest32(hex: subtree) == nil { throw damaged("\"\(entry.name)\" has an invalid subtree ID") }
        }
        return tree.entries
    }
}

/// Turns a snapshot's flat node list (pre-order, parents first) into trees, bottom up.
enum TreeBuilder {
    /// Hands each folder's tree to `trees` as soon as it is complete, so no more than the folders
    /// still open are held at once; returns the root tree's ID. Trees `stored` has are not stored again.
    static func build(_ nodes: [SnapshotNode], into trees: inout TreeBundleWriter, unlessIn stored: ChunkIndex) async throws -> Digest32 {
        var children = [PathKey: [TreeEntry]]()
        // In reverse pre-order every folder's children come before the folder itself.
        for node in nodes.reversed() {
            let bytes = Array(node.path.utf8)
            let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
            let parent = PathKey(slash.map { Array(bytes[..<$0]) } ?? [])
            let name = String(decoding: slash.map { Array(bytes[($0 + 1)...]) } ?? bytes, as: UTF8.self)
            var entry = TreeEntry(name: name, type: node.type, mode: node.mode, mtimeNs: node.mtimeNs, size: node.size,
                                  ctimeNs: node.ctimeNs, inode: node.inode, device: node.device, chunks: node.chunks,
                                  target: node.target, subtree: nil)
            if node.type == .dir {
                entry.subtree = try await trees.store(children.removeValue(forKey: PathKey(bytes)) ?? [], unlessIn: stored).hex
            }
            children[parent, default: []].append(entry)
        }
        let root = try await trees.store(children.removeValue(forKey: PathKey([])) ?? [], unlessIn: stored)
        if let orphan = children.keys.first {
            throw PlanVaultError.invalidArgument("snapshot nodes below \"\(String(decoding: orphan.bytes, as: UTF8.self))\", which is not a folder of the snapshot")
        }
        return root
    }
}

/// Writes one tree entry as JSON, keys in sorted order, absent fields omitted (see `TreeCodec.encode`).
enum TreeJSON {
    static func append(_ entry: TreeEntry, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: #"":"#.utf8)
        }
        func number<T: BinaryInteger>(_ value: T) { out.append(contentsOf: String(value).utf8) }
        if let chunks = entry.chunks {
            key("chunks")
            out.append(UInt8(ascii: "["))
            for (i, id) in chunks.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: id.hex.utf8)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "]"))
        }
        if let ctime = entry.ctimeNs { key("ctime_ns"); number(ctime) }
        if let device = entry.device { key("device"); number(device) }
        if let inode = entry.inode { key("inode"); number(inode) }
        key("mode"); number(entry.mode)
        key("mtime_ns"); number(entry.mtimeNs)
        key("name"); string(entry.name, to: &out)
        if let size = entry.size { key("size"); number(size) }
        if let subtree = entry.subtree { key("subtree"); string(subtree, to: &out) }
        if let target = entry.target { key("target"); string(target, to: &out) }
        key("type"); string(entry.type.rawValue, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// A JSON string as `JSONEncoder` writes it: `"` and `\` escaped, the control characters
    /// as \b \t \n \f \r or \u00xx (lowercase hex), every other byte of the UTF-8 as it is.
    static func string(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
