import CZlib

/// zlib (RFC 1950) compression through the system library.
public enum Zlib {
    /// The default: level 4 with zlib's lazy-match search tuned (see `tuning`). Measured on the
    /// benchmark corpus's text (254 MB of CSV, Markdown, logs, JSON and text-like PDF pieces, in
    /// 1 MiB pieces, one core; this VM's times vary by ±15%, so each is paired with the setting
    /// it replaced, measured in the same run; `Benchmarks/zlib-tune` repeats the measurement):
    ///
    ///     setting                     output    time against tuned 4 16 32 24
    ///     level 4 (zlib's table)      62.3 MB   0.84 (3.65 s vs 4.34 s, one run each)
    ///     level 4, tuned 4 8 64 16    60.7 MB   0.84 (4.35 s vs 5.18 s, best of three)
    ///     level 4, tuned 4 16 32 24   59.9 MB   1.00
    ///
    /// 4 8 64 16 is the default: with the probe's block rule (see `CompressibilityProbe`), which
    /// stores 0.7 MB less of the corpus's disk image, the repository stays smaller than restic's
    /// zstd one, for about 0.8 s less CPU per first push than 4 16 32 24.
    public static let defaultLevel: Int32 = 4

    /// deflateTune's good_length, max_lazy, nice_length and max_chain for a level, when PlanVault
    /// sets them rather than zlib's table: only for level 4, the default, measured as above.
    static func tuning(level: Int32) -> (good: Int32, lazy: Int32, nice: Int32, chain: Int32)? {
        level == 4 ? (4, 8, 64, 16) : nil
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

    /// Compresses `input` unconditionally.
    public static func compress(_ input: [UInt8], level: Int32 = defaultLevel) throws -> [UInt8] {
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
