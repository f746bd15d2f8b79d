import Foundation

/// An exclusive lock held with flock(2) on a file in the local cache. The kernel
/// releases it when the process exits, however it exits, so a killed push never
/// leaves a stale lock behind.
public final class LocalLock: Sendable {
    let fd: Int32
    public let path: String

    /// Fails at once with `lockHeld` (naming the holder) when another process holds the lock, or,
    /// with `wait` above zero, polls for it that long first, telling `onWait` once that it waits.
    /// It never waits without a limit: a hung holder must not hang a cron job behind it.
    public init(path: String, wait: TimeInterval = 0, onWait: ((String) -> Void)? = nil) throws {
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
        let deadline = Date().addingTimeInterval(max(0, wait))
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK else {
                close(fd)
                throw PlanVaultError.io(path: path, operation: "lock", errno: code)
            }
            let holder = Self.holder(fd: fd)
            guard Date() < deadline else {
                close(fd)
                throw PlanVaultError.lockHeld(path: path, holder: holder, waited: max(0, wait))
            }
            if !announced {
                onWait?("waiting up to \(DurationWords.text(wait)) for \(holder)")
                announced = true
            }
            usleep(50_000)
        }
        let note = Array("pid \(getpid()) on \(HostInfo.hostname) since \(Timestamps.formatSeconds(Int64(Date().timeIntervalSince1970)))\n".utf8)
        _ = ftruncate(fd, 0)
        try? FileIO.writeFully(fd: fd, note, path: path)
        self.fd = fd
        self.path = path
    }

    /// "another planvault run (PID 4242 on eoc-fileserver) since … (3 min ago)", from the note the
    /// holder wrote into the lock file; at most 256 bytes of it are read.
    static func holder(fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        let note = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "" : ""
        let words = note.split(separator: " ").map(String.init)
        // "pid P on HOST since TIME" (older runs wrote no "since").
        guard words.count >= 4, words[0] == "pid", words[2] == "on", let pid = Int32(words[1]) else {
            return "another planvault run on this host (it has not said which yet)"
        }
        var text = "another planvault run (PID \(pid) on \(words[3]))"
        if words.count >= 6, words[4] == "since" { text += " \(DurationWords.since(words[5]))" }
        return text
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
