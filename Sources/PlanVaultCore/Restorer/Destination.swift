import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The restore destination. Every operation takes a snapshot-relative path (already validated
/// by `SnapshotPathRules`) and works relative to descriptors of folders opened with `O_NOFOLLOW`
/// from the destination's root: nothing is written through a symlink, whatever the snapshot or a
/// pre-existing link in the destination says, and there is no window between a check and a use.
/// Opening each folder from its already-open parent also keeps deep trees linear in time.
final class Destination: Sendable {
    let root: String
    private let folders: FolderHandles

    init(path: String) throws {
        do {
            try FileIO.makeFolders(path)
        } catch PlanVaultError.io(let failed, _, let code) where code != ENOSPC && code != EDQUOT {
            // A full filesystem stays an I/O error: the command names it "full" and exits 6.
            throw PlanVaultError.invalidArgument("cannot create the destination \(path): \(failed): \(String(cString: strerror(code))); choose a folder you can write to")
        }
        guard let real = realpath(path, nil) else { throw PlanVaultError.io(path: path, operation: "resolve", errno: errno) }
        root = String(cString: real)
        free(real)
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PlanVaultError.io(path: root, operation: "open", errno: errno) }
        folders = FolderHandles(root: root, rootFD: fd)
    }

    func absolute(_ relative: String) -> String { "\(root)/\(relative)" }

    /// The parent folder's path bytes and the last component of a validated relative path.
    private func split(_ relative: String) -> (parent: [UInt8], name: [UInt8]) {
        let bytes = Array(relative.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return ([], bytes) }
        return (Array(bytes[..<slash]), Array(bytes[(slash + 1)...]))
    }

    private func kind(in folder: Int32, _ name: [UInt8]) -> mode_t? {
        var st = stat()
        return name.cString { fstatat(folder, $0, &st, AT_SYMLINK_NOFOLLOW) } == 0 ? st.st_mode & S_IFMT : nil
    }

    func makeDirectory(_ relative: String) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            if name.cString({ mkdirat(folder, $0, 0o700) }) == 0 { return }
            let code = errno
            guard code == EEXIST else { throw PlanVaultError.io(path: absolute(relative), operation: "create folder", errno: code) }
            guard kind(in: folder, name) == S_IFDIR else { throw PlanVaultError.alreadyExists(path: absolute(relative)) }
        }
    }

    /// Checks that `relative` may be restored: nothing is there, or (with `overwrite`) a file or
    /// link that the commit will replace. A folder in the way is never replaced.
    func checkPlace(_ relative: String, overwrite: Bool) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            if let existing = kind(in: folder, name) {
                guard overwrite, existing != S_IFDIR else { throw PlanVaultError.alreadyExists(path: absolute(relative)) }
            }
        }
    }

    /// A hidden name for the temporary file of a file being restored: 64 random bits, so it
    /// meets no other file (stale ones were removed first, see `removeStaleTemporaryFiles`).
    static func newPartialName() throws -> [UInt8] {
        Array(".pv-restore-\(Hex.encode(try LibCrypto.randomBytes(8)))".utf8)
    }

    /// Creates the temporary file `partial` beside `relative`, with room for `size` bytes, and
    /// returns a write descriptor. The real name is taken only by `commitPartial`, once every
    /// byte is in and synced. Never opens a file that was already there (O_EXCL).
    func createPartial(_ relative: String, partial: [UInt8], size: UInt64) throws -> Int32 {
        let (parent, _) = split(relative)
        return try folders.with(parent) { folder in
            let fd = partial.cString { openat(folder, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "create a temporary file beside", errno: errno) }
            do {
                try Self.reserve(fd: fd, size: size, path: absolute(relative))
            } catch {
                close(fd)
                _ = partial.cString { unlinkat(folder, $0, 0) }
                throw error
            }
            return fd
        }
    }

    /// Files at least this large get their blocks allocated when created: a full disk is found
    /// before any of the file's bytes are written, and the file is laid out in one piece.
    static let preallocateFrom: UInt64 = 1 << 20

    /// Sizes a new temporary file to `size`, allocating its blocks where the filesystem can.
    static func reserve(fd: Int32, size: UInt64, path: String) throws {
        guard size <= UInt64(Int64.max) else { throw PlanVaultError.io(path: path, operation: "reserve \(size) bytes for", errno: EFBIG) }
        if size >= preallocateFrom {
            if linuxFallocate(fd, 0, 0, Int64(size)) == 0 { return }
            let code = errno
            // Filesystems without fallocate (some network shares) are sized with ftruncate below.
            guard code == EOPNOTSUPP || code == ENOSYS || code == EINVAL else {
                let what = code == ENOSPC || code == EDQUOT ? "reserve \(size) bytes (the destination is full) for" : "reserve \(size) bytes for"
                throw PlanVaultError.io(path: path, operation: what, errno: code)
            }
        }
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw PlanVaultError.io(path: path, operation: "reserve \(size) bytes for", errno: errno)
        }
    }

    /// Opens the temporary file `createPartial` made again for writing (its descriptor was closed
    /// to stay within the open-file limit).
    func reopenPartial(_ relative: String, partial: [UInt8]) throws -> Int32 {
        let (parent, _) = split(relative)
        return try folders.with(parent) { folder in
            let fd = partial.cString { openat(folder, $0, O_WRONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "open the temporary file of", errno: errno) }
            return fd
        }
    }

    /// Writes restored bytes at `offset` of a temporary file, through its open descriptor.
    func writePartial(_ relative: String, fd: Int32, data: UnsafeRawBufferPointer, offset: UInt64) throws {
        try FileIO.pwriteFully(fd: fd, data, offset: offset, path: absolute(relative))
    }

    /// Gives the temporary file its mode, time and real name. `durable`: the file is synced before
    /// the rename and its folder after, so the file is on disk under its name when this returns
    /// (for a priority file announced at once); otherwise the caller has synced with `sync()`.
    func commitPartial(_ relative: String, partial: [UInt8], fd given: Int32?, mode: UInt32, mtimeNs: Int64, durable: Bool = false) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            let fd = given ?? partial.cString { openat(folder, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "open the temporary file of", errno: errno) }
            defer { if given == nil { close(fd) } }
            guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "chmod", errno: errno) }
            var times = Self.times(mtimeNs)
            guard futimens(fd, &times) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "set time of", errno: errno) }
            if durable, fsync(fd) != 0 { throw PlanVaultError.io(path: absolute(relative), operation: "flush to disk", errno: errno) }
            let renamed = partial.cString { from in name.cString { to in renameat(folder, from, folder, to) } }
            guard renamed == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "rename into place", errno: errno) }
            if durable, fsync(folder) != 0 { throw PlanVaultError.io(path: absolute(relative), operation: "flush the folder of", errno: errno) }
            // Its bytes are on disk (synced above, or by the caller's sync): their page-cache copy
            // is let go, so a large restore does not push the machine's other cached files out,
            // and later files reuse that memory. On a VM whose host takes back idle memory,
            // memory touched anew costs a fault in the host: about 7 s of kernel time per GiB here.
            // Only advice: a kernel that ignores it loses nothing.
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        }
    }

    /// Runs `body` with a read descriptor and the size of the regular file at `relative`; nil when
    /// nothing or something else (a folder, a link, a device) is there. Never follows a link.
    func withExistingFile<T>(_ relative: String, _ body: (Int32, UInt64) throws -> T) throws -> T? {
        let (parent, name) = split(relative)
        return try folders.with(parent) { folder -> T? in
            guard kind(in: folder, name) == S_IFREG else { return nil }
            // O_NONBLOCK: should a FIFO replace the file after the check, opening it does not hang.
            let fd = name.cString { openat(folder, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "open the existing file", errno: errno) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "inspect the existing file", errno: errno) }
            guard st.st_mode & S_IFMT == S_IFREG else { return nil }
            return try body(fd, UInt64(st.st_size))
        }
    }

    /// Sets mode and time of an existing regular file kept as it is (its content matched).
    func applyFileMetadata(_ relative: String, mode: UInt32, mtimeNs: Int64) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            let fd = name.cString { openat(folder, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "open the existing file", errno: errno) }
            defer { close(fd) }
            guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "chmod", errno: errno) }
            var times = Self.times(mtimeNs)
            guard futimens(fd, &times) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "set time of", errno: errno) }
        }
    }

    /// The target of the symlink at `relative`, or nil when no symlink is there.
    func existingLinkTarget(_ relative: String) throws -> String? {
        let (parent, name) = split(relative)
        return try folders.with(parent) { folder -> String? in
            guard kind(in: folder, name) == S_IFLNK else { return nil }
            var buf = [CChar](repeating: 0, count: Limits.maxPathLength + 2)
            let n = name.cString { readlinkat(folder, $0, &buf, buf.count - 1) }
            guard n >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "read the existing symlink", errno: errno) }
            return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Removes temporary files an interrupted restore left in these folders (relative paths; ""
    /// is the root). Only names `createPartial` makes are touched. Returns how many were removed.
    func removeStaleTemporaryFiles(in folderPaths: [String]) -> Int {
        var removed = 0
        for relative in folderPaths {
            _ = try? folders.with(Array(relative.utf8)) { folder in
                let copy = dup(folder)
                guard copy >= 0, let dir = fdopendir(copy) else {
                    if copy >= 0 { close(copy) }
                    return
                }
                defer { closedir(dir) }
                var names = [[UInt8]]()
                while let entry = readdir(dir) {
                    let name = FileIO.direntName(entry)
                    if Self.isTemporaryName(name) { names.append(name) }
                }
                for name in names where kind(in: folder, name) == S_IFREG {
                    if name.cString({ unlinkat(folder, $0, 0) }) == 0 { removed += 1 }
                }
            }
        }
        return removed
    }

    /// `.pv-restore-` and 16 hex digits: the names `createPartial` gives.
    static func isTemporaryName(_ name: [UInt8]) -> Bool {
        let prefix = Array(".pv-restore-".utf8)
        guard name.count == prefix.count + 16, name.starts(with: prefix) else { return false }
        return name[prefix.count...].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func discardPartial(_ relative: String, partial: [UInt8]) {
        let (parent, _) = split(relative)
        try? folders.with(parent) { folder in _ = partial.cString { unlinkat(folder, $0, 0) } }
    }

    /// Flushes everything written below the destination to disk (one syncfs, not one fsync per file).
    func sync() throws {
        guard folders.withRoot({ linuxSyncfs($0) }) == 0 else { throw PlanVaultError.io(path: root, operation: "flush to disk", errno: errno) }
    }

    func makeSymlink(_ relative: String, target: String, overwrite: Bool, mtimeNs: Int64) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            if let existing = kind(in: folder, name) {
                guard overwrite, existing != S_IFDIR else { throw PlanVaultError.alreadyExists(path: absolute(relative)) }
                _ = name.cString { unlinkat(folder, $0, 0) }
            }
            guard name.cString({ symlinkat(target, folder, $0) }) == 0 else {
                throw PlanVaultError.io(path: absolute(relative), operation: "create symlink", errno: errno)
            }
            var times = Self.times(mtimeNs)
            guard name.cString({ utimensat(folder, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw PlanVaultError.io(path: absolute(relative), operation: "set time of symlink", errno: errno)
            }
        }
    }

    func applyMetadata(_ relative: String, mode: UInt32, mtimeNs: Int64) throws {
        let (parent, name) = split(relative)
        try folders.with(parent) { folder in
            let fd = name.cString { openat(folder, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "open folder", errno: errno) }
            defer { close(fd) }
            guard fchmod(fd, mode_t(mode & 0o7777)) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "chmod", errno: errno) }
            var times = Self.times(mtimeNs)
            guard futimens(fd, &times) == 0 else { throw PlanVaultError.io(path: absolute(relative), operation: "set time of", errno: errno) }
        }
    }

    /// Access and modification time from nanoseconds since the epoch; floor division keeps
    /// `tv_nsec` in 0 ..< 1e9 for times before 1970.
    static func times(_ mtimeNs: Int64) -> [timespec] {
        let mtime = timespec(tv_sec: Int(mtimeNs.floorDividedByBillion), tv_nsec: Int(mtimeNs.nanosecondsPart))
        return [mtime, mtime]
    }
}

