/// Checks snapshot paths before anything is written: every path must be
/// relative, made of ordinary components, and hang below a directory of the
/// same snapshot. A snapshot that breaks this is refused whole.
enum SnapshotPathRules {
    static func components(of path: String) throws -> [Substring] {
        guard !path.isEmpty, !path.hasPrefix("/") else {
            throw PlanVaultError.unsafePath("\"\(path)\" is absolute or empty; the snapshot may have been tampered with")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts where part.isEmpty || part == "." || part == ".." || part.contains("\0") {
            throw PlanVaultError.unsafePath("\"\(path)\" has a \"\(part)\" component that could lead outside the destination")
        }
        return parts
    }

    /// Validates every node; returns the set of directory paths.
    static func validate(_ nodes: [SnapshotNode]) throws -> Set<String> {
        var types = [String: NodeType]()
        for node in nodes {
            let parts = try components(of: node.path)
            if parts.count > 1 {
                let parent = parts.dropLast().joined(separator: "/")
                guard types[parent] == .dir else {
                    throw PlanVaultError.unsafePath("\"\(node.path)\" lies below \"\(parent)\", which the snapshot does not record as a folder before it (a symlink trick?)")
                }
            }
            guard types[node.path] == nil else { throw PlanVaultError.unsafePath("\"\(node.path)\" appears twice in the snapshot") }
            types[node.path] = node.type
        }
        return Set(types.filter { $0.value == .dir }.keys)
    }

    /// Whether a node is selected by `--include` paths (the node itself, below one, or a folder above one).
    static func isSelected(_ path: String, includes: [String]) -> Bool {
        if includes.isEmpty { return true }
        for include in includes {
            if path == include || path.hasPrefix(include + "/") || include.hasPrefix(path + "/") { return true }
        }
        return false
    }
}
