import Foundation
import CLibCrypto

/// Thin, typed wrappers over OpenSSL's libcrypto. This is the only file that
/// calls libcrypto; every other part of PlanVault goes through these functions.
public enum LibCrypto {
    /// EVP length arguments are `Int32`; longer inputs are fed in pieces of this size.
    static let maxPiece = 1 << 30

    /// Cryptographically secure random bytes from OpenSSL's DRBG.
    public static func randomBytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&out, Int32(count)) == 1 else {
            throw CryptoError.failure("RAND_bytes")
        }
        return out
    }

    /// SHA-256 of `data`.
    public static func sha256(_ data: UnsafeRawBufferPointer) -> Digest32 {
        var out = Digest32.zeroBytes
        let ok = out.withUnsafeMutableBytes { outPtr in
            SHA256(data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                   outPtr.baseAddress?.assumingMemoryBound(to: UInt8.self)) != nil
        }
        // A failed hash would silently merge distinct content: stop rather than continue.
        guard ok else { fatalError("libcrypto SHA256 failed") }
        return Digest32(out)
    }

    public static func sha256(_ data: [UInt8]) -> Digest32 {
        data.withUnsafeBytes { sha256($0) }
    }

    /// HMAC-SHA256 of `data` under `key`.
    public static func hmacSHA256(key: SecretKey, _ data: UnsafeRawBufferPointer) -> Digest32 {
        var out = Digest32.zeroBytes
        var outLen: UInt32 = 32
        let ok = key.withUnsafeBytes { keyPtr in
            out.withUnsafeMutableBytes { outPtr in
                HMAC(EVP_sha256(), keyPtr.baseAddress, Int32(keyPtr.count),
                     data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                     outPtr.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLen) != nil
            }
        }
        // A failed MAC would give every chunk the same ID and merge them: stop rather than continue.
        guard ok, outLen == 32 else { fatalError("libcrypto HMAC-SHA256 failed") }
        return Digest32(out)
    }

    public static func hmacSHA256(key: SecretKey, _ data: [UInt8]) -> Digest32 {
        data.withUnsafeBytes { hmacSHA256(key: key, $0) }
    }

    /// HKDF-SHA256 (RFC 5869), extract-and-expand.
    public static func hkdfSHA256(key: SecretKey, salt: [UInt8], info: [UInt8], length: Int) throws -> [UInt8] {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw CryptoError.failure("EVP_PKEY_CTX_new_id(HKDF)") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: length)
        var outLen = length
        let ok: Bool = key.withUnsafeBytes { keyPtr in
            guard EVP_PKEY_derive_init(ctx) == 1,
                  EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1,
                  EVP_PKEY_CTX_set1_hkdf_key(ctx, keyPtr.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(keyPtr.count)) == 1
            else { return false }
            // An empty salt means "no salt": RFC 5869 then uses HashLen zero bytes.
            if !salt.isEmpty, EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, Int32(salt.count)) != 1 { return false }
            if !info.isEmpty, EVP_PKEY_CTX_add1_hkdf_info(ctx, info, Int32(info.count)) != 1 { return false }
            return EVP_PKEY_derive(ctx, &out, &outLen) == 1
        }
        guard ok, outLen == length else { throw CryptoError.failure("HKDF derive") }
        return out
    }

    /// scrypt (RFC 7914).
    public static func scrypt(passphrase: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, length: Int) throws -> SecretKey {
        var out = [UInt8](repeating: 0, count: length)
        // OpenSSL's default memory cap (32 MiB) is too small for N=2^15, r=8: allow 128*r*N*2 + slack.
        let maxMem = 128 * r * n * 2 + 16 * 1024 * 1024
        let rc = passphrase.withUnsafeBufferPointer { pw in
            pw.withMemoryRebound(to: CChar.self) { pwChars in
                EVP_PBE_scrypt(pwChars.baseAddress, pw.count, salt, salt.count, n, r, p, maxMem, &out, length)
            }
        }
        guard rc == 1 else { throw CryptoError.failure("scrypt (N=\(n), r=\(r), p=\(p))") }
        defer { planvault_cleanse(&out, out.count) }
        return SecretKey(bytes: out)
    }

    /// AES-256-GCM encryption. Returns ciphertext followed by the 16-byte tag.
    public static func aes256GCMSeal(key: SecretKey, nonce: [UInt8], aad: [UInt8], plaintext: UnsafeRawBufferPointer) throws -> [UInt8] {
        try aes256GCMSeal(key: key, nonce: nonce, aad: aad, parts: [plaintext])
    }

    /// AES-256-GCM encryption of the concatenation of `parts` (ciphertext, then the 16-byte tag),
    /// without first copying them into one buffer.
    public static func aes256GCMSeal(key: SecretKey, nonce: [UInt8], aad: [UInt8], parts: [UnsafeRawBufferPointer]) throws -> [UInt8] {
        precondition(nonce.count == 12, "AES-GCM nonces are 12 bytes")
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let total = parts.reduce(0) { $0 + $1.count }
        var ok = false
        // Not zero-filled first: every byte is written by the cipher, or the result is discarded.
        let out = [UInt8](unsafeUninitializedCapacity: total + 16) { outPtr, initialized in
            initialized = 0
            ok = key.withUnsafeBytes { keyPtr -> Bool in
                guard let outBase = outPtr.baseAddress,
                      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, keyPtr.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce) == 1
                else { return false }
                var len: Int32 = 0
                if !aad.isEmpty, EVP_EncryptUpdate(ctx, nil, &len, aad, Int32(aad.count)) != 1 { return false }
                var written = 0
                for part in parts {
                    var offset = 0
                    while offset < part.count {
                        let piece = min(maxPiece, part.count - offset)
                        guard let base = part.baseAddress?.assumingMemoryBound(to: UInt8.self),
                              EVP_EncryptUpdate(ctx, outBase + written, &len, base + offset, Int32(piece)) == 1
                        else { return false }
                        written += Int(len)
                        offset += piece
                    }
                }
                guard EVP_EncryptFinal_ex(ctx, outBase + written, &len) == 1 else { return false }
                written += Int(len)
                return written == total && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, outBase + written) == 1
            }
            if ok { initialized = total + 16 }
        }
        guard ok else { throw CryptoError.failure("AES-256-GCM encrypt") }
        return out
    }

    public static func aes256GCMSeal(key: SecretKey, nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        try plaintext.withUnsafeBytes { try aes256GCMSeal(key: key, nonce: nonce, aad: aad, plaintext: $0) }
    }

    /// AES-256-GCM decryption of ciphertext-with-tag. Throws `CryptoError.authenticationFailed`
    /// when the tag does not match (wrong key, or damaged or forged data).
    public static func aes256GCMOpen(key: SecretKey, nonce: [UInt8], aad: [UInt8], sealed: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard sealed.count >= 16 else { throw CryptoError.authenticationFailed }
        return try openedArray(count: sealed.count - 16) { body in
            gcmOpen(key: key, nonce: nonce, aad: aad, sealed: sealed, head: nil, body: body)
        }
    }

    /// As `aes256GCMOpen`, for a plaintext that starts with one tag byte (a payload encoding):
    /// the byte is returned apart and the rest fills its own array, with no copy to split them.
    public static func aes256GCMOpenTagged(key: SecretKey, nonce: [UInt8], aad: [UInt8],
                                           sealed: UnsafeRawBufferPointer) throws -> (tag: UInt8, body: [UInt8]) {
        guard sealed.count >= 17 else { throw CryptoError.authenticationFailed }
        var tag: UInt8 = 0
        let body = try openedArray(count: sealed.count - 17) { body in
            gcmOpen(key: key, nonce: nonce, aad: aad, sealed: sealed, head: &tag, body: body)
        }
        return (tag, body)
    }

    /// An array of `count` bytes filled by `open`; nothing of it is kept when `open` fails.
    private static func openedArray(count: Int, _ open: (UnsafeMutablePointer<UInt8>?) -> Bool) throws -> [UInt8] {
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            ok = open(buffer.baseAddress)
            initialized = ok ? count : 0
        }
        guard ok else { throw CryptoError.authenticationFailed }
        return out
    }

    /// Decrypts and authenticates `sealed` (ciphertext || 16-byte tag): the first plaintext byte
    /// to `head` when given, the rest to `body`. False when the tag does not verify.
    private static func gcmOpen(key: SecretKey, nonce: [UInt8], aad: [UInt8], sealed: UnsafeRawBufferPointer,
                                head: UnsafeMutablePointer<UInt8>?, body: UnsafeMutablePointer<UInt8>?) -> Bool {
        precondition(nonce.count == 12, "AES-GCM nonces are 12 bytes")
        let headCount = head == nil ? 0 : 1
        guard sealed.count >= 16 + headCount, let sealedBase = sealed.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let bodyEnd = sealed.count - 16
        return key.withUnsafeBytes { keyPtr -> Bool in
            guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, keyPtr.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce) == 1
            else { return false }
            var len: Int32 = 0
            if !aad.isEmpty, EVP_DecryptUpdate(ctx, nil, &len, aad, Int32(aad.count)) != 1 { return false }
            if let head, EVP_DecryptUpdate(ctx, head, &len, sealedBase, 1) != 1 { return false }
            var written = 0
            var offset = headCount
            while offset < bodyEnd {
                let piece = min(maxPiece, bodyEnd - offset)
                guard let body, EVP_DecryptUpdate(ctx, body + written, &len, sealedBase + offset, Int32(piece)) == 1 else { return false }
                written += Int(len)
                offset += piece
            }
            var tag = [UInt8](UnsafeBufferPointer(start: sealedBase + bodyEnd, count: 16))
            guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, &tag) == 1 else { return false }
            // GCM writes nothing at the end; a scratch byte keeps the pointer valid for an empty body.
            var scratch: UInt8 = 0
            return withUnsafeMutablePointer(to: &scratch) { EVP_DecryptFinal_ex(ctx, body.map { $0 + written } ?? $0, &len) == 1 }
        }
    }

    public static func aes256GCMOpen(key: SecretKey, nonce: [UInt8], aad: [UInt8], sealed: [UInt8]) throws -> [UInt8] {
        try sealed.withUnsafeBytes { try aes256GCMOpen(key: key, nonce: nonce, aad: aad, sealed: $0) }
    }

    /// Constant-time comparison of two byte strings of equal length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { ap in b.withUnsafeBytes { bp in CRYPTO_memcmp(ap.baseAddress, bp.baseAddress, a.count) == 0 } }
    }

    static func cleanse(_ ptr: UnsafeMutableRawBufferPointer) {
        if let base = ptr.baseAddress { planvault_cleanse(base, ptr.count) }
    }
}

