import Foundation
import XCTest
@testable import PlanVaultCore

/// The fast tree reader must never read a tree differently from `JSONDecoder`: it reads the form
/// PlanVault writes, and leaves everything else to `JSONDecoder`.
final class TreeJSONReaderTests: XCTestCase {
    static let sample: [TreeEntry] = {
        let id = Digest32(hex: String(repeating: "ab", count: 32))
        return [
            TreeEntry(name: "\"q\" \\ \u{1}\u{8}\t\n\u{C}\r\u{1F} é 😀", type: .file, mode: 0o644, mtimeNs: Int64.min, size: UInt64.max,
                      ctimeNs: -1, inode: 0, device: 7, chunks: id.map { [$0, $0] }, target: nil, subtree: nil),
            TreeEntry(name: "dir", type: .dir, mode: 0o755, mtimeNs: 0, size: nil, ctimeNs: nil, inode: nil, device: nil, chunks: nil,
                      target: nil, subtree: id?.hex),
            TreeEntry(name: "empty", type: .file, mode: 0, mtimeNs: Int64.max, size: 0, ctimeNs: nil, inode: nil, device: nil, chunks: [],
                      target: nil, subtree: nil),
            TreeEntry(name: "link", type: .symlink, mode: 0o777, mtimeNs: 5, size: nil, ctimeNs: nil, inode: nil, device: nil, chunks: nil,
                      target: "../a/b", subtree: nil),
        ]
    }()

    func reference(_ bytes: [UInt8]) -> (version: Int64, entries: [TreeEntry])? {
        guard let tree = try? JSONDecoder().decode(TreeObject.self, from: Data(bytes)) else { return nil }
        return (Int64(tree.version), tree.entries)
    }

    func testWhatPlanVaultWritesIsReadByTheFastReaderAsJSONDecoderReadsIt() throws {
        let bytes = TreeCodec.encode(Self.sample)
        let fast = try XCTUnwrap(TreeJSONReader.read(bytes), "the form PlanVault writes takes the fast path")
        let slow = try XCTUnwrap(reference(bytes))
        XCTAssertEqual(fast.version, 2)
        XCTAssertEqual(fast.entries, slow.entries)
        XCTAssertEqual(fast.entries, Self.sample)
        XCTAssertNotNil(TreeJSONReader.read(TreeCodec.encode([])))
    }

    func testOtherFormsAreLeftToJSONDecoderAndReadTheSame() throws {
        let canonical = String(decoding: TreeCodec.encode(Self.sample), as: UTF8.self)
        let variants = [
            canonical.replacingOccurrences(of: "\"entries\":[", with: "\"entries\" : [ "),
            canonical.replacingOccurrences(of: "{\"entries\"", with: "{\"extra\":{\"x\":[1,2.5,null,true]},\"entries\""),
            canonical.replacingOccurrences(of: "\"mode\":493,", with: "\"mode\":493,\"mode\":493,"),
            canonical.replacingOccurrences(of: "\"type\":\"dir\"", with: "\"type\":\"\\u0064ir\""),
            canonical.replacingOccurrences(of: "\"target\":\"../a/b\"", with: "\"target\":\"..\\/a\\/b\""),
            canonical.replacingOccurrences(of: "\\u001f", with: "\\u001F"),
            canonical.replacingOccurrences(of: "\"mtime_ns\":5,", with: "\"mtime_ns\":5.0,"),
        ]
        for variant in variants {
            XCTAssertNotEqual(variant, canonical)
            let bytes = Array(variant.utf8)
            XCTAssertNil(TreeJSONReader.read(bytes), variant)
            if let slow = reference(bytes) {
                XCTAssertEqual(try TreeCodec.decode(bytes, id: "variant"), slow.entries, variant)
            } else {
                XCTAssertThrowsError(try TreeCodec.decode(bytes, id: "variant"), variant)
            }
        }
    }

    /// Differential test: thousands of damaged copies of a tree. Whatever the fast reader
    /// accepts, JSONDecoder must accept and read the same.
    func testDamagedTreesAreNeverReadDifferentlyFromJSONDecoder() {
        let canonical = TreeCodec.encode(Self.sample)
        var generator = SeededGenerator(seed: 12)
        let alphabet = Array("{}[]\",:\\-0123456789abcdefu \u{1}".utf8) + [0xC3, 0xA9, 0xFF]
        var acceptedByFastReader = 0
        for _ in 0..<20_000 {
            var bytes = canonical
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator) ?? 0
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &generator) ?? 0, at: at)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            guard let fast = TreeJSONReader.read(bytes) else { continue }
            acceptedByFastReader += 1
            guard let slow = reference(bytes) else {
                XCTFail("the fast reader accepted what JSONDecoder refuses: \(String(decoding: bytes, as: UTF8.self))")
                return
            }
            XCTAssertEqual(fast.version, slow.version)
            XCTAssertEqual(fast.entries, slow.entries, String(decoding: bytes, as: UTF8.self))
        }
        XCTAssertGreaterThan(acceptedByFastReader, 100, "some damaged copies are still canonical trees (a changed digit or letter)")
    }
}

/// A small deterministic generator (SplitMix64), so a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
