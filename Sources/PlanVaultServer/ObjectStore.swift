import Foundation
import NIOCore
import PlanVaultCore

/// The server's storage: one folder per repository under the root, each in the
/// directory-target layout (so a server's data folder is itself a directory target).
struct ObjectStore: Sendable {
    let root: String

    func repositoryPath(_ name: String) -> String { "\(root)/\(name)" }

    func backend(_ repository: String) -> DirectoryBackend { DirectoryBackend(root: repositoryPath(repository)) }

    /// I/O threads for what changes the store (uploads' writes and fsyncs, deletes). Apart from
    /// `BlockingIO`'s, which read for downloads and listings: uploads waiting on a slow disk fill
    /// these, and the reads still have threads. Extra uploads queue here.
    static let writes = BlockingPool(threads: 12)

    /// Held around every change of an object's name: a new object put in place, a repair's look
    /// at the stored size and its rename, a delete's look and unlink. The size given back to the
    /// repository's count (`--max-repo-gib`) is then what was removed, even when repairs,
    /// deletes and uploads of one object race. Held for a few system calls; fsyncs happen outside.
    private static let replacing = NSLock()

    /// Runs `body` (a few system calls that change an object's name) under `replacing`.
    static func renaming<T>(_ body: () throws -> T) rethrows -> T {
        replacing.lock()
        defer { replacing.unlock() }
        return try body()
    }

    /// The size of the regular file at `path`; 0 when there is none (only regular files count
    /// against `--max-repo-gib`, see `RepositoryUsage`).
    static func regularFileSize(_ path: String) -> Int64 {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : 0
    }

