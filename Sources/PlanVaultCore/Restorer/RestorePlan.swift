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

    /// Checks a path's components in one pass, without splitting it, and returns the byte
    /// length of the parent part (nil at top level). Linear in the path's length, so a snapshot of
    /// deep folders is checked in time proportional to its size.
    @discardableResult
    static func checkComponents(of path: String) throws -> Int? {
        let bytes = Array(path.utf8)
        guard bytes.count <= Limits.maxPathLength else {
            throw PlanVaultError.unsafePath("a path of \(bytes.count) bytes is over the \(Limits.maxPathLength) byte limit")
        }
        guard let first = bytes.first, first != UInt8(ascii: "/") else {
            throw PlanVaultError.unsafePath("\"\(path)\" is absolute or empty; the snapshot may have been tampered with")
        }
        var lastSlash: Int?
        try bytes.withUnsafeBufferPointer { p in
            var start = 0
            for end in 0...p.count where end == p.count || p[end] == UInt8(ascii: "/") {
                let length = end - start
                if length > Limits.maxNameLength {
                    throw PlanVaultError.unsafePath("\"\(path)\" has a \(length)-byte name, over the \(Limits.maxNameLength) byte limit")
                }
                let isDot = length == 1 && p[start] == 46, isDotDot = length == 2 && p[start] == 46 && p[start + 1] == 46
                if length == 0 || isDot || isDotDot || UnsafeBufferPointer(rebasing: p[start..<end]).contains(0) {
                    let part = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
                    throw PlanVaultError.unsafePath("\"\(path)\" has a \"\(part)\" component that could lead outside the destination")
                }
                if end < p.count { lastSlash = end }
                start = end + 1
            }
        }
        return lastSlash
    }

    /// Validates every node: safe components, each below a folder recorded before it, no duplicates.
    static func validate(_ nodes: [SnapshotNode]) throws {
        var types = [PathKey: NodeType]()
        types.reserveCapacity(nodes.count)
        for node in nodes {
            let parentLength = try checkComponents(of: node.path)
            let key = PathKey(node.path)
            if let parentLength {
                let parent = PathKey(Array(key.bytes[0..<parentLength]))
                guard types[parent] == .dir else {
                    throw PlanVaultError.unsafePath("\"\(node.path)\" lies below \"\(String(decoding: parent.bytes, as: UTF8.self))\", which the snapshot does not record as a folder before it (a symlink trick?)")
                }
            }
            guard types[key] == nil else { throw PlanVaultError.unsafePath("\"\(node.path)\" appears twice in the snapshot") }
            types[key] = node.type
        }
    }

    /// Why a node's fields cannot be restored as recorded, or nil. Such a node is damaged: it is
    /// reported and not restored (push never writes one), rather than restored differently.
    static func nodeProblem(_ node: SnapshotNode) -> String? {
        if node.mode & ~UInt32(0o7777) != 0 {
            return "its mode \(String(node.mode, radix: 8)) has bits outside 07777 (the snapshot is damaged)"
        }
        switch node.type {
        case .file:
            if node.chunks == nil { return "the file has no chunk list (the snapshot is damaged)" }
            if node.size == nil { return "the file has no size (the snapshot is damaged)" }
        case .symlink:
            guard let target = node.target, !target.isEmpty, target.utf8.count <= Limits.maxPathLength, !target.utf8.contains(0) else {
                return "the symlink has no usable target (the snapshot is damaged)"
            }
        case .dir:
            break
        }
        return nil
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

/// A path as bytes, hashed in one call over its memory (hashing byte by byte made checking a
/// snapshot of deep folders slow).
struct PathKey: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ path: String) { bytes = Array(path.utf8) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: PathKey, b: PathKey) -> Bool { a.bytes == b.bytes }
}
