// Seed inputs made by PlanVault's own writers, so the fuzzer starts from valid objects.
import Foundation
@testable import PlanVaultCore

extension CoreTargets {
    static func writeSeeds(to dir: String) throws {
        for (target, seeds) in try seeds() {
            let folder = "\(dir)/\(target)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, seed) in seeds.enumerated() {
                try Data(seed).write(to: URL(fileURLWithPath: "\(folder)/seed-\(i)"))
            }
        }
    }

    static func seeds() throws -> [String: [[UInt8]]] {
        let id = { (b: UInt8) in Digest32([UInt8](repeating: b, count: 32)) }
        let entries = [BundleEntry(id: id(1), slot: 0, offset: 36, length: 117, rawLength: 100),
                       BundleEntry(id: id(2), slot: 1, offset: 153, length: 40, rawLength: 4000)]
        let index = IndexFile.encode([IndexedBundle(id: id(9), size: 300, entries: entries),
                                      IndexedBundle(id: id(8), size: 50, entries: [])])

        var header = ByteWriter()
        header.u64(300)
        header.u32(UInt32(entries.count))
        for e in entries {
            header.digest(e.id)
            header.u32(e.offset)
            header.u32(e.length)
            header.u32(e.rawLength)
        }

        let nodes = [SnapshotNode(path: "plans", type: .dir, mode: 0o755, mtimeNs: 1_700_000_000_000_000_000),
                     SnapshotNode(path: "plans/site.txt", type: .file, mode: 0o644, mtimeNs: -5, size: 100,
                                  chunks: [id(1).hex]),
                     SnapshotNode(path: "plans/latest", type: .symlink, mode: 0o777, mtimeNs: 0, target: "site.txt")]
        let snapshot = Array(try JSONEncoder().encode(Snapshot(time: "2024-05-01T10:00:00.123Z", host: "h", username: "u",
                                                              paths: ["/srv/plans"], tags: ["nightly"], parent: nil,
                                                              summary: SnapshotSummary(), nodes: nodes)))

        let text = Array(String(repeating: "business continuity plan\n", count: 20).utf8)
        let config = RepositoryConfig(id: String(repeating: "ab", count: 32), created: "2024-05-01T10:00:00Z",
                                      chunker: .default, bundleSize: RepositoryConfig.defaultBundleSize)
        let configBytes = try config.encoded()
        let keyFile = try KeyFile.wrap(keys, passphrase: passphrase, repository: config.id, config: configBytes, label: "seed",
                                       host: "h", username: "u", cost: (n: 1024, r: 8, p: 1)).encoded()

        var push = Attestation(type: .push, sequence: 0, previous: nil, repository: config.id, time: "2024-05-01T10:00:00Z", host: "h")
        push.snapshot = .init(id: id(3).hex, time: "2024-05-01T10:00:00Z", sourceSet: "plans", files: 1, bytes: 100)
        push.objects = [.init(kind: "bundles", name: id(9).hex, size: 300)]
        push.configSHA256 = LibCrypto.sha256(configBytes).hex
        var verify = Attestation(type: .verify, sequence: 1, previous: id(4).hex, repository: config.id, time: "2024-05-02T10:00:00Z", host: "h")
        verify.check = .init(what: "verify --read-data", result: "ok", findings: 0, detail: nil)
        verify.damagedBundles = [id(9).hex]
        let auditKey = AuditPublicKey(repository: config.id, key: try keys.attestationPublicKey())

        return [
            "index": [index, IndexFile.encode([])],
            "bundle-header": [header.bytes],
            "snapshot": [snapshot],
            "sealed-object": [try SealedObject.seal(index, kind: .index, keys: keys, compress: true),
                              try SealedObject.seal(snapshot, kind: .snapshot, keys: keys, compress: false),
                              try Zlib.compress(text), [6] + (try Zlib.compress(text))],
            "key-file": [keyFile],
            "attestation": [try push.signed(by: keys), try verify.signed(by: keys), Array(auditKey.text.utf8)],
            "config": [configBytes],
            "tree": [try TreeBuilder.build(nodes, keys: keys).trees.map(\.bytes).first ?? [],
                     try TreeCodec.encode([TreeEntry(name: "a", type: .dir, mode: 0o755, mtimeNs: 0, size: nil, ctimeNs: nil, inode: nil,
                                                     device: nil, chunks: nil, target: nil, subtree: id(5).hex)])],
        ]
    }
}
