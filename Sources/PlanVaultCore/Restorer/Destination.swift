import Foundation

/// The restore destination. Every operation takes a snapshot-relative path
/// (already validated by `SnapshotPathRules`) and refuses to pass through a
/// symlink, so nothing is written outside the destination, whatever the
/// snapshot or a pre-existing link in the destination says.
struct Destination: Sendable {
    let root: String

    init(path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PlanVaultError.invalidArgument("cannot create destination \(path): \(error.localizedDescription)")
        }
        guard let real = realpath(path, nil) else { throw PlanVaultError.io(path: path, operation: "resolve", errno: errno) }
        root = String(cString: real)
        free(real)
    }

    func absolute(_ relative: String) -> String { "\(root)/\(relative)" }

    /// The folder that will hold `relative`, split on "/" bytes.
    private func parentFolder(_ relative: String) -> String {
        let parts = SnapshotPathRules.byteComponents(relative)
        return parts.dropLast().reduce(root) { $0 + "/" + String(decoding: $1, as: UTF8.self) }
    }

    /// Every folder above `relative` must exist as a real folder, not a symlink.
    private func checkParents(_ relative: String) throws {
        let parts = SnapshotPathRules.byteComponents(relative).map { String(decoding: $0, as: UTF8.self) }
        var current = root
        for part in parts.dropLast() {
            current += "/\(part)"
            var st = stat()
            guard lstat(current, &st) == 0 else { throw PlanVaultError.io(path: current, operation: "check", errno: errno) }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw PlanVaultError.unsafePath("\(current) is not a real folder (a symlink?); refusing to write through it")
            }
        }
    }

    private func lstatKind(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    func makeDirectory(_ relative: String) throws {
        try checkParents(relative)
        let path = absolute(relative)
        switch lstatKind(path) {
        case S_IFDIR?: return
        case nil:
            guard mkdir(path, 0o700) == 0 else { throw PlanVaultError.io(path: path, operation: "create folder", errno: errno) }
        default:
            throw PlanVaultError.alreadyExists(path: path)
        }
    }

    /// Creates a hidden, uniquely named file beside `relative`, sized to `size`; returns its path.
    /// The real name is taken only by `commitPartial`, once every byte is in and synced.
    func createPartial(_ relative: String, size: UInt64, overwrite: Bool) throws -> String {
        try checkParents(relative)
        let path = absolute(relative)
        if let kind = lstatKind(path) {
            guard overwrite, kind != S_IFDIR else { throw PlanVaultError.alreadyExists(path: path) }
        }
        let folder = parentFolder(relative)
        for _ in 0..<8 {
            let partial = "\(folder)/.pv-restore-\(Hex.encode(try LibCrypto.randomBytes(8)))"
            let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw PlanVaultError.io(path: partial, operation: "create", errno: errno)
            }
            defer { close(fd) }
            guard ftruncate(fd, off_t(size)) == 0 else {
                unlink(partial)
                throw PlanVaultError.io(path: partial, operation: "size", errno: errno)
            }
            return partial
        }
        throw PlanVaultError.io(path: folder, operation: "create a temporary file in", errno: EEXIST)
    }

    func writePartial(_ partial: String, data: UnsafeRawBufferPointer, offset: UInt64) throws {
        let fd = open(partial, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PlanVaultError.io(path: partial, operation: "open", errno: errno) }
        defer { close(fd) }
        try FileIO.pwriteFully(fd: fd, data, offset: offset, path: partial)
    }

    func commitPartial(_ partial: String, as relative: String, mode: UInt32, mtimeNs: Int64) throws {
        let path = absolute(relative)
        guard chmod(partial, mode_t(mode & 0o7777)) == 0 else { throw PlanVaultError.io(path: partial, operation: "chmod", errno: errno) }
        var times = Self.times(mtimeNs)
        guard utimensat(AT_FDCWD, partial, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw PlanVaultError.io(path: partial, operation: "set time", errno: errno)
        }
        try checkParents(relative)
        guard rename(partial, path) == 0 else { throw PlanVaultError.io(path: path, operation: "rename into place", errno: errno) }
    }

    func discardPartial(_ partial: String) {
        unlink(partial)
    }

    /// Flushes everything written below the destination to disk (one syncfs, not one fsync per file).
    func sync() {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = linuxSyncfs(fd)
        close(fd)
    }

    func makeSymlink(_ relative: String, target: String, overwrite: Bool) throws {
        try checkParents(relative)
        let path = absolute(relative)
        if let kind = lstatKind(path) {
            guard overwrite, kind != S_IFDIR else { throw PlanVaultError.alreadyExists(path: path) }
            unlink(path)
        }
        guard symlink(target, path) == 0 else { throw PlanVaultError.io(path: path, operation: "create symlink", errno: errno) }
    }

    func applyMetadata(_ relative: String, mode: UInt32, mtimeNs: Int64) {
        let path = absolute(relative)
        guard lstatKind(path) == S_IFDIR else { return }
        chmod(path, mode_t(mode & 0o7777))
        var times = Self.times(mtimeNs)
        utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    static func times(_ mtimeNs: Int64) -> [timespec] {
        let mtime = timespec(tv_sec: Int(mtimeNs / 1_000_000_000), tv_nsec: Int(mtimeNs % 1_000_000_000))
        return [mtime, mtime]
    }
}

/// syncfs(2) is a GNU extension that Glibc's Swift overlay does not expose.
@_silgen_name("syncfs")
private func linuxSyncfs(_ fd: Int32) -> Int32
