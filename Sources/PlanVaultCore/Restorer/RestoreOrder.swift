#if canImport(Glibc)
import Glibc
#endif

/// The order a restore writes files in: files matching a `--first` pattern (in the patterns'
/// order), then the rest; small files before large ones within each class. On disaster day the
/// call tree is wanted before the video archive.
public enum RestoreOrder {
    /// Index of the first pattern that selects `path`, or nil. A pattern with a "/" is matched
    /// against the whole snapshot path, one without against each name in it; either way a
    /// pattern that selects a folder selects everything below it (as `--exclude` does for push).
    public static func rank(of path: String, patterns: [String]) -> Int? {
        patterns.firstIndex { matches($0, path) }
    }

    /// Whether one pattern selects `path` (see `rank`).
    public static func matches(_ raw: String, _ path: String) -> Bool {
        let pattern = String(raw.drop { $0 == "/" })
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if pattern.contains("/") {
            var prefix = ""
            for part in parts {
                prefix = prefix.isEmpty ? String(part) : "\(prefix)/\(part)"
                if fnmatch(pattern, prefix, 0) == 0 { return true }
            }
            return false
        }
        return parts.contains { fnmatch(pattern, String($0), 0) == 0 }
    }

    /// File indices in writing order: by pattern rank (unmatched last), then size, then path.
    static func sorted(_ files: [(path: String, size: UInt64)], patterns: [String]) -> (order: [Int], ranks: [Int?]) {
        let ranks = files.map { rank(of: $0.path, patterns: patterns) }
        let order = files.indices.sorted { a, b in
            let ra = ranks[a] ?? Int.max, rb = ranks[b] ?? Int.max
            if ra != rb { return ra < rb }
            if files[a].size != files[b].size { return files[a].size < files[b].size }
            return Array(files[a].path.utf8).lexicographicallyPrecedes(Array(files[b].path.utf8))
        }
        return (order, ranks)
    }
}