public enum CryptoError: Error, CustomStringConvertible, Equatable {
    case failure(String)
    case authenticationFailed

    public var description: String {
        switch self {
        case .failure(let what): return "libcrypto call failed: \(what)"
        case .authenticationFailed: return "authentication failed (wrong key, or damaged or forged data)"
        }
    }
}

/// Incremental SHA-256, for content that arrives in pieces (uploads to the server).
public final class SHA256Stream: @unchecked Sendable {
    private let ctx: OpaquePointer

    public init() throws {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.failure("EVP_MD_CTX_new") }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(ctx)
            throw CryptoError.failure("EVP_DigestInit_ex(SHA-256)")
        }
        self.ctx = ctx
    }

    public func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        _ = EVP_DigestUpdate(ctx, base, data.count)
    }

    public func finalize() -> Digest32 {
        var out = Digest32.zeroBytes
        var len: UInt32 = 32
        _ = EVP_DigestFinal_ex(ctx, &out, &len)
        return Digest32(out)
    }

    deinit { EVP_MD_CTX_free(ctx) }
}

extension LibCrypto {
    /// Base64 MD5, only for S3's Content-MD5 header (required with Object Lock); never for integrity here.
    public static func md5Base64(_ data: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 16)
        var len: UInt32 = 16
        _ = data.withUnsafeBytes { p in EVP_Digest(p.baseAddress, p.count, &out, &len, EVP_md5(), nil) }
        return Data(out).base64EncodedString()
    }
}

