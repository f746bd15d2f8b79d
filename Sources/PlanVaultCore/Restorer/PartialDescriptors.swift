import Foundation

/// Open write descriptors of the temporary files a restore is filling, by file number, so each
/// chunk is written with one `pwrite` instead of an open, a write and a close. Bounded: past
/// `capacity`, the least recently used idle descriptor is closed and reopened by name when its
/// file's next chunk arrives. A descriptor in use by a write is never closed under it.
final class PartialDescriptors: @unchecked Sendable {
    private let lock = NSLock()
    private var open: DescriptorLRU<Int>

    /// Well under the usual limit of 1,024 open files, beside the folder handles.
    init(capacity: Int = 384) { open = DescriptorLRU(capacity: capacity) }

    deinit { open.closeAll() }

    /// Runs `body` with `file`'s descriptor, opening it with `reopen` if it was closed.
    func with<T>(_ file: Int, reopen: () throws -> Int32, _ body: (Int32) throws -> T) throws -> T {
        let fd = try acquire(file, reopen: reopen)
        defer { release(file) }
        return try body(fd)
    }

    /// Takes `file`'s descriptor out (to commit the file with it); the caller closes it.
    func take(_ file: Int) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        return open.remove(file)
    }

    private func acquire(_ file: Int, reopen: () throws -> Int32) throws -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let fd = open.use(file) { return fd }
        let fd = try reopen()
        open.insert(file, fd: fd, users: 1)
        return fd
    }

    private func release(_ file: Int) {
        lock.lock()
        defer { lock.unlock() }
        open.release(file)
    }
}
