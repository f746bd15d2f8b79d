import CZlib

/// zlib (RFC 1950) compression through the system library.
public enum Zlib {
    /// The default: level 3 (zlib's greedy matcher, no lazy evaluation) with its search tuned
    /// (see `tuning`). Measured on the 1 GiB benchmark corpus's compressible files (218 MB of
    /// CSV, Markdown, text, logs and JSON, in 512 KiB pieces, one core, best of three rounds in one
    /// run; this VM's times vary by ±15% between runs):
    ///
    ///     setting                             output    time
    ///     level 4, tuned 4 8 64 16 (before)   53.0 MB   3.55 s
    ///     level 4, tuned 4 8 64 8             54.7 MB   3.15 s
    ///     level 3, tuned insert 16 nice 64
    ///       chain 8 (the default)             56.8 MB   2.44 s
    ///     level 2 (zlib's table)              59.5 MB   2.37 s
    ///     level 1 (zlib's table)              62.4 MB   2.16 s
    ///
    /// Along this line each second of CPU saved costs about 3 MB; the default takes the knee. On
    /// the whole first push (three rounds each, alternating) it cut the best wall time from 4.42 s
    /// to 3.49 s for about 2 MiB more repository (838.5–841.5 MiB against 835.4–839.4; each new
    /// repository's chunker key moves its size by ±2 MiB), which stays below restic's zstd
    /// repository of the same data (846.9–855.9 MiB in `Benchmarks/run.sh`).
    public static let defaultLevel: Int32 = 3

    /// deflateTune's good_length, max_lazy (for levels 1–3: the longest match whose strings are all
    /// entered into the hash), nice_length and max_chain for a level, when PlanVault sets them
    /// rather than zlib's table: only for the default level, measured as above.
    static func tuning(level: Int32) -> (good: Int32, lazy: Int32, nice: Int32, chain: Int32)? {
        level == defaultLevel ? (4, 16, 64, 8) : nil
    }

    /// Compresses `input` into a zlib stream; returns nil when the result would not be smaller
    /// than the input.
    public static func compressIfSmaller(_ input: UnsafeRawBufferPointer, level: Int32 = defaultLevel) -> [UInt8]? {
        guard input.count > 0, let inBase = input.baseAddress else { return nil }
        var stream = z_stream()
        guard planvault_deflate_init(&stream, level) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        if let t = tuning(level: level), deflateTune(&stream, t.good, t.lazy, t.nice, t.chain) != Z_OK { return nil }
        // Anything as long as the input is not worth keeping, so the output never needs more room.
        let out = [UInt8](unsafeUninitializedCapacity: input.count) { buffer, initialized in
            stream.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = uInt(buffer.count)
            let rc = deflate(&stream, Z_FINISH)
            initialized = rc == Z_STREAM_END ? Int(stream.total_out) : 0
        }
        return out.isEmpty || out.count >= input.count ? nil : out
    }

    /// zlib's own default level, for sealed metadata (index files, snapshot headers): small
    /// objects read by every restore and verify, where the smaller output is worth the CPU.
    public static let metadataLevel: Int32 = 6

    /// Compresses `input` unconditionally.
    public static func compress(_ input: [UInt8], level: Int32 = metadataLevel) throws -> [UInt8] {
        var destLen = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(destLen))
        let rc = input.withUnsafeBufferPointer { inPtr in
            compress2(&out, &destLen, inPtr.baseAddress, uLong(input.count), level)
        }
        guard rc == Z_OK else { throw CompressionError.failed(code: rc) }
        out.removeLast(out.count - Int(destLen))
        return out
    }

    /// Decompresses zlib data whose decompressed size is known exactly.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        var rc: Int32 = Z_OK
        var destLen = uLongf(expectedSize)
        // Not zero-filled first: every byte kept is written by zlib (a short result is an error).
        let out = [UInt8](unsafeUninitializedCapacity: max(expectedSize, 1)) { buffer, initialized in
            rc = uncompress(buffer.baseAddress, &destLen, input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(input.count))
            initialized = rc == Z_OK && Int(destLen) == expectedSize ? expectedSize : 0
        }
        guard rc == Z_OK, Int(destLen) == expectedSize, out.count == expectedSize else {
            throw CompressionError.corrupt(expected: expectedSize, code: rc)
        }
        return out
    }

    /// Decompresses zlib data of unknown decompressed size (bounded by `limit`).
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) throws -> [UInt8] {
        var stream = z_stream()
        var rc = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw CompressionError.failed(code: rc) }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        try input.withUnsafeBufferPointer { inPtr in
            stream.next_in = UnsafeMutablePointer(mutating: inPtr.baseAddress)
            stream.avail_in = uInt(inPtr.count)
            repeat {
                rc = buffer.withUnsafeMutableBufferPointer { bufPtr in
                    stream.next_out = bufPtr.baseAddress
                    stream.avail_out = uInt(bufPtr.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                guard rc == Z_OK || rc == Z_STREAM_END else { throw CompressionError.corrupt(expected: -1, code: rc) }
                out.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                guard out.count <= limit else { throw CompressionError.tooLarge(limit: limit) }
                if rc == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 { throw CompressionError.corrupt(expected: -1, code: Z_BUF_ERROR) }
            } while rc != Z_STREAM_END
        }
        return out
    }
}

public enum CompressionError: Error, CustomStringConvertible {
    case failed(code: Int32)
    case corrupt(expected: Int, code: Int32)
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .failed(let code): return "zlib failed (code \(code))"
        case .corrupt(let expected, let code):
            return "compressed data is damaged (zlib code \(code)\(expected >= 0 ? ", expected \(expected) bytes" : ""))"
        case .tooLarge(let limit): return "decompressed data exceeds \(limit) bytes"
        }
    }
}
