/// Checks snapshot paths before anything is written: every path must be
/// relative, made of ordinary components, and hang below a directory of the
/// same snapshot. A snapshot that breaks this is refused whole.
enum SnapshotPathRules {
    /// Splits on "/" bytes. Paths are handled as bytes throughout: Swift's String
    /// comparison and splitting follow Unicode rules ("/" + a combining mark is one
    /// character; NFC and NFD spellings compare equal), and the kernel does not.
    static func byteComponents(_ path: String) -> [[UInt8]] {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
    }

    static func components(of path: String) throws -> [[UInt8]] {
        let parts = byteComponents(path)
        guard !path.utf8.isEmpty, path.utf8.first != UInt8(ascii: "/") else {
            throw PlanVaultError.unsafePath("\"\(path)\" is absolute or empty; the snapshot may have been tampered with")
        }
        for part in parts where part.isEmpty || part == [46] || part == [46, 46] || part.contains(0) {
            throw PlanVaultError.unsafePath("\"\(path)\" has a \"\(String(decoding: part, as: UTF8.self))\" component that could lead outside the destination")
        }
        return parts
    }

    /// Validates every node: safe components, each below a folder recorded before it, no duplicates.
    static func validate(_ nodes: [SnapshotNode]) throws {
        var types = [[UInt8]: NodeType]()
        for node in nodes {
            let parts = try components(of: node.path)
            let key = Array(node.path.utf8)
            if parts.count > 1 {
                let parent = Array(key[0..<(key.count - parts[parts.count - 1].count - 1)])
                guard types[parent] == .dir else {
                    throw PlanVaultError.unsafePath("\"\(node.path)\" lies below \"\(String(decoding: parent, as: UTF8.self))\", which the snapshot does not record as a folder before it (a symlink trick?)")
                }
            }
            guard types[key] == nil else { throw PlanVaultError.unsafePath("\"\(node.path)\" appears twice in the snapshot") }
            types[key] = node.type
        }
    }

    /// Whether a node is selected by `--include` paths (the node itself, below one, or a folder above one).
    static func isSelected(_ path: String, includes: [String]) -> Bool {
        if includes.isEmpty { return true }
        let p = Array(path.utf8)
        for include in includes {
            let i = Array(include.utf8)
            if p == i || isBelow(p, i) || isBelow(i, p) { return true }
        }
        return false
    }

    /// Whether byte path `child` lies strictly below `parent`.
    static func isBelow(_ child: [UInt8], _ parent: [UInt8]) -> Bool {
        child.count > parent.count && child[parent.count] == UInt8(ascii: "/") && child.starts(with: parent)
    }
}