/// Open descriptors of recently used destination folders, each opened from its parent's
/// descriptor with `O_NOFOLLOW`. Bounded (least recently used are closed); a handle in use by
/// another task is never closed under it.
final class FolderHandles: @unchecked Sendable {
    private let lock = NSLock()
    private let root: String
    private let rootFD: Int32
    private var open = DescriptorLRU<PathKey>(capacity: 128)

    init(root: String, rootFD: Int32) {
        self.root = root
        self.rootFD = rootFD
    }

    deinit {
        open.closeAll()
        close(rootFD)
    }

    func withRoot<T>(_ body: (Int32) throws -> T) rethrows -> T { try body(rootFD) }

    /// Runs `body` with a descriptor of the folder at `path` ("/"-separated bytes) below the root.
    func with<T>(_ path: [UInt8], _ body: (Int32) throws -> T) throws -> T {
        if path.isEmpty { return try body(rootFD) }
        let fd = try acquire(path)
        defer { release(path) }
        return try body(fd)
    }

    private func acquire(_ path: [UInt8]) throws -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let fd = open.use(PathKey(path)) { return fd }
        // Find the deepest folder already open (walking back over "/"), then open the rest one
        // level at a time from it.
        var parentFD = rootFD
        var parentKey: [UInt8]?
        var resume = 0
        var cut = path.lastIndex(of: UInt8(ascii: "/"))
        while let slash = cut {
            let candidate = Array(path[..<slash])
            if let fd = open.use(PathKey(candidate)) {
                parentFD = fd
                parentKey = candidate
                resume = slash + 1
                break
            }
            cut = path[..<slash].lastIndex(of: UInt8(ascii: "/"))
        }
        while resume <= path.count {
            let end = path[resume...].firstIndex(of: UInt8(ascii: "/")) ?? path.count
            let currentKey = Array(path[..<end])
            let fd = Array(path[resume..<end]).cString { openat(parentFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            let code = errno
            if let held = parentKey { open.release(PathKey(held)) }
            guard fd >= 0 else {
                let full = "\(root)/\(String(decoding: currentKey, as: UTF8.self))"
                if code == ELOOP || code == ENOTDIR {
                    throw PlanVaultError.unsafePath("\(full) is not a real folder (a symlink?); refusing to write through it")
                }
                throw PlanVaultError.io(path: full, operation: "open folder", errno: code)
            }
            open.insert(PathKey(currentKey), fd: fd, users: 1)
            parentFD = fd
            parentKey = currentKey
            resume = end + 1
        }
        return parentFD
    }

    private func release(_ key: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        open.release(PathKey(key))
    }
}

extension Array where Element == UInt8 {
    /// Calls `body` with these bytes as a NUL-terminated C string. Components come from valid
    /// UTF-8 split on "/" bytes (and hold no NUL, see `SnapshotPathRules`), so the round trip
    /// through String keeps every byte.
    func cString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try String(decoding: self, as: UTF8.self).withCString(body)
    }
}

/// syncfs(2) and fallocate(2) are GNU extensions that Glibc's Swift overlay does not expose.
@_silgen_name("syncfs")
private func linuxSyncfs(_ fd: Int32) -> Int32
@_silgen_name("fallocate64")
private func linuxFallocate(_ fd: Int32, _ mode: Int32, _ offset: Int64, _ length: Int64) -> Int32
