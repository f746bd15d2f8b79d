import Foundation

/// A key file wraps the master key under a passphrase. Plain JSON:
///
///     { "version": 1, "repository": ID, "created": TIME, "host": ..., "username": ..., "label": ...,
///       "kdf": { "algorithm": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": BASE64(32 bytes) },
///       "nonce": BASE64(12 bytes), "wrapped": BASE64(ciphertext || tag) }
///
/// wrapping key = scrypt(passphrase UTF-8, salt, n, r, p, 32);
/// wrapped = AES-256-GCM(wrapping key, nonce, aad = "planvault/v1/key-file/" || repository ID)
///           of the JSON { "master_key": BASE64(32 bytes), "config": BASE64(the config's bytes) }.
/// The config copy authenticates the target's config and lets a lost one be rewritten.
public struct KeyFile: Codable, Sendable {
    public struct KDF: Codable, Sendable {
        public var algorithm = "scrypt"
        public var n: UInt64
        public var r: UInt64
        public var p: UInt64
        public var salt: String
    }

    public var version = 1
    public var repository: String
    public var created: String
    public var host: String
    public var username: String
    public var label: String?
    /// Present on a recovery key file (`planvault key split`): how many shares were made and how
    /// many open it. Its KDF is `hkdf-sha256` over the secret the shares rebuild.
    public var recovery: Recovery?
    public var kdf: KDF
    public var nonce: String
    public var wrapped: String

    public struct Recovery: Codable, Sendable {
        public var shares: Int
        public var threshold: Int
    }

    public var isRecovery: Bool { kdf.algorithm == Self.recoveryKDF }
    static let recoveryKDF = "hkdf-sha256"
    static let recoveryInfo = Array("planvault/v1/recovery-key-file".utf8)

    /// scrypt cost: N=2^15, r=8, p=1 (32 MiB, about 0.1 s here).
    public static let defaultCost = (n: UInt64(1) << 15, r: UInt64(8), p: UInt64(1))

    struct Payload: Codable {
        var masterKey: String
        var config: String
        enum CodingKeys: String, CodingKey { case masterKey = "master_key", config }
    }

    /// What a key file yields to its passphrase: the master keys and the exact config bytes the
    /// repository was created with.
    public struct Unwrapped: Sendable {
        public var keys: MasterKeys
        public var config: [UInt8]
    }

    static func aad(repository: String) -> [UInt8] { Array("planvault/v1/key-file/\(repository)".utf8) }

    public static func wrap(_ keys: MasterKeys, passphrase: String, repository: String, config: [UInt8], label: String?,
                            host: String, username: String, cost: (n: UInt64, r: UInt64, p: UInt64) = defaultCost) throws -> KeyFile {
        let salt = try LibCrypto.randomBytes(32)
        let nonce = try LibCrypto.randomBytes(12)
        let kek = try LibCrypto.scrypt(passphrase: Array(passphrase.utf8), salt: salt, n: cost.n, r: cost.r, p: cost.p, length: 32)
        var payload = Array(try JSONEncoder().encode(Payload(masterKey: Data(keys.master.exportBytes()).base64EncodedString(),
                                                             config: Data(config).base64EncodedString())))
        defer { LibCrypto.wipe(&payload) }
        let wrapped = try LibCrypto.aes256GCMSeal(key: kek, nonce: nonce, aad: aad(repository: repository), plaintext: payload)
        return KeyFile(repository: repository, created: Timestamps.format(Date()), host: host, username: username, label: label,
                       kdf: KDF(n: cost.n, r: cost.r, p: cost.p, salt: Data(salt).base64EncodedString()),
                       nonce: Data(nonce).base64EncodedString(), wrapped: Data(wrapped).base64EncodedString())
    }

    /// A key file opened by a full-entropy recovery secret instead of a passphrase: no scrypt,
    /// wrapping key = HKDF-SHA256(secret, salt, "planvault/v1/recovery-key-file", 32).
    public static func wrapRecovery(_ keys: MasterKeys, secret: SecretKey, shares: Int, threshold: Int, repository: String, config: [UInt8],
                                    label: String?, host: String, username: String) throws -> KeyFile {
        let salt = try LibCrypto.randomBytes(32)
        let nonce = try LibCrypto.randomBytes(12)
        var kek = try LibCrypto.hkdfSHA256(key: secret, salt: salt, info: recoveryInfo, length: 32)
        defer { LibCrypto.wipe(&kek) }
        var payload = Array(try JSONEncoder().encode(Payload(masterKey: Data(keys.master.exportBytes()).base64EncodedString(),
                                                             config: Data(config).base64EncodedString())))
        defer { LibCrypto.wipe(&payload) }
        let wrapped = try LibCrypto.aes256GCMSeal(key: SecretKey(bytes: kek), nonce: nonce, aad: aad(repository: repository), plaintext: payload)
        return KeyFile(repository: repository, created: Timestamps.format(Date()), host: host, username: username, label: label,
                       recovery: Recovery(shares: shares, threshold: threshold),
                       kdf: KDF(algorithm: recoveryKDF, n: 0, r: 0, p: 0, salt: Data(salt).base64EncodedString()),
                       nonce: Data(nonce).base64EncodedString(), wrapped: Data(wrapped).base64EncodedString())
    }

