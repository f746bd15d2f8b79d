import Foundation

/// One entry found while walking the sources, before its content is read.
struct WalkedEntry {
    var node: SnapshotNode
    let source: WalkedSource
    /// Absolute path on this machine, made when needed: one string fewer held per file.
    var sourcePath: String { source.absolutePath(of: node.path) }
}

/// A source being walked: where it is on this machine, and its name (the first component of
/// every path under it in the snapshot).
final class WalkedSource: Sendable {
    let absolute: String
    let name: String

    init(absolute: String, name: String) {
        self.absolute = absolute
        self.name = name
    }

    /// The absolute path of `relative`, a snapshot path that starts with this source's name.
    func absolutePath(of relative: String) -> String {
        let rest = relative.utf8.dropFirst(name.utf8.count)
        if rest.isEmpty { return absolute }
        return (absolute == "/" ? "" : absolute) + String(decoding: rest, as: UTF8.self)
    }
}

/// Walks source paths depth-first in sorted order (parents before children),
/// applying excludes. Problems are collected, never silently dropped.
struct SourceWalker {
    let excludes: [String]
    private(set) var entries: [WalkedEntry] = []
    private(set) var problems: [(path: String, message: String)] = []

    /// The entries walked so far, handed over: the walker keeps no second reference, so the
    /// caller's changes do not copy the whole list.
    mutating func takeEntries() -> [WalkedEntry] {
        defer { entries = [] }
        return entries
    }

    init(excludes: [String]) {
        self.excludes = excludes
    }

    /// A source named on the command line is followed if it is a symlink (`/srv/plans -> /data/plans`
    /// means the plans, not the link); links inside it are stored as links.
    mutating func walk(source: String, as name: String) {
        var st = stat()
        if lstat(source, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, let real = realpath(source, nil) {
            let absolute = String(cString: real)
            free(real)
            visit(absolute: absolute, relative: name, source: WalkedSource(absolute: absolute, name: name))
        } else {
            visit(absolute: source, relative: name, source: WalkedSource(absolute: source, name: name))
        }
    }

    private func isExcluded(relative: String, name: String) -> Bool {
        for pattern in excludes {
            let subject = pattern.contains("/") ? relative : name
            if fnmatch(pattern, subject, 0) == 0 { return true }
        }
        return false
    }

    private mutating func visit(absolute: String, relative: String, source: WalkedSource) {
        var st = stat()
        guard lstat(absolute, &st) == 0 else {
            problems.append((absolute, String(cString: strerror(errno))))
            return
        }
        let mode = UInt32(st.st_mode) & 0o7777
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            var node = SnapshotNode(path: relative, type: .file, mode: mode, mtimeNs: mtime, size: UInt64(st.st_size),
                                    inode: UInt64(st.st_ino), device: UInt64(st.st_dev), chunks: [])
            node.ctimeNs = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
            entries.append(WalkedEntry(node: node, source: source))
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(absolute, &buf, buf.count - 1)
            guard n >= 0 else {
                problems.append((absolute, "cannot read link: \(String(cString: strerror(errno)))"))
                return
            }
            let bytes = buf[0..<n].map { UInt8(bitPattern: $0) }
            guard let target = String(validating: bytes, as: UTF8.self) else {
                problems.append((absolute, "link target is not valid UTF-8; skipped"))
                return
            }
            entries.append(WalkedEntry(node: SnapshotNode(path: relative, type: .symlink, mode: mode, mtimeNs: mtime, target: target),
                                       source: source))
        case S_IFDIR:
            entries.append(WalkedEntry(node: SnapshotNode(path: relative, type: .dir, mode: mode, mtimeNs: mtime), source: source))
            let listing: (valid: [String], invalid: [String])
            do { listing = try Self.childNames(absolute) } catch {
                problems.append((absolute, "cannot list folder: \(error.localizedDescription)"))
                return
            }
            for bad in listing.invalid {
                problems.append(("\(absolute)/\(bad)", "name is not valid UTF-8 and cannot be restored faithfully; skipped (rename it)"))
            }
            for name in listing.valid {
                let childRelative = "\(relative)/\(name)"
                if isExcluded(relative: childRelative, name: name) { continue }
                visit(absolute: absolute == "/" ? "/\(name)" : "\(absolute)/\(name)", relative: childRelative, source: source)
            }
        default:
            // Sockets, FIFOs and devices have no content to keep; say so rather than drop them silently.
            problems.append((absolute, "not a regular file, folder or symlink; skipped"))
        }
    }

    /// Sorted child names; names that are not valid UTF-8 are returned apart (lossily decoded, for messages).
    static func childNames(_ path: String) throws -> (valid: [String], invalid: [String]) {
        guard let dir = opendir(path) else { throw PlanVaultError.io(path: path, operation: "list folder", errno: errno) }
        defer { closedir(dir) }
        var names = [[UInt8]]()
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                // NULL with errno set is a read error (EIO, ESTALE on a share), not the end.
                if errno != 0 { throw PlanVaultError.io(path: path, operation: "list folder", errno: errno) }
                break
            }
            let bytes = FileIO.direntName(entry)
            if bytes == [46] || bytes == [46, 46] { continue }
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        var valid = [String](), invalid = [String]()
        for bytes in names {
            if let name = String(validating: bytes, as: UTF8.self) { valid.append(name) } else { invalid.append(String(decoding: bytes, as: UTF8.self)) }
        }
        return (valid, invalid)
    }
}
