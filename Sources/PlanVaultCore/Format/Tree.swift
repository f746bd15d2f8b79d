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
    public var chunks: [String]?
    public var target: String?
    public var subtree: String?

    enum CodingKeys: String, CodingKey {
        case name, type, mode, mtimeNs = "mtime_ns", size, ctimeNs = "ctime_ns", inode, device, chunks, target, subtree
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

    static func encode(_ entries: [TreeEntry]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(TreeObject(entries: entries)))
    }

    /// Parses and checks a tree: names usable as one path component, strictly ascending by their
    /// bytes (so no duplicates), folders with a subtree and nothing else with one.
    static func decode(_ bytes: [UInt8], id: String) throws -> [TreeEntry] {
        func damaged(_ reason: String) -> PlanVaultError {
            .objectDamaged(kind: .snapshot, name: "tree \(id.prefix(12))", reason: reason)
        }
        guard let tree = try? JSONDecoder().decode(TreeObject.self, from: Data(bytes)) else { throw damaged("not a readable tree") }
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
    struct Built {
        var root: Digest32
        /// Every tree of the snapshot, each once: its ID and plaintext.
        var trees: [(id: Digest32, bytes: [UInt8])]
    }

    static func build(_ nodes: [SnapshotNode], keys: MasterKeys) throws -> Built {
        var children = [PathKey: [TreeEntry]]()
        var trees = [(id: Digest32, bytes: [UInt8])]()
        var seen = Set<Digest32>()
        func store(_ entries: [TreeEntry]) throws -> Digest32 {
            let sorted = entries.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            let bytes = try TreeCodec.encode(sorted)
            let id = bytes.withUnsafeBytes { keys.chunkID($0) }
            if seen.insert(id).inserted { trees.append((id, bytes)) }
            return id
        }
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
                entry.subtree = try store(children.removeValue(forKey: PathKey(bytes)) ?? []).hex
            }
            children[parent, default: []].append(entry)
        }
        let root = try store(children.removeValue(forKey: PathKey([])) ?? [])
        if let orphan = children.keys.first {
            throw PlanVaultError.invalidArgument("snapshot nodes below \"\(String(decoding: orphan.bytes, as: UTF8.self))\", which is not a folder of the snapshot")
        }
        return Built(root: root, trees: trees)
    }
}