    /// The master keys and config, or nil when the secret does not fit this recovery key file.
    public func unwrap(recoverySecret secret: SecretKey, name: String) throws -> Unwrapped? {
        guard isRecovery, let salt = Data(base64Encoded: kdf.salt), salt.count == 32, let nonceBytes = Data(base64Encoded: nonce),
              nonceBytes.count == 12, let sealed = Data(base64Encoded: wrapped)
        else { throw PlanVaultError.objectDamaged(kind: .key, name: name, reason: "malformed recovery key file") }
        var kek = try LibCrypto.hkdfSHA256(key: secret, salt: Array(salt), info: Self.recoveryInfo, length: 32)
        defer { LibCrypto.wipe(&kek) }
        return try open(kek: SecretKey(bytes: kek), nonce: Array(nonceBytes), sealed: Array(sealed), name: name)
    }

    /// The scrypt work of this key file, `n·r·p` (`.max` if that overflows): what a trial costs.
    public var work: UInt64 {
        let (w, overflow) = kdf.n.multipliedReportingOverflow(by: kdf.r)
        let (total, overflow2) = w.multipliedReportingOverflow(by: kdf.p)
        return overflow || overflow2 ? .max : total
    }

    /// The work of the default cost, `2^15·8`.
    public static let defaultWork = defaultCost.n * defaultCost.r * defaultCost.p

    /// The scrypt work in whole units of the default cost, at least 1 (for ordering: every key
    /// file no costlier than the default ties, and is ordered by age).
    public var workUnits: UInt64 { max(1, work / KeyFile.defaultWork) }

    /// The master keys and config, or nil when the passphrase does not fit this key file.
    public func unwrap(passphrase: String, name: String) throws -> Unwrapped? {
        guard kdf.algorithm == "scrypt", let salt = Data(base64Encoded: kdf.salt), let nonceBytes = Data(base64Encoded: nonce),
              nonceBytes.count == 12, let sealed = Data(base64Encoded: wrapped),
              kdf.n >= 1024, kdf.n <= 1 << 22, kdf.n & (kdf.n - 1) == 0, kdf.r >= 1, kdf.r <= 32, kdf.p >= 1, kdf.p <= 16,
              // A planted key file must not be able to stall an emergency restore: at most 512 MiB and
              // about 8x the default work.
              128 * kdf.r * kdf.n <= 512 << 20, kdf.n * kdf.r * kdf.p <= 8 * (KeyFile.defaultCost.n * KeyFile.defaultCost.r)
        else { throw PlanVaultError.objectDamaged(kind: .key, name: name, reason: "malformed key file or scrypt cost out of bounds") }
        let kek = try LibCrypto.scrypt(passphrase: Array(passphrase.utf8), salt: Array(salt), n: kdf.n, r: kdf.r, p: kdf.p, length: 32)
        return try open(kek: kek, nonce: Array(nonceBytes), sealed: Array(sealed), name: name)
    }

    private func open(kek: SecretKey, nonce: [UInt8], sealed: [UInt8], name: String) throws -> Unwrapped? {
        guard var plain = try? LibCrypto.aes256GCMOpen(key: kek, nonce: nonce, aad: Self.aad(repository: repository), sealed: sealed) else {
            return nil
        }
        defer { LibCrypto.wipe(&plain) }
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(plain)), let master = Data(base64Encoded: payload.masterKey),
              master.count == 32, let config = Data(base64Encoded: payload.config), config.count <= Limits.maxConfigSize else {
            throw PlanVaultError.objectDamaged(kind: .key, name: name, reason: "wrapped key is malformed")
        }
        return Unwrapped(keys: try MasterKeys(master: SecretKey(bytes: Array(master))), config: Array(config))
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }
}

extension LibCrypto {
    /// Overwrites a buffer that held secret bytes.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { cleanse($0) }
    }
}
