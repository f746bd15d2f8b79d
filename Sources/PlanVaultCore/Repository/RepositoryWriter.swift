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
    public func saveBundle(_ bytes: [UInt8]) async throws -> Digest32 {
        let id = LibCrypto.sha256(bytes)
        try await backend.write(.bundle, name: id.hex, data: bytes)
        return id
    }

    public func saveIndex(_ bundles: [IndexedBundle]) async throws -> (name: String, size: Int) {
        let sealed = try SealedObject.seal(IndexFile.encode(bundles), kind: .index, keys: repository.keys, compress: false)
        let name = LibCrypto.sha256(sealed).hex
        try await backend.write(.index, name: name, data: sealed)
        repository.cache?.store(.index, name: name, bytes: sealed)
        return (name, sealed.count)
    }

    /// Adds a key file that opens the same master key under another passphrase.
    public func addKey(passphrase: String, label: String?, cost: (n: UInt64, r: UInt64, p: UInt64) = KeyFile.defaultCost) async throws -> String {
        let keyFile = try KeyFile.wrap(repository.keys, passphrase: passphrase, repository: repository.config.id,
                                       config: repository.configBytes, label: label,
                                       host: HostInfo.hostname, username: HostInfo.username, cost: cost)
        let bytes = try keyFile.encoded()
        let name = LibCrypto.sha256(bytes).hex
        try await backend.write(.key, name: name, data: bytes)
        return name
    }
}
