import Foundation

/// An exclusive lock held with flock(2) on a file in the local cache. The kernel
/// releases it when the process exits, however it exits, so a killed push never
/// leaves a stale lock behind.
public final class LocalLock: Sendable {
    let fd: Int32
    public let path: String

    /// With `wait`, blocks until the lock is free (for short record-keeping steps that may
    /// overlap a running push); without it, fails at once with `lockHeld`.
    public init(path: String, wait: Bool = false) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // The folder may sit in a shared place (/tmp with --no-cache): it must be ours and private,
        // and the lock file is never opened through a symlink.
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == getuid(), st.st_mode & 0o022 == 0 else {
            throw PlanVaultError.unsafePath("lock folder \(dir) is not a private folder owned by this user; remove it or choose another --cache-dir")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw PlanVaultError.io(path: path, operation: "open lock file", errno: errno) }
        guard flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw PlanVaultError.lockHeld(path: path) }
            throw PlanVaultError.io(path: path, operation: "lock", errno: code)
        }
        let note = Array("pid \(getpid()) on \(HostInfo.hostname)\n".utf8)
        _ = ftruncate(fd, 0)
        try? FileIO.writeFully(fd: fd, note, path: path)
        self.fd = fd
        self.path = path
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
