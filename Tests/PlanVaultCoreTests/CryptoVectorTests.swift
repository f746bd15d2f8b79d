import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Published test vectors, run through PlanVault's own wrappers.
final class CryptoVectorTests: XCTestCase {
    func hex(_ s: String) -> [UInt8] { Hex.decode(s) ?? [] }

    func testAES256GCMMatchesNISTTestCases13And14And16() throws {
        let zeroKey = SecretKey(bytes: [UInt8](repeating: 0, count: 32))
        let nonce = [UInt8](repeating: 0, count: 12)
        // Test case 13: empty plaintext, tag only.
        XCTAssertEqual(Hex.encode(try LibCrypto.aes256GCMSeal(key: zeroKey, nonce: nonce, aad: [], plaintext: [])),
                       "530f8afbc74536b9a963b4f1c4cb738b")
        // Test case 14: one zero block.
        XCTAssertEqual(Hex.encode(try LibCrypto.aes256GCMSeal(key: zeroKey, nonce: nonce, aad: [], plaintext: [UInt8](repeating: 0, count: 16))),
                       "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
        // Test case 16: with additional authenticated data.
        let key = SecretKey(bytes: hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"))
        let plain = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let iv = hex("cafebabefacedbaddecaf888")
        let sealed = try LibCrypto.aes256GCMSeal(key: key, nonce: iv, aad: aad, plaintext: plain)
        XCTAssertEqual(Hex.encode(sealed),
                       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                       + "76fc6ece0f4e1768cddf8853bb2d551b")
        XCTAssertEqual(try LibCrypto.aes256GCMOpen(key: key, nonce: iv, aad: aad, sealed: sealed), plain)
    }

    func testAES256GCMRejectsAlteredCiphertextTagAndAAD() throws {
        let key = SecretKey(bytes: try LibCrypto.randomBytes(32))
        let nonce = try LibCrypto.randomBytes(12)
        let sealed = try LibCrypto.aes256GCMSeal(key: key, nonce: nonce, aad: [1, 2], plaintext: Array("contact list".utf8))
        var flipped = sealed
        flipped[3] ^= 1
        XCTAssertThrowsError(try LibCrypto.aes256GCMOpen(key: key, nonce: nonce, aad: [1, 2], sealed: flipped))
        var badTag = sealed
        badTag[badTag.count - 1] ^= 0x80
        XCTAssertThrowsError(try LibCrypto.aes256GCMOpen(key: key, nonce: nonce, aad: [1, 2], sealed: badTag))
        XCTAssertThrowsError(try LibCrypto.aes256GCMOpen(key: key, nonce: nonce, aad: [1, 3], sealed: sealed))
    }

    func testHMACSHA256MatchesRFC4231Cases1And2() {
        XCTAssertEqual(LibCrypto.hmacSHA256(key: SecretKey(bytes: [UInt8](repeating: 0x0b, count: 20)), Array("Hi There".utf8)).hex,
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(LibCrypto.hmacSHA256(key: SecretKey(bytes: Array("Jefe".utf8)), Array("what do ya want for nothing?".utf8)).hex,
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testSHA256MatchesFIPS180Example() {
        XCTAssertEqual(LibCrypto.sha256(Array("abc".utf8)).hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testScryptMatchesRFC7914Vectors() throws {
        XCTAssertEqual(Hex.encode(try LibCrypto.scrypt(passphrase: [], salt: [], n: 16, r: 1, p: 1, length: 64).exportBytes()),
                       "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")
        XCTAssertEqual(Hex.encode(try LibCrypto.scrypt(passphrase: Array("password".utf8), salt: Array("NaCl".utf8), n: 1024, r: 8, p: 16, length: 64).exportBytes()),
                       "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }

    func testHKDFMatchesRFC5869Case1() throws {
        let okm = try LibCrypto.hkdfSHA256(key: SecretKey(bytes: [UInt8](repeating: 0x0b, count: 22)),
                                           salt: hex("000102030405060708090a0b0c"), info: hex("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        XCTAssertEqual(Hex.encode(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    func testDigestHexRoundTripAndRejectsBadHex() {
        let d = LibCrypto.sha256([1, 2, 3])
        XCTAssertEqual(Digest32(hex: d.hex), d)
        XCTAssertNil(Digest32(hex: "xyz"))
        XCTAssertNil(Digest32(hex: String(repeating: "G", count: 64)))
    }
}
