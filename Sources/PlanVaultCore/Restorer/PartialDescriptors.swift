import Foundation

/// Open write descriptors of the temporary files a restore is filling, by file number, so each
/// chunk is written with one `pwrite` instead of an open, a write and a close. Bounded: past
/// `capacity`, the least recently used idle descriptor is closed and reopened by name when its
/// file's next chunk arrives. A descriptor in use by a write is never closed under it.
///
/// A file's temporary file is created when its first chunk arrives, not before the reads start:
/// making thousands of inodes (and reserving their blocks) then overlaps with reading bundles
/// instead of keeping the disk idle. Opening happens outside the lock, one opener per file at a
/// time: writes to other files go on meanwhile, and a file is never created twice.
final class PartialDescriptors: @unchecked Sendable {
    private let condition = NSCondition()
    private var open: DescriptorLRU<Int>
    /// Files whose temporary file exists (made here, or by the caller before the first write).
    private var created = Set<Int>()
    /// Files being created or reopened right now.
    private var opening = Set<Int>()
    /// Files whose temporary file could not be made, with why: said again for each later chunk,
    /// never tried again (a retried reservation on a full disk would take space from other files).
    private var createFailures = [Int: any Error]()

    /// Well under the usual limit of 1,024 open files, beside the folder handles.
    init(capacity: Int = 384) { open = DescriptorLRU(capacity: capacity) }

    deinit { open.closeAll() }

    /// Runs `body` with `file`'s descriptor: `create` makes its temporary file on first use,
    /// `reopen` opens it again after its descriptor was closed.
    func with<T>(_ file: Int, create: () throws -> Int32, reopen: () throws -> Int32, _ body: (Int32) throws -> T) throws -> T {
        let fd = try acquire(file, create: create, reopen: reopen)
        defer { release(file) }
        return try body(fd)
    }

    /// Takes `file`'s descriptor out (to commit the file with it); the caller closes it.
    func take(_ file: Int) -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        return open.remove(file)
    }

    private func acquire(_ file: Int, create: () throws -> Int32, reopen: () throws -> Int32) throws -> Int32 {
        condition.lock()
        while true {
            if let fd = open.use(file) {
                condition.unlock()
                return fd
            }
            if let failure = createFailures[file] {
                condition.unlock()
                throw failure
            }
            guard opening.contains(file) else { break }
            condition.wait()
        }
        opening.insert(file)
        let exists = created.contains(file)
        condition.unlock()

        let result = Result { exists ? try reopen() : try create() }

        condition.lock()
        defer {
            opening.remove(file)
            condition.broadcast()
            condition.unlock()
        }
        if !exists, case .failure(let error) = result { createFailures[file] = error }
        let fd = try result.get()
        created.insert(file)
        open.insert(file, fd: fd, users: 1)
        return fd
    }

    private func release(_ file: Int) {
        condition.lock()
        defer { condition.unlock() }
        open.release(file)
    }
}
