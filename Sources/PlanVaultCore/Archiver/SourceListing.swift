import Foundation

/// What a push sees of the sources: each folder's children in byte order, with the excludes
/// applied. Problems (names that are not UTF-8, folders that cannot be listed) are returned for
/// the caller to report, never dropped.
struct SourceListing {
    let excludes: [String]

    /// True when `name` (at `relative`, the snapshot path) matches an exclude pattern: a pattern
    /// with a "/" is matched against the path, one without against the name.
    func isExcluded(relative: String, name: String) -> Bool {
        for pattern in excludes {
            let subject = pattern.contains("/") ? relative : name
            if fnmatch(pattern, subject, 0) == 0 { return true }
        }
        return false
    }

    /// A source named on the command line is followed if it is a symlink (`/srv/plans -> /data/plans`
    /// means the plans, not the link); links inside it are stored as links.
    static func resolve(source: String) -> String {
        var st = stat()
        guard lstat(source, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, let real = realpath(source, nil) else { return source }
        defer { free(real) }
        return String(cString: real)
    }

    /// Files and their bytes under the sources, for a progress bar's total (counted only when
    /// a bar is shown: it is a second pass over the metadata).
    func count(sources: [(path: String, name: String)]) -> (files: Int, bytes: UInt64) {
        var files = 0
        var bytes: UInt64 = 0
        func visit(_ absolute: String, _ relative: String) {
            var st = stat()
            guard lstat(absolute, &st) == 0 else { return }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                files += 1
                bytes += UInt64(st.st_size)
            case S_IFDIR:
                guard let listing = try? Self.childNames(absolute) else { return }
                for name in listing.valid {
                    let childRelative = "\(relative)/\(name)"
                    if isExcluded(relative: childRelative, name: name) { continue }
                    visit(absolute == "/" ? "/\(name)" : "\(absolute)/\(name)", childRelative)
                }
            default: break
            }
        }
        for source in sources { visit(Self.resolve(source: source.path), source.name) }
        return (files, bytes)
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