    func exists(_ repository: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: repositoryPath(repository), isDirectory: &isDir) && isDir.boolValue
    }

    /// Removes the temporary files of uploads a killed server left behind (`ROOT/REPO/**/.tmp-*`);
    /// run at start, before any upload. Returns how many were removed.
    func removeUnfinishedUploads() -> Int {
        var removed = 0
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        while let relative = walker.nextObject() as? String {
            // Repository folders are at most three levels deep (REPO/bundles/ab/NAME).
            if walker.level > 4 { walker.skipDescendants(); continue }
            guard (relative as NSString).lastPathComponent.hasPrefix(".tmp-") else { continue }
            let path = "\(root)/\(relative)"
            var st = stat()
            if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Up to `count` bytes of `fd` from `offset`, read into a buffer ready to send (fewer at the
    /// end of the file).
    static func read(fd: Int32, count: Int, offset: UInt64, path: String) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
            try FileIO.preadFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: space[..<count]), offset: offset, path: path)
        }
        return buffer
    }

    /// Whether the stored object at `path` still hashes to `name` (false if it cannot be read).
    static func isIntact(path: String, name: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let hash = try? SHA256Stream() else { return false }
        var offset: UInt64 = 0
        while true {
            guard let bytes = try? FileIO.preadFully(fd: fd, count: 1 << 20, offset: offset, path: path) else { return false }
            if bytes.isEmpty { break }
            bytes.withUnsafeBytes { hash.update($0) }
            offset += UInt64(bytes.count)
        }
        return hash.finalize().hex == name
    }

    /// Receives an upload into a temporary file beside its destination, hashing as it goes;
    /// only a complete body whose SHA-256 matches a content-addressed name is renamed into place.
    /// Large bodies are written around the page cache (`DirectFileWriter`): the server does not
    /// read a bundle back until a restore asks for it.
    /// Used by one request, one step at a time (each awaited before the next), so never by two
    /// threads at once.
    final class Upload: @unchecked Sendable {
        let file: DirectFileWriter
        let tmp: String
        let final: String
        let folder: String
        let hash: SHA256Stream
        /// Each upload in progress holds one such buffer, and up to as much again of received
        /// parts waiting to be written: small beside a push's 2 MiB, because a server may receive
        /// hundreds of uploads at once.
        static let bufferSize = 512 * 1024
        /// The file has been put in place under its name (its temporary name is gone).
        private(set) var placed = false
        /// Bytes of the stored object this upload replaced (a repair), measured at the rename.
        private(set) var replacedSize: Int64 = 0
        private var synced = false

        init(store: ObjectStore, repository: String, kind: ObjectKind, name: String, declaredSize: Int?) throws {
            let backend = store.backend(repository)
            folder = backend.folder(kind, name: name)
            final = backend.path(kind, name: name)
            // Folders a repository made by an older version may not have yet.
            if kind == .bundle || kind == .attestation || kind == .lock { mkdir(folder, 0o700) }
            tmp = "\(folder)/.tmp-\(Hex.encode(try LibCrypto.randomBytes(8)))"
            file = try DirectFileWriter(creating: tmp, mode: 0o600, expectedSize: kind == .bundle ? declaredSize : nil,
                                        bufferSize: Self.bufferSize)
            hash = try SHA256Stream()
        }

        /// Bytes received so far: written, or waiting in `batch`.
        private(set) var received = 0
        private var batch = [ByteBuffer]()
        private var batchBytes = 0

        /// Takes the next part of the body. Parts go to an I/O thread (`ObjectStore.writes`) a
        /// batch at a time: a direct write or an fsync waits on the disk, and a task waiting there
        /// would hold one of the few threads that also decrypt, hash and parse every other
        /// connection's traffic.
        func receive(_ part: ByteBuffer) async throws {
            received += part.readableBytes
            batch.append(part)
            batchBytes += part.readableBytes
            if batchBytes >= Self.bufferSize { try await writeBatch() }
        }

        /// Writes what `receive` still holds; call when the body has ended.
        func endOfBody() async throws { try await writeBatch() }

        /// Hashes and writes the batch, on an I/O thread.
        private func writeBatch() async throws {
            guard !batch.isEmpty else { return }
            let parts = batch
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            try await ObjectStore.writes.run {
                for part in parts {
                    try part.withUnsafeReadableBytes { bytes in
                        self.hash.update(bytes)
                        try self.file.append(bytes)
                    }
                }
            }
        }

        /// Completes the file and fsyncs it, then puts it in place and fsyncs the folder, on an
        /// I/O thread. With `replace` false the object is linked in only if the name is free (so a
        /// racing upload can never replace it) and `false` is returned when it was taken.
        func commit(replace: Bool) async throws -> Bool {
            try await ObjectStore.writes.run { try self.commitNow(replace: replace) }
        }

        private func commitNow(replace: Bool) throws -> Bool {
            // A commit that found the name taken may be followed by one that replaces it.
            if !synced {
                try file.finish()
                guard fsync(file.descriptor) == 0 else { throw PlanVaultError.io(path: tmp, operation: "fsync", errno: errno) }
                try file.close()
                synced = true
            }
            // Every placement, replacement and delete takes the lock, so what a repair replaces
            // is exactly what is there at its rename, and a check-then-rename placement (below)
            // cannot replace a file another upload placed meanwhile.
            if replace {
                replacedSize = try ObjectStore.renaming {
                    let old = ObjectStore.regularFileSize(final)
                    guard rename(tmp, final) == 0 else { throw PlanVaultError.io(path: final, operation: "rename", errno: errno) }
                    return old
                }
            } else {
                guard try ObjectStore.renaming({ try Self.placeIfFree(tmp, at: final) }) else { return false }
            }
            placed = true
            try FileIO.fsyncDirectory(folder)
            return true
        }

        deinit {
            if !placed { unlink(tmp) }
        }

        /// Renames `tmp` to `final` only while `final` is free: false when it is taken. A rename
        /// that never replaces where the filesystem has one, else a hard link; a filesystem with
        /// neither (some network shares, exFAT) gets a check and a rename, the best it allows.
        static func placeIfFree(_ tmp: String, at final: String) throws -> Bool {
            if renameNoReplace(AT_FDCWD, tmp, AT_FDCWD, final, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            if errno == EEXIST { return false }
            guard [EINVAL, ENOSYS, ENOTSUP].contains(errno) else { throw PlanVaultError.io(path: final, operation: "rename", errno: errno) }
            if link(tmp, final) == 0 {
                unlink(tmp)
                return true
            }
            if errno == EEXIST { return false }
            guard [EPERM, ENOSYS, ENOTSUP].contains(errno) else { throw PlanVaultError.io(path: final, operation: "link", errno: errno) }
            if access(final, F_OK) == 0 { return false }
            guard rename(tmp, final) == 0 else { throw PlanVaultError.io(path: final, operation: "rename", errno: errno) }
            return true
        }
    }
}

/// renameat2(2), a GNU extension that Glibc's Swift overlay does not expose.
@_silgen_name("renameat2")
private func renameNoReplace(_ oldDirectory: Int32, _ old: UnsafePointer<CChar>, _ newDirectory: Int32, _ new: UnsafePointer<CChar>, _ flags: UInt32) -> Int32
