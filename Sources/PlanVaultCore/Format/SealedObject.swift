/// Encryption of a standalone object (index file, snapshot).
///
///     "PVS1" | salt (32) | AES-256-GCM(key, nonce = 0^12, aad = "PVS1" || kind) of (encoding || payload) | tag (16)
///
/// key = HKDF-SHA256(dataKey, salt, "planvault/v1/object/" + kind). A fresh random
/// salt per object gives a fresh key per object, so the fixed nonce never repeats under a key.
public enum SealedObject {
    static let magic = Array("PVS1".utf8)
    static let saltLength = 32
    static let zeroNonce = [UInt8](repeating: 0, count: 12)

    public static func seal(_ payload: [UInt8], kind: ObjectKind, keys: MasterKeys, compress: Bool) throws -> [UInt8] {
        let salt = try LibCrypto.randomBytes(saltLength)
        let key = try keys.objectKey(salt: salt, kind: kind)
        var plain: [UInt8]
        if compress {
            plain = [PayloadEncoding.zlib.rawValue]
            plain += try Zlib.compress(payload)
        } else {
            plain = [PayloadEncoding.stored.rawValue]
            plain += payload
        }
        let sealed = try LibCrypto.aes256GCMSeal(key: key, nonce: zeroNonce, aad: magic + Array(kind.rawValue.utf8), plaintext: plain)
        return magic + salt + sealed
    }

    /// Largest payload a reader accepts for each kind (FORMAT.md §14).
    static func maxPayload(_ kind: ObjectKind) -> Int {
        kind == .snapshot ? Limits.maxSnapshotPayload : Limits.maxIndexFileSize
    }

    public static func open(_ data: [UInt8], kind: ObjectKind, name: String, keys: MasterKeys) throws -> [UInt8] {
        let headerLength = magic.count + saltLength
        guard data.count >= headerLength + 16 + 1, Array(data[0..<4]) == magic else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "not a PlanVault sealed object (bad magic or too short)")
        }
        let salt = Array(data[4..<headerLength])
        let key = try keys.objectKey(salt: salt, kind: kind)
        let plain: [UInt8]
        do {
            plain = try data.withUnsafeBytes { p in
                try LibCrypto.aes256GCMOpen(key: key, nonce: zeroNonce, aad: magic + Array(kind.rawValue.utf8),
                                            sealed: UnsafeRawBufferPointer(rebasing: p[headerLength...]))
            }
        } catch {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "authentication failed: the object was altered, or belongs to another repository")
        }
        guard let first = plain.first, let encoding = PayloadEncoding(rawValue: first) else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "unknown payload encoding")
        }
        switch encoding {
        case .stored:
            guard plain.count - 1 <= maxPayload(kind) else {
                throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "payload exceeds the \(maxPayload(kind)) byte limit")
            }
            return Array(plain[1...])
        case .zlib:
            do { return try Zlib.decompress(Array(plain[1...]), limit: maxPayload(kind)) } catch {
                throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "\(error)")
            }
        }
    }
}

/// First byte of every encrypted payload: how the rest is encoded.
public enum PayloadEncoding: UInt8, Sendable {
    case stored = 0
    case zlib = 1
}
