/// The bounds a reader enforces on every length, count and offset it reads from a target,
/// before it allocates or adds (FORMAT.md §14). An object that breaks one is damaged, whoever
/// made it: one bad object must never crash or stall a command.
public enum Limits {
    /// Largest chunk a reader accepts (the chunker's own maximum is at most this; see §3).
    public static let maxChunkSize = 64 * 1024 * 1024
    /// Extra bytes a record may have over its plaintext: the encoding byte and the GCM tag.
    public static let recordOverhead = 1 + 16
    /// Bundles use u32 offsets, so a bundle is smaller than 4 GiB.
    public static let maxBundleSize = UInt64(UInt32.max)
    /// Largest index file (sealed) and largest decoded index payload.
    public static let maxIndexFileSize = 64 * 1024 * 1024
    /// Largest snapshot object as stored, and its payload once decompressed.
    public static let maxSnapshotObjectSize = 128 * 1024 * 1024
    public static let maxSnapshotPayload = 256 * 1024 * 1024
    /// A snapshot node's path: at most PATH_MAX bytes, each component at most NAME_MAX bytes.
    public static let maxPathLength = 4096
    public static let maxNameLength = 255
    /// Key files, attestations and the config are small JSON documents.
    public static let maxKeyFileSize = 64 * 1024
    public static let maxAttestationSize = 16 * 1024 * 1024
    public static let maxConfigSize = 64 * 1024
    public static let maxLockSize = 64 * 1024

    /// The largest stored object of a kind that a whole-object read accepts.
    public static func maxObjectSize(_ kind: ObjectKind) -> UInt64 {
        switch kind {
        case .config: return UInt64(maxConfigSize)
        case .key: return UInt64(maxKeyFileSize)
        case .index: return UInt64(maxIndexFileSize)
        case .snapshot: return UInt64(maxSnapshotObjectSize)
        case .attestation: return UInt64(maxAttestationSize)
        case .bundle: return maxBundleSize
        case .lock: return UInt64(maxLockSize)
        }
    }
}
