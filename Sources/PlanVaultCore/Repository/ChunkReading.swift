import Foundation

extension Repository {
    /// One chunk's plaintext, authenticated, from its first copy that reads and opens; the next
    /// copies are tried in turn. For commands that stream a single file (`dump`).
    public func readChunk(_ id: Digest32, index: ChunkIndex) async throws -> [UInt8] {
        let copies = index.locations(of: id)
        guard !copies.isEmpty else {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: "chunk \(id.shortHex)", reason: "it is not in the index (run `planvault verify`)")
        }
        var lastError = "no copy could be authenticated"
        for copy in copies {
            do {
                if let plain = try await readChunks(bundle: copy.bundle, entries: [copy.entry])[id] { return plain }
                lastError = "its copy in bundle \(copy.bundle.shortHex) failed authentication"
            } catch let error as PlanVaultError {
                lastError = error.localizedDescription
            }
        }
        throw PlanVaultError.objectDamaged(kind: .bundle, name: copies[0].bundle.hex, reason: "chunk \(id.shortHex): \(lastError) (run `planvault verify --read-data`)")
    }
}
