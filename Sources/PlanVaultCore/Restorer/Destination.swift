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

    private func partialPath(_ relative: String) -> String {
        let url = URL(fileURLWithPath: absolute(relative))
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".planvault-partial"
    }

    /// Every folder above `relative` must exist as a real folder, not a symlink.
    private func checkParents(_ relative: String) throws {
        let parts = relative.split(separator: "/")
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

    func createPartial(_ relative: String, size: UInt64, overwrite: Bool) throws {
        try checkParents(relative)
        let path = absolute(relative)
        if let kind = lstatKind(path) {
            guard overwrite, kind != S_IFDIR else { throw PlanVaultError.alreadyExists(path: path) }
        }
        let partial = partialPath(relative)
        unlink(partial)
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PlanVaultError.io(path: partial, operation: "create", errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw PlanVaultError.io(path: partial, operation: "size", errno: errno) }
    }

    func writePartial(_ relative: String, data: UnsafeRawBufferPointer, offset: UInt64) throws {
        let partial = partialPath(relative)
        let fd = open(partial, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PlanVaultError.io(path: partial, operation: "open", errno: errno) }
        defer { close(fd) }
        try FileIO.pwriteFully(fd: fd, data, offset: offset, path: partial)
    }

    func commitPartial(_ relative: String, mode: UInt32, mtimeNs: Int64) throws {
        let partial = partialPath(relative)
        let path = absolute(relative)
        guard chmod(partial, mode_t(mode & 0o7777)) == 0 else { throw PlanVaultError.io(path: partial, operation: "chmod", errno: errno) }
        var times = Self.times(mtimeNs)
        guard utimensat(AT_FDCWD, partial, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw PlanVaultError.io(path: partial, operation: "set time", errno: errno)
        }
        guard rename(partial, path) == 0 else { throw PlanVaultError.io(path: path, operation: "rename into place", errno: errno) }
    }

    func discardPartial(_ relative: String) {
        unlink(partialPath(relative))
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
