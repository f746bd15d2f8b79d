import AsyncHTTPClient
import NIOCore

/// Reads a reply's body into one array. AsyncHTTPClient's `collect` grows a buffer as parts
/// arrive (a copy each time it doubles) and the array is then one more copy; over a restore's
/// bundles those copies took more CPU than TLS. Here room is made once, from the declared
/// Content-Length, and each part is copied once.
enum ResponseBody {
    /// The longest error reply read (its text explains the error).
    static let errorLimit = 1 << 20

    /// Whether `response`, a 200 to a GET of `range`, holds the whole object (a server that
    /// ignores Range) rather than just the range: its declared length is longer than the range,
    /// or it declares none (chunked: 200 means the whole object).
    static func isWholeObject(_ response: HTTPClientResponse, for range: Range<UInt64>) -> Bool {
        guard response.status == .ok else { return false }
        guard let declared = response.headers.first(name: "Content-Length").flatMap(Int.init) else { return true }
        return declared > range.count
    }

    /// The most reserved ahead from a declared length (twice the default bundle size); a longer
    /// body still arrives, the array growing as usual. Bounds what a server's claim alone can
    /// make us allocate (address space only until bytes arrive to fill it).
    static let reserveAtMost = 32 << 20

    /// Every byte of the body; more than `limit` is refused (`NIOTooManyBytesError`), as by
    /// `collect(upTo:)`, from the first part on when the declared length is already too long.
    /// `range`: the bytes a ranged GET asked for. A server that ignores Range answers 200 with the
    /// whole object; then only the range is kept, as the body arrives, so memory stays bounded
    /// by what was asked for, not by the object's size.
    static func bytes(of response: HTTPClientResponse, limit: Int, range: Range<UInt64>? = nil) async throws -> [UInt8] {
        // Looked at when the first bytes arrive: a HEAD reply declares the object's length but
        // has no body.
        let declared = response.headers.first(name: "Content-Length").flatMap(Int.init)
        if let range, isWholeObject(response, for: range) {
            return try await window(range, of: response.body)
        }
        // `limit` is for what the operation asked for; an error reply (a 404 to an 8-byte read,
        // S3's XML) is small whatever was asked, and is read up to `errorLimit`.
        let limit = (200..<300).contains(response.status.code) ? limit : max(limit, errorLimit)
        var bytes = [UInt8]()
        for try await part in response.body {
            if bytes.isEmpty, let declared {
                guard declared <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
                if declared > part.readableBytes { bytes.reserveCapacity(min(declared, reserveAtMost)) }
            }
            guard part.readableBytes <= limit - bytes.count else { throw NIOTooManyBytesError(maxBytes: limit) }
            bytes.append(contentsOf: part.readableBytesView)
        }
        return bytes
    }

    /// The bytes at `range` of a body holding a whole object; fewer when the body ends first.
    private static func window(_ range: Range<UInt64>, of body: HTTPClientResponse.Body) async throws -> [UInt8] {
        var kept = [UInt8]()
        kept.reserveCapacity(min(range.count, reserveAtMost))
        var position: UInt64 = 0
        for try await part in body {
            let start = position
            position += UInt64(part.readableBytes)
            let from = max(start, range.lowerBound), to = min(position, range.upperBound)
            if from < to {
                part.withUnsafeReadableBytes { kept.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[Int(from - start)..<Int(to - start)])) }
            }
            // The rest is not wanted: stop reading (the connection is closed, not reused).
            if position >= range.upperBound { break }
        }
        return kept
    }
}
