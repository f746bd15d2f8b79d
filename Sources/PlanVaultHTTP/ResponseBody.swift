import AsyncHTTPClient
import NIOCore

/// Reads a reply's body into one array. AsyncHTTPClient's `collect` grows a buffer as parts
/// arrive (a copy each time it doubles) and the array is then one more copy; over a restore's
/// bundles those copies took more CPU than TLS. Here room is made once, from the declared
/// Content-Length, and each part is copied once.
enum ResponseBody {
    /// The most reserved ahead from a declared length (twice the default bundle size); a longer
    /// body still arrives, the array growing as usual. Bounds what a server's claim alone can
    /// make us allocate (address space only until bytes arrive to fill it).
    static let reserveAtMost = 32 << 20

    /// Every byte of the body; more than `limit` is refused (`NIOTooManyBytesError`), as by
    /// `collect(upTo:)`, from the first part on when the declared length is already too long.
    static func bytes(of response: HTTPClientResponse, limit: Int) async throws -> [UInt8] {
        // Looked at when the first bytes arrive: a HEAD reply declares the object's length but
        // has no body.
        let declared = response.headers.first(name: "Content-Length").flatMap(Int.init)
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
}