/// Ed25519 (RFC 8032) signatures, for attestations an auditor can check with a public key alone.
public enum Ed25519 {
    public static func publicKey(privateKey: SecretKey) throws -> [UInt8] {
        let pkey = try privateKeyHandle(privateKey)
        defer { EVP_PKEY_free(pkey) }
        var out = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &out, &len) == 1, len == 32 else { throw CryptoError.failure("Ed25519 public key") }
        return out
    }

    public static func sign(privateKey: SecretKey, message: [UInt8]) throws -> [UInt8] {
        let pkey = try privateKeyHandle(privateKey)
        defer { EVP_PKEY_free(pkey) }
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.failure("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        var signature = [UInt8](repeating: 0, count: 64)
        var len = 64
        guard EVP_DigestSignInit(ctx, nil, nil, nil, pkey) == 1,
              EVP_DigestSign(ctx, &signature, &len, message, message.count) == 1, len == 64
        else { throw CryptoError.failure("Ed25519 sign") }
        return signature
    }

    public static func verify(publicKey: [UInt8], message: [UInt8], signature: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64,
              let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, 32) else { return false }
        defer { EVP_PKEY_free(pkey) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, pkey) == 1 else { return false }
        return EVP_DigestVerify(ctx, signature, 64, message, message.count) == 1
    }

    private static func privateKeyHandle(_ key: SecretKey) throws -> OpaquePointer {
        guard key.count == 32 else { throw CryptoError.failure("Ed25519 private keys are 32 bytes") }
        let pkey = key.withUnsafeBytes { p in
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, p.baseAddress?.assumingMemoryBound(to: UInt8.self), 32)
        }
        guard let pkey else { throw CryptoError.failure("EVP_PKEY_new_raw_private_key(Ed25519)") }
        return pkey
    }
}
