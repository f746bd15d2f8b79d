import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX helpers shared by the directory backend, the cache and restore.
public enum FileIO {
    /// Write to a temporary name in `directory`, fsync, rename over `path`, fsync the folder.
    /// `direct`: write around the page cache when the filesystem allows it (see `DirectIO`),
    /// for large objects that are not read back soon (bundles a push writes).
    public static func writeAtomically(_ data: [UInt8], to path: String, inDirectory directory: String, mode: mode_t = 0o600,
                                       direct: Bool = false) throws {
        let suffix = (try? LibCrypto.randomBytes(8)).map(Hex.encode) ?? String(getpid())
        let tmp = "\(directory)/.tmp-\(suffix)"
        let writer = try DirectFileWriter(creating: tmp, mode: mode, expectedSize: direct ? data.count : nil)
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        try data.withUnsafeBytes { try writer.append($0) }
        try writer.finish()
        guard fsync(writer.descriptor) == 0 else { throw PlanVaultError.io(path: tmp, operation: "fsync", errno: errno) }
        try writer.close()
        guard rename(tmp, path) == 0 else { throw PlanVaultError.io(path: path, operation: "rename into place", errno: errno) }
        ok = true
        try fsyncDirectory(directory)
    }

    public static func writeFully(fd: Int32, _ data: [UInt8], path: String) throws {
        try data.withUnsafeBytes { p in
            guard let base = p.baseAddress else { return }
            var done = 0
            while done < p.count {
                let n = Glibc.write(fd, base + done, p.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PlanVaultError.io(path: path, operation: "write", errno: errno)
                }
                done += n
            }
        }
    }

    public static func pwriteFully(fd: Int32, _ data: UnsafeRawBufferPointer, offset: UInt64, path: String) throws {
        guard let base = data.baseAddress else { return }
        var done = 0
        while done < data.count {
            let n = pwrite(fd, base + done, data.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PlanVaultError.io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    public static func preadFully(fd: Int32, count: Int, offset: UInt64, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBytes { try preadFully(fd: fd, into: $0, offset: offset, path: path) }
        if got < count { out.removeLast(count - got) }
        return out
    }

    /// Reads into `buffer` from `offset` until it is full or the file ends; returns the byte count.
    public static func preadFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64, path: String) throws -> Int {
        try fill(buffer, path: path) { at, count, done in pread(fd, at, count, off_t(offset) + off_t(done)) }
    }

    /// Reads into `buffer` until it is full or the file ends; returns the byte count.
    public static func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        try fill(buffer, path: path) { at, count, _ in Glibc.read(fd, at, count) }
    }

    /// Calls `read(at, count, done)` until `buffer` is full or it returns 0 (end of file),
    /// retrying on EINTR; returns the byte count.
    private static func fill(_ buffer: UnsafeMutableRawBufferPointer, path: String,
                             _ read: (UnsafeMutableRawPointer, Int, Int) -> Int) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = read(base + done, buffer.count - done, done)
            if n < 0 {
                if errno == EINTR { continue }
                throw PlanVaultError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// `mkdir -p`: each missing folder of `path` is made (mode 0777 less the umask). An error
    /// names the folder that could not be made and carries errno, where Foundation's would say
    /// only "error 512".
    public static func makeFolders(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o777) == 0 { continue }
            let code = errno
            var st = stat()
            guard code == EEXIST, stat(prefix, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw PlanVaultError.io(path: prefix, operation: "create folder", errno: code == EEXIST ? ENOTDIR : code)
            }
        }
    }

    public static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PlanVaultError.io(path: path, operation: "open folder", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw PlanVaultError.io(path: path, operation: "fsync folder", errno: errno) }
    }

    /// Names in a folder, without "." and "..", unsorted.
    public static func listDirectory(_ path: String) throws -> [String] {
        var names = [String]()
        try forEachEntry(in: path) { _, name in names.append(name) }
        return names
    }

    /// Calls `body` with the folder's descriptor (for `fstatat`) and each name in it but "." and
    /// "..", unsorted.
    public static func forEachEntry(in path: String, _ body: (_ folder: Int32, _ name: String) throws -> Void) throws {
        guard let dir = opendir(path) else {
            throw PlanVaultError.io(path: path, operation: "list folder", errno: errno)
        }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw PlanVaultError.io(path: path, operation: "list folder", errno: errno) }
                return
            }
            let name = String(decoding: direntName(entry), as: UTF8.self)
            if name != "." && name != ".." { try body(fd, name) }
        }
    }

    /// The name of a directory entry `readdir` returned, read in place up to its NUL.
    ///
    /// Never copy `entry.pointee`: the kernel's records are only as long as their name, so a copy
    /// of the whole `dirent` (256 bytes of name) reads past a short record at the end of glibc's
    /// buffer, and crashed a push of a 10 GiB, 100,000-file folder when that was the last page.
    public static func direntName(_ entry: UnsafeMutablePointer<dirent>) -> [UInt8] {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
        let name = UnsafeRawPointer(entry) + offset
        let length = strlen(name.assumingMemoryBound(to: CChar.self))
        return Array(UnsafeRawBufferPointer(start: name, count: length))
    }

    /// Reads a whole small file.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PlanVaultError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PlanVaultError.io(path: path, operation: "stat", errno: errno) }
        return try preadFully(fd: fd, count: Int(st.st_size), offset: 0, path: path)
    }

    /// Refuses a secrets file that group or others can read.
    /// `what` names the file in the user's words ("keys file (--keys)") when it cannot be found.
    public static func requirePrivate(_ path: String, what: String = "file") throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw PlanVaultError.invalidArgument("the \(what) \(path) does not exist: check its name and folder") }
            throw PlanVaultError.io(path: path, operation: "stat \(what)", errno: code)
        }
        if st.st_mode & 0o077 != 0 {
            throw PlanVaultError.insecurePermissions(path: path, mode: UInt32(st.st_mode))
        }
        // Another user who owns the file can change its mode, or its content, at will.
        let me = geteuid()
        guard st.st_uid == me || st.st_uid == 0 else {
            throw PlanVaultError.invalidArgument("the \(what) \(path) belongs to another user (uid \(st.st_uid)), who could change it: a secrets file must belong to the user running planvault (uid \(me)) or to root; run `chown \(me) \(path)` as root, or make your own copy")
        }
    }
}
