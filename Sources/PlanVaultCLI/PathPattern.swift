import Foundation
import PlanVaultCore

/// Paths and globs (fnmatch(3)) against a snapshot's entries. A glob without "/" matches an entry's
/// name wherever it lies (`*call*`); one with "/" matches the whole path from the source folder
/// (`plans/Contacts/*.csv`, where `*` stops at "/"). A plain path means that entry and all below it.
struct PathPattern {
    let text: String
    let isGlob: Bool
    let ignoreCase: Bool
    private let pattern: String
    private let byName: Bool

    /// `alwaysGlob`: a plain word is matched as a glob too (`find call-tree.csv` finds it anywhere).
    init(_ raw: String, ignoreCase: Bool = false, alwaysGlob: Bool = false) {
        // Leading, trailing and doubled slashes carry no meaning: snapshot paths are relative.
        let cleaned = raw.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        text = raw
        isGlob = alwaysGlob || cleaned.contains { $0 == "*" || $0 == "?" || $0 == "[" }
        self.ignoreCase = ignoreCase
        pattern = ignoreCase ? cleaned.lowercased() : cleaned
        byName = isGlob && !cleaned.contains("/")
    }

    var isEmpty: Bool { pattern.isEmpty }

    /// Whether the entry at `path` is itself a match (not counting what lies below a match).
    func matches(_ path: String) -> Bool {
        let subject = ignoreCase ? path.lowercased() : path
        // Bytes, not Swift's Unicode equality: two spellings of one name are two files on disk.
        if !isGlob { return subject.utf8.elementsEqual(pattern.utf8) }
        if byName { return fnmatch(pattern, Self.name(of: subject), 0) == 0 }
        return fnmatch(pattern, subject, FNM_PATHNAME) == 0
    }

    /// Whether the entry at `path` is selected: it or a folder above it matches.
    func selects(_ path: String) -> Bool {
        var bytes = Array(path.utf8)
        while true {
            if matches(String(decoding: bytes, as: UTF8.self)) { return true }
            guard let up = Self.parent(of: bytes) else { return false }
            bytes = up
        }
    }

    /// Whether an entry this pattern selects could lie in the folder at `path`, whose contents are
    /// unknown: the folder is selected, the pattern names a path inside it, or it is a glob.
    func couldSelectInside(_ path: String) -> Bool {
        isGlob || selects(path) || pattern.utf8.starts(with: (ignoreCase ? path.lowercased() : path).utf8 + [UInt8(ascii: "/")])
    }

    static func name(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }

    static func parent(of path: [UInt8]) -> [UInt8]? {
        path.lastIndex(of: UInt8(ascii: "/")).map { Array(path[..<$0]) }
    }

    /// The entries that match a pattern or lie below a match, in snapshot order (parents first),
    /// and the patterns that matched nothing. With `ancestors`, the folders above each match are
    /// kept too (a restore needs them to put the match in place).
    static func select(_ nodes: [SnapshotNode], _ patterns: [PathPattern], ancestors: Bool = false)
        -> (nodes: [SnapshotNode], unmatched: [PathPattern]) {
        var hit = [Bool](repeating: false, count: patterns.count)
        var selected = Set<[UInt8]>()
        var above = Set<[UInt8]>()
        var keep = [Bool](repeating: false, count: nodes.count)
        for (n, node) in nodes.enumerated() {
            let bytes = Array(node.path.utf8)
            var chosen = false
            for (p, pattern) in patterns.enumerated() where pattern.matches(node.path) {
                hit[p] = true
                chosen = true
            }
            if chosen && ancestors {
                var up = parent(of: bytes)
                while let folder = up, above.insert(folder).inserted { up = parent(of: folder) }
            }
            // Pre-order: a node's parent was decided before it.
            if !chosen, let up = parent(of: bytes), selected.contains(up) { chosen = true }
            if chosen {
                selected.insert(bytes)
                keep[n] = true
            }
        }
        var out = [SnapshotNode]()
        for (n, node) in nodes.enumerated() where keep[n] || (ancestors && above.contains(Array(node.path.utf8))) { out.append(node) }
        return (out, patterns.enumerated().filter { !hit[$0.offset] }.map(\.element))
    }

    /// Paths the user may have meant: entries with the pattern's last name, else names containing it.
    static func suggestions(for pattern: PathPattern, in nodes: [SnapshotNode], limit: Int = 5) -> [String] {
        let cleaned = pattern.text.split(separator: "/").joined(separator: "/")
        let wanted = name(of: cleaned).lowercased().filter { !"*?[]".contains($0) }
        guard !wanted.isEmpty else { return [] }
        let exact = nodes.filter { name(of: $0.path).lowercased() == wanted }
        let near = exact.isEmpty ? nodes.filter { name(of: $0.path).lowercased().contains(wanted) } : exact
        return near.prefix(limit).map(\.path)
    }

    /// The hint for a pattern that matched nothing in a snapshot.
    static func noMatch(_ pattern: PathPattern, in nodes: [SnapshotNode], snapshot id: String, option: String) -> String {
        var text = "nothing in snapshot \(id.prefix(8)) matches \(option)\"\(pattern.text)\""
        let near = suggestions(for: pattern, in: nodes)
        if !near.isEmpty { text += "; did you mean \(near.map { "\"\($0)\"" }.joined(separator: ", "))?" }
        text += " (paths start with the source folder's name, as `planvault ls \(id.prefix(8))` shows; a glob without \"/\" such as '*call*' matches names anywhere;"
            + " `planvault find PATTERN` searches every snapshot)"
        return text
    }
}
