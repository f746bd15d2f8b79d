import Foundation

/// The writing side of a repository: saves bundles, index files and snapshots.
/// Only `push`, `init` and key management hold one.
public struct RepositoryWriter: Sendable {
    public let repository: Repository
    public let backend: any Backend

    public init(repository: Repository, backend: any Backend) {
        self.repository = repository
        self.backend = backend
    }

    /// Stores a finished bundle under the SHA-256 of its bytes and returns that ID.
    public func saveBundle(_ bytes: [UInt8], times: StageTimes? = nil) async throws -> Digest32 {
        let id = times?.time(.bundleHash, bytes: bytes.count) { LibCrypto.sha256(bytes) } ?? LibCrypto.sha256(bytes)
        if let times {
            try await times.time(.store, bytes: bytes.count) { try await backend.write(.bundle, name: id.hex, data: bytes) }
        } else {
            try await backend.write(.bundle, name: id.hex, data: bytes)
        }
        return id
    }

    public func saveIndex(_ bundles: [IndexedBundle]) async throws -> (name: String, size: Int) {
        let sealed = try SealedObject.seal(IndexFile.encode(bundles), kind: .index, keys: repository.keys, compress: false)
        let name = LibCrypto.sha256(sealed).hex
        try await backend.write(.index, name: name, data: sealed)
        repository.cache?.store(.index, name: name, bytes: sealed)
        return (name, sealed.count)
    }

    /// Most entries `saveIndexFiles` puts in one index file: 12 MiB of payload, well inside the
    /// 64 MiB a reader accepts (FORMAT.md §14), however many bundles a prune keeps.
    public static let entriesPerIndexFile = 262_144

    /// Saves index files naming `bundles`, as many as it takes for none to hold more than
    /// `entriesPerFile` entries (a bundle is never split); returns their names.
    public func saveIndexFiles(_ bundles: [IndexedBundle], entriesPerFile: Int = entriesPerIndexFile) async throws -> [String] {
        var names = [String]()
        var group = [IndexedBundle]()
        var entries = 0
        for bundle in bundles {
            if !group.isEmpty && entries + bundle.entries.count > entriesPerFile {
                names.append(try await saveIndex(group).name)
                group.removeAll()
                entries = 0
            }
            group.append(bundle)
            entries += bundle.entries.count
        }
        if !group.isEmpty || names.isEmpty { names.append(try await saveIndex(group).name) }
        return names
    }

    /// Adds a key file that opens the same master key under another passphrase.
    public func addKey(passphrase: String, label: String?, cost: (n: UInt64, r: UInt64, p: UInt64) = KeyFile.defaultCost) async throws -> String {
        let keyFile = try KeyFile.wrap(repository.keys, passphrase: passphrase, repository: repository.config.id,
                                       config: repository.configBytes, label: label,
                                       host: HostInfo.hostname, username: HostInfo.username, cost: cost)
        return try await store(keyFile)
    }

    /// Splits a fresh recovery secret into `shares` shares, any `threshold` of which open the
    /// recovery key file stored here (and only it: removing that key file revokes the shares).
    public func addRecoveryKey(shares: Int, threshold: Int, label: String?) async throws -> (keyFile: String, shares: [RecoveryShare]) {
        let secret = SecretKey(bytes: try LibCrypto.randomBytes(32))
        let parts = try Shamir.split(secret, shares: shares, threshold: threshold)
        let keyFile = try KeyFile.wrapRecovery(repository.keys, secret: secret, shares: shares, threshold: threshold,
                                               repository: repository.config.id, config: repository.configBytes, label: label,
                                               host: HostInfo.hostname, username: HostInfo.username)
        let name = try await store(keyFile)
        let id = Array(Hex.decode(String(name.prefix(8))) ?? [])
        return (name, parts.map { RecoveryShare(share: $0, threshold: threshold, keyFileID: id) })
    }

    private func store(_ keyFile: KeyFile) async throws -> String {
        let bytes = try keyFile.encoded()
        let name = LibCrypto.sha256(bytes).hex
        try await backend.write(.key, name: name, data: bytes)
        return name
    }
}
