import Foundation
import PlanVaultCore

/// `drill --sample N`: draws files at random from a snapshot and compares the restored copies
/// with their sources at the primary site (CP-9(1)'s example of a reliability test).
enum DrillSample {
    struct Comparison {
        var compared = 0
        var matched = 0
        var notCompared = 0
        /// Snapshot paths whose restored bytes differ from an unchanged source.
        var differing: [String] = []
    }

    /// Up to `count` regular files, drawn uniformly without replacement, in path order.
    static func draw(_ snapshot: Snapshot, count: Int) -> [SnapshotNode] {
        var generator = SystemRandomNumberGenerator()
        let files = snapshot.nodes.filter { $0.type == .file }
        return Array(files.shuffled(using: &generator).prefix(count)).sorted { $0.path < $1.path }
    }

    /// A file is compared only where its source exists on this machine as a regular file with the
    /// size and modification time the snapshot recorded: a source edited since is not evidence
    /// against the copy, so it is counted as not compared rather than as a mismatch.
    static func compare(_ files: [SnapshotNode], restoredIn scratch: String, sources: [String]) -> Comparison {
        var result = Comparison()
        for node in files {
            guard let source = sourcePath(of: node.path, sources: sources), unchanged(source, node) else {
                result.notCompared += 1
                continue
            }
            result.compared += 1
            if sameBytes(source, scratch + "/" + node.path) {
                result.matched += 1
            } else {
                result.differing.append(node.path)
            }
        }
        return result
    }

    /// The first path component is the source's last component (push requires them distinct).
    static func sourcePath(of path: String, sources: [String]) -> String? {
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first else { return nil }
        let matches = sources.filter { ($0 as NSString).lastPathComponent == String(first) }
        guard matches.count == 1, let source = matches.first else { return nil }
        return parts.count == 2 ? source + "/" + parts[1] : source
    }

    static func unchanged(_ path: String, _ node: SnapshotNode) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        let mtime = st.mtimeNs
        return UInt64(st.st_size) == node.size && mtime == node.mtimeNs
    }

    /// Byte-for-byte equality, read in 1 MiB pieces so a large plan is never held whole.
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard let fa = FileHandle(forReadingAtPath: a), let fb = FileHandle(forReadingAtPath: b) else { return false }
        defer {
            try? fa.close()
            try? fb.close()
        }
        do {
            while true {
                // nil and empty both mean the end of the file.
                let x = try fa.read(upToCount: 1 << 20) ?? Data(), y = try fb.read(upToCount: 1 << 20) ?? Data()
                if x != y { return false }
                if x.isEmpty { return true }
            }
        } catch {
            return false
        }
    }
}
