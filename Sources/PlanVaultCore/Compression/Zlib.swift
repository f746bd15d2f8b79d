import CZlib

/// zlib (RFC 1950) compression through the system library.
public enum Zlib {
    /// Measured on plan-folder text: level 1 gives 3.4x at 90 MB/s, level 4 3.9x at 65 MB/s,
    /// level 6 4.2x at 35 MB/s. Only text reaches zlib (already-compressed documents are
    /// stored as they are), so level 4 buys a smaller repository for little time.
    public static let defaultLevel: Int32 = 4

    /// Compresses `input`; returns nil when the result would not be smaller than the input.
    public static func compressIfSmaller(_ input: UnsafeRawBufferPointer, level: Int32 = defaultLevel) -> [UInt8]? {
        guard input.count > 0 else { return nil }
        var destLen = uLongf(input.count)  // anything longer is not worth keeping
        var out = [UInt8](repeating: 0, count: input.count)
        let rc = out.withUnsafeMutableBufferPointer { outPtr in
            compress2(outPtr.baseAddress, &destLen, input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(input.count), level)
        }
        guard rc == Z_OK, Int(destLen) < input.count else { return nil }
        out.removeLast(out.count - Int(destLen))
        return out
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
        var out = [UInt8](repeating: 0, count: max(expectedSize, 1))
        var destLen = uLongf(expectedSize)
        let rc = out.withUnsafeMutableBufferPointer { outPtr in
            uncompress(outPtr.baseAddress, &destLen, input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(input.count))
        }
        guard rc == Z_OK, Int(destLen) == expectedSize else {
            throw CompressionError.corrupt(expected: expectedSize, code: rc)
        }
        out.removeLast(out.count - expectedSize)
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
