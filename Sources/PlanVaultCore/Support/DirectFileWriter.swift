import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a new file front to back from pieces of any size, as they arrive (an upload's body).
///
/// Opened with `DirectIO.flag`, it writes around the page cache (see `DirectIO`): pieces are
/// gathered in an aligned buffer and written a whole buffer at a time, and `finish` pads the last
/// block with zeros and cuts the file back to its exact size. When the filesystem refuses direct
/// writes (EINVAL on the first one) the same file is written the ordinary way instead.
public final class DirectFileWriter {
    public let path: String
    let fd: Int32
    private var direct: Bool
    private var buffer: UnsafeMutableRawPointer?
    /// Bytes the aligned buffer holds (a multiple of the alignment).
    private let capacity: Int
    private var filled = 0
    /// Bytes already written to the file (a multiple of the alignment while `direct`).
    private var flushed = 0
    public private(set) var size = 0

    init(fd: Int32, direct: Bool, path: String, bufferSize: Int = DirectIO.pieceSize) {
        self.fd = fd
        self.direct = direct
        self.path = path
        capacity = max(DirectIO.alignment, bufferSize / DirectIO.alignment * DirectIO.alignment)
        guard direct else { return }
        buffer = capacity == DirectIO.pieceSize ? DirectIO.buffers.take()
            : UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: DirectIO.alignment)
    }

    /// Creates `path` (which must not exist yet); direct when `expectedSize` is large enough for
    /// it to pay and the filesystem takes O_DIRECT. The writer closes the file (`close`, or when
    /// it goes away). `bufferSize`: bytes gathered per write (a server with many uploads at once
    /// holds one buffer for each).
    public convenience init(creating path: String, mode: mode_t, expectedSize: Int?, bufferSize: Int? = nil) throws {
        let bufferSize = bufferSize ?? DirectIO.pieceSize
        if (expectedSize ?? 0) >= DirectIO.minimumSize, let fd = DirectIO.openNew(path, mode: mode) {
            self.init(fd: fd, direct: true, path: path, bufferSize: bufferSize)
            return
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw PlanVaultError.io(path: path, operation: "create", errno: errno) }
        self.init(fd: fd, direct: false, path: path)
    }

    public var descriptor: Int32 { fd }

    private var isOpen = true

    /// Closes the file, reporting what close(2) reports (a late write error on some filesystems).
    public func close() throws {
        guard isOpen else { return }
        isOpen = false
        guard Glibc.close(fd) == 0 else { throw PlanVaultError.io(path: path, operation: "close", errno: errno) }
    }

    deinit {
        if isOpen { Glibc.close(fd) }
        if let buffer {
            if capacity == DirectIO.pieceSize { DirectIO.buffers.give(buffer) } else { buffer.deallocate() }
        }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        size += bytes.count
        guard direct, let buffer else {
            try FileIO.pwriteFully(fd: fd, bytes, offset: UInt64(flushed), path: path)
            flushed += bytes.count
            return
        }
        var taken = 0
        while taken < bytes.count {
            let count = min(capacity - filled, bytes.count - taken)
            (buffer + filled).copyMemory(from: base + taken, byteCount: count)
            filled += count
            taken += count
            if filled == capacity { try flush(padded: filled) }
        }
    }

    /// Writes what is left, padded to a whole block when direct, and sets the exact size.
    /// The caller fsyncs.
    public func finish() throws {
        if filled > 0 {
            // Bytes gathered before a fallback to ordinary writes go out unpadded.
            let padded = direct ? (filled + DirectIO.alignment - 1) / DirectIO.alignment * DirectIO.alignment : filled
            buffer.map { ($0 + filled).initializeMemory(as: UInt8.self, repeating: 0, count: padded - filled) }
            try flush(padded: padded)
        }
        // Only a direct write pads the last block; ordinary writes (the fallback only happens at
        // the first write, before anything was padded) leave the file at its size already.
        guard direct else { return }
        guard ftruncate(fd, off_t(size)) == 0 else { throw PlanVaultError.io(path: path, operation: "set the size of", errno: errno) }
    }

    /// Writes the first `padded` bytes of the buffer at `flushed`; the file's first write falls
    /// back to ordinary writes when the filesystem refuses a direct one.
    private func flush(padded: Int) throws {
        guard let buffer else { return }
        var done = 0
        while done < padded {
            let n = pwrite(fd, buffer + done, padded - done, off_t(flushed + done))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL && flushed == 0 && done == 0 && direct {
                    try leaveDirectMode()
                    try FileIO.pwriteFully(fd: fd, UnsafeRawBufferPointer(start: buffer, count: filled), offset: 0, path: path)
                    flushed = filled
                    filled = 0
                    return
                }
                throw PlanVaultError.io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
        flushed += filled
        filled = 0
    }

    private func leaveDirectMode() throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~DirectIO.flag) == 0 else {
            throw PlanVaultError.io(path: path, operation: "write", errno: errno)
        }
        direct = false
    }
}
