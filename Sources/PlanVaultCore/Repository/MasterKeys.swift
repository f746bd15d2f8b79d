/// The repository's master key and the keys derived from it with HKDF-SHA256.
/// Derived once when the repository is opened; nothing else ever sees the master key.
public final class MasterKeys: Sendable {
    static let masterKeyLength = 32

    let master: SecretKey
    /// Input key for every per-bundle and per-object encryption key.
    let dataKey: SecretKey
    /// Key for chunk IDs: HMAC-SHA256(chunkIDKey, plaintext).
    let chunkIDKey: SecretKey
    public let gear: GearTable
    /// Ed25519 private key for attestations, derived from the master key so every key holder
    /// can sign and repositories made before attestations existed have one too.
    let signingKey: SecretKey

    public init(master: SecretKey) throws {
        guard master.count == Self.masterKeyLength else { throw PlanVaultError.unsupportedFormat("master key must be 32 bytes") }
        self.master = master
        dataKey = SecretKey(bytes: try LibCrypto.hkdfSHA256(key: master, salt: [], info: Array("planvault/v1/data-key".utf8), length: 32))
        chunkIDKey = SecretKey(bytes: try LibCrypto.hkdfSHA256(key: master, salt: [], info: Array("planvault/v1/chunk-id-key".utf8), length: 32))
        gear = GearTable(keyMaterial: try LibCrypto.hkdfSHA256(key: master, salt: [], info: Array("planvault/v1/gear-table".utf8), length: 2048))
        signingKey = SecretKey(bytes: try LibCrypto.hkdfSHA256(key: master, salt: [], info: Array("planvault/v1/attestation-signing-key".utf8), length: 32))
    }

    /// The auditor's public key.
    public func attestationPublicKey() throws -> [UInt8] { try Ed25519.publicKey(privateKey: signingKey) }

    public func signAttestation(_ message: [UInt8]) throws -> [UInt8] { try Ed25519.sign(privateKey: signingKey, message: message) }

    public static func generate() throws -> MasterKeys {
        try MasterKeys(master: SecretKey(bytes: LibCrypto.randomBytes(masterKeyLength)))
    }

    public func chunkID(_ data: UnsafeRawBufferPointer) -> Digest32 {
        LibCrypto.hmacSHA256(key: chunkIDKey, data)
    }

    /// The key of one bundle: unique per bundle because each bundle draws a fresh 32-byte salt.
    func bundleKey(salt: [UInt8]) throws -> SecretKey {
        SecretKey(bytes: try LibCrypto.hkdfSHA256(key: dataKey, salt: salt, info: Array("planvault/v1/bundle".utf8), length: 32))
    }

    /// The key of one standalone object (index, snapshot), likewise salted.
    func objectKey(salt: [UInt8], kind: ObjectKind) throws -> SecretKey {
        SecretKey(bytes: try LibCrypto.hkdfSHA256(key: dataKey, salt: salt, info: Array("planvault/v1/object/\(kind.rawValue)".utf8), length: 32))
    }
}
