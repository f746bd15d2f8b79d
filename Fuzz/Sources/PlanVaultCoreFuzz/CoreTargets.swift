// One function per parser of bytes read from a target or a file. Each must return (or throw
// a PlanVaultError) for any input; a trap, a hang or a huge allocation is a finding.
import Foundation
@testable import PlanVaultCore

enum CoreTargets {
    typealias Target = @Sendable ([UInt8]) -> Void

    static let all: [String: Target] = [
        "index": index,
        "bundle-header": bundleHeader,
        "snapshot": snapshot,
        "sealed-object": sealedObject,
        "key-file": keyFile,
        "attestation": attestation,
        "config": config,
        "tree": tree,
    ]

    /// A directory tree's plaintext (format 2): the checks every reader applies.
    static func tree(_ data: [UInt8]) {
        guard let entries = try? TreeCodec.decode(data, id: "fuzz") else { return }
        for entry in entries { precondition(!entry.name.isEmpty && !entry.name.utf8.contains(0x2F), "a bad name passed the checks") }
    }

    /// A fixed key, so seeds sealed with it open and mutations reach the payload checks.
    static let keys: MasterKeys = {
        do { return try MasterKeys(master: SecretKey(bytes: [UInt8](repeating: 7, count: 32))) } catch {
            fatalError("fixed fuzzing key: \(error)")
        }
    }()

    static func index(_ data: [UInt8]) {
        _ = try? IndexFile.decode(data, name: "fuzz")
    }

    /// Input: bundle size (u64 LE) then the header plaintext. The last 8 bytes also serve as a trailer.
    static func bundleHeader(_ data: [UInt8]) {
        if data.count >= 8 {
            _ = try? BundleOpener.headerLength(trailer: data[(data.count - 8)...], bundleSize: UInt64(data.count), name: "fuzz")
        }
        guard data.count >= 8 else { return }
        var size: UInt64 = 0
        for (i, b) in data[0..<8].enumerated() { size |= UInt64(b) << (8 * UInt64(i)) }
        if let entries = try? BundleHeader.parse(Array(data[8...]), bundleSize: size, name: "fuzz") {
            for e in entries { precondition(UInt64(e.offset) + UInt64(e.length) <= size, "entry past the bundle") }
        }
    }

    /// The decoded snapshot goes through the same checks restore and verify apply.
    static func snapshot(_ data: [UInt8]) {
        guard let snapshot = try? JSONDecoder().decode(Snapshot.self, from: Data(data)) else { return }
        _ = snapshot.date
        _ = try? SnapshotPathRules.validate(snapshot.nodes)
        for node in snapshot.nodes {
            _ = SnapshotPathRules.nodeProblem(node)
            _ = Timestamps.formatSeconds(node.mtimeNs.floorDividedByBillion)
            _ = node.mtimeNs.nanosecondsPart
            for hex in node.chunks ?? [] { _ = Digest32(hex: hex) }
        }
    }

    /// SealedObject framing under the fixed key, and zlib streams of unknown size with a small limit.
    static func sealedObject(_ data: [UInt8]) {
        _ = try? SealedObject.open(data, kind: .index, name: "fuzz", keys: keys)
        _ = try? SealedObject.open(data, kind: .snapshot, name: "fuzz", keys: keys)
        if let out = try? Zlib.decompress(data, limit: 1 << 16) {
            precondition(out.count <= 1 << 16, "zlib output over its limit")
        }
        let expected = Int(data.first ?? 0) * 64
        _ = try? data.withUnsafeBytes { try Zlib.decompress($0, expectedSize: expected) }
    }

    static let passphrase = "fuzz"

    /// Decode, then the bound checks of unwrap; scrypt runs only at a cheap cost (n = 1024,
    /// r ≤ 8, p ≤ 2) or not at all (bounds refused), to keep executions fast.
    static func keyFile(_ data: [UInt8]) {
        guard let file = try? JSONDecoder().decode(KeyFile.self, from: Data(data)) else { return }
        _ = file.workUnits
        let (n, r, p) = (file.kdf.n, file.kdf.r, file.kdf.p)
        let cheap = n == 1024 && r <= 8 && p <= 2
        let refusedBeforeScrypt = n < 1024 || n > 1 << 22 || n & (n - 1) != 0 || r < 1 || r > 32 || p < 1 || p > 16
        if cheap || refusedBeforeScrypt {
            _ = try? file.unwrap(passphrase: passphrase, name: "fuzz")
        }
    }

    static func attestation(_ data: [UInt8]) {
        if let parsed = Attestation.parse(data) {
            _ = Attestation.verifySignature(body: parsed.body, signature: parsed.signature, publicKey: [UInt8](repeating: 1, count: 32))
        }
        if let key = try? AuditPublicKey.parse(String(decoding: data, as: UTF8.self)) {
            _ = key.fingerprint
            _ = key.text
        }
    }

    static func config(_ data: [UInt8]) {
        _ = try? RepositoryConfig.decode(data, location: "fuzz")
        _ = try? RepositoryConfig.decodeVersionOnly(data, location: "fuzz")
    }
}
