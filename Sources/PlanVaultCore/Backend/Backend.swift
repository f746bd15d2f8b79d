/// The kinds of object a repository holds. Each maps to one folder (or key prefix)
/// on a target; every name except the config's is the SHA-256 of the object's bytes.
public enum ObjectKind: String, CaseIterable, Sendable, Codable {
    case config
    case key = "keys"
    case bundle = "bundles"
    case index
    case snapshot = "snapshots"
    /// Signed, unencrypted records of pushes, verifications, drills and retention (see FORMAT.md).
    case attestation = "attestations"
    /// Repository locks (plain JSON, see FORMAT.md §15): who holds the repository, and how.
    case lock = "locks"

    public var singular: String {
        switch self {
        case .config: return "config"
        case .key: return "key file"
        case .bundle: return "bundle"
        case .index: return "index file"
        case .snapshot: return "snapshot"
        case .attestation: return "attestation"
        case .lock: return "lock"
        }
    }

    /// Whether names of this kind are the SHA-256 of the stored bytes.
    public var isContentAddressed: Bool { self != .config }
}

public struct ObjectInfo: Sendable, Hashable {
    public var name: String
    public var size: UInt64

    public init(name: String, size: UInt64) {
        self.name = name
        self.size = size
    }
}

/// The reading half of a storage target: restore, verify and audit need nothing more,
/// so they cannot write by construction.
public protocol ReadableBackend: Sendable {
    /// Where the repository lives, for messages (never contains a secret).
    var location: String { get }
    /// All objects of a kind (names that are not valid object names are left out).
    func list(_ kind: ObjectKind) async throws -> [ObjectInfo]
    /// Bytes of an object, or of `range` of it. Throws `objectMissing` if absent.
    func read(_ kind: ObjectKind, name: String, range: Range<UInt64>?) async throws -> [UInt8]
    /// Size of an object, or nil if absent.
    func stat(_ kind: ObjectKind, name: String) async throws -> ObjectInfo?
    /// How many reads to keep in flight to cover this target's latency (restore, verify).
    var readsInFlight: Int { get }
}

extension ReadableBackend {
    /// A local folder or share: enough to keep every core decrypting while the disk reads.
    public var readsInFlight: Int { 4 }
}

/// The writing half. `write` is atomic: a reader sees the whole object or nothing,
/// even if the process is killed mid-write.
public protocol Backend: ReadableBackend {
    /// Prepares an empty repository location (folders, bucket prefix).
    func prepare() async throws
    /// Stores an object atomically. Writing a content-addressed name that exists is a no-op when
    /// the stored copy is intact; a target that can check (directory, server) replaces a stored
    /// copy that no longer hashes to its name.
    func write(_ kind: ObjectKind, name: String, data: [UInt8]) async throws
    /// Stores an object even though one of that name exists, because the stored copy no longer
    /// hashes to its name (repair). The caller has checked that data hashes to name.
    func repair(_ kind: ObjectKind, name: String, data: [UInt8]) async throws
    func delete(_ kind: ObjectKind, name: String) async throws
}

public enum ObjectName {
    /// The config's fixed name.
    public static let config = "config"

    /// A valid content-addressed name: 64 lowercase hex digits.
    public static func isValid(_ name: String) -> Bool {
        let u = name.utf8
        return u.count == 64 && u.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    public static func validate(_ kind: ObjectKind, _ name: String) throws {
        if kind == .config {
            guard name == config else { throw PlanVaultError.invalidName(name) }
        } else {
            guard isValid(name) else { throw PlanVaultError.invalidName(name) }
        }
    }
}
