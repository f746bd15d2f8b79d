import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes and reads large files around the page cache (O_DIRECT), through a small aligned buffer.
///
/// A push writes every new byte once and does not read it back, so copying bundles into the page
/// cache only to flush them at `fsync` cost more CPU than any other step but compression
/// (measured with `perf`: 18% of a first push's CPU in the kernel's page-cache copy). Direct
/// writes hand the bytes to the disk from this buffer instead. A restore or verify reads each
/// bundle once, so its reads go the same way.
enum DirectIO {
    /// O_DIRECT from <fcntl.h>, which Glibc's Swift overlay does not import.
    #if arch(x86_64)
    static let flag: Int32 = 0o40000
    #elseif arch(arm64)
    static let flag: Int32 = 0o200000
    #else
    static let flag: Int32 = 0
    #endif

    /// Block size O_DIRECT needs for buffer addresses, offsets and lengths.
    static let alignment = 4096
    /// Bytes copied into the aligned buffer and written per system call.
    static let pieceSize = 2 << 20
    /// Objects smaller than this are written the ordinary way.
    static let minimumSize = 1 << 20

    static let buffers = BufferPool()

    /// Opens `path` (a new file) for direct writing; nil when this filesystem does not take O_DIRECT.
    static func openNew(_ path: String, mode: mode_t) -> Int32? {
        guard flag != 0 else { return nil }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | flag, mode)
        return fd >= 0 ? fd : nil
    }

    /// Reads up to `count` bytes at `offset` of `fd` (opened with `flag`) through the aligned
    /// buffer, so the kernel need not fill fresh page-cache pages first (a restore reads each
    /// bundle once). Fewer bytes at the end of the file; nil when the filesystem refuses direct
    /// reads (EINVAL), for the caller to read the ordinary way.
    static func read(fd: Int32, count: Int, offset: UInt64, path: String) throws -> [UInt8]? {
        let buffer = buffers.take()
        defer { buffers.give(buffer) }
        var out = [UInt8]()
        out.reserveCapacity(count)
        let block = UInt64(alignment)
        var position = offset
        let end = offset + UInt64(count)
        while position < end {
            let start = position / block * block
            let want = Int(min(UInt64(pieceSize), (end - start + block - 1) / block * block))
            var got = 0
            while got < want {
                let n = pread(fd, buffer + got, want - got, off_t(start) + off_t(got))
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EINVAL && out.isEmpty && got == 0 { return nil }
                    throw PlanVaultError.io(path: path, operation: "read", errno: errno)
                }
                if n == 0 { break }
                got += n
            }
            let skip = Int(position - start)
            guard got > skip else { break }
            let take = min(got - skip, Int(end - position))
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer + skip, count: take))
            position += UInt64(take)
            if got < want { break }
        }
        return out
    }

    /// Aligned buffers of `pieceSize`, kept for reuse so a write touches no fresh memory.
    final class BufferPool: @unchecked Sendable {
        private let lock = NSLock()
        private var free: [UnsafeMutableRawPointer] = []

        func take() -> UnsafeMutableRawPointer {
            lock.lock()
            if let buffer = free.popLast() {
                lock.unlock()
                return buffer
            }
            lock.unlock()
            return UnsafeMutableRawPointer.allocate(byteCount: DirectIO.pieceSize, alignment: DirectIO.alignment)
        }

        func give(_ buffer: UnsafeMutableRawPointer) {
            lock.lock()
            defer { lock.unlock() }
            if free.count < 4 { free.append(buffer) } else { buffer.deallocate() }
        }
    }
}
