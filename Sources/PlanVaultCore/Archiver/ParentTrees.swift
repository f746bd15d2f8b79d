import Foundation

/// The parent snapshot's trees, decoded, for a push to match files against folder by folder.
/// Each tree is let go after its last use (a tree shared by several folders, such as the one
/// every empty folder has, is counted), so the parent shrinks as the push goes on.
struct ParentTrees {
    private var trees: [Digest32: [TreeEntry]]
    private var uses = [Digest32: Int]()
    let root: Digest32

    init(root: Digest32, trees: [Digest32: [TreeEntry]]) {
        self.root = root
        self.trees = trees
        uses[root, default: 0] += 1
        for entries in trees.values {
            for entry in entries { if let sub = entry.subtree.flatMap(Digest32.init(hex:)) { uses[sub, default: 0] += 1 } }
        }
    }

    /// The entries of the root tree (one per source), let go.
    mutating func takeRoot() -> [TreeEntry] { take(root) }

    /// The entries of the parent's folder that `entry` names, when it is a folder; empty otherwise.
    /// Every subtree was read and checked when the parent was loaded.
    mutating func takeFolder(of entry: TreeEntry?) -> [TreeEntry] {
        guard let entry, entry.type == .dir, let sub = entry.subtree.flatMap(Digest32.init(hex:)) else { return [] }
        return take(sub)
    }

    private mutating func take(_ id: Digest32) -> [TreeEntry] {
        let left = (uses[id] ?? 1) - 1
        uses[id] = left
        // Loading the parent read every tree its folders name, or failed: a tree missing here is
        // a bug, and matching against nothing would read every file of that folder again unsaid.
        guard let entries = left <= 0 ? trees.removeValue(forKey: id) : trees[id] else {
            preconditionFailure("the parent snapshot's tree \(id.hex) was not loaded")
        }
        return entries
    }
}

/// Finds the parent's entry for each name of a folder listed in byte order: both lists are
/// sorted by the names' bytes, so one pass over the parent's entries serves the whole folder.
struct ParentMatcher {
    private let entries: [TreeEntry]
    private var next = 0

    init(_ entries: [TreeEntry]) { self.entries = entries }

    /// The parent's entry named `name`, byte for byte (an NFC and an NFD spelling are two names).
    /// Names must be asked for in ascending byte order.
    mutating func entry(named name: String) -> TreeEntry? {
        while next < entries.count, entries[next].name.utf8.lexicographicallyPrecedes(name.utf8) { next += 1 }
        guard next < entries.count, entries[next].name.utf8.elementsEqual(name.utf8) else { return nil }
        return entries[next]
    }
}
