/// Key material held in memory that is wiped when released. Never printed,
/// never encoded except by the key-file wrapping code.
public final class SecretKey: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    public init(bytes: [UInt8]) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        storage.copyBytes(from: bytes)
        count = bytes.count
    }

    public let count: Int

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// A copy of the raw bytes, for wrapping into a key file only.
    public func exportBytes() -> [UInt8] { withUnsafeBytes { Array($0) } }

    deinit {
        LibCrypto.cleanse(storage)
        storage.deallocate()
    }
}

extension SecretKey: CustomStringConvertible {
    public var description: String { "SecretKey(\(count) bytes, redacted)" }
}
