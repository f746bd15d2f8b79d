extension Repository {
    /// Reads a bundle's own header with three ranged reads (prefix, trailer, header),
    /// without fetching its chunks. Used to adopt bundles an interrupted push left unindexed.
    public func readBundleHeader(name: String, size: UInt64) async throws -> [BundleEntry] {
        let minimum = UInt64(BundleFormat.prefixLength + BundleFormat.trailerLength)
        guard size > minimum, size <= Limits.maxBundleSize else {
            throw PlanVaultError.objectDamaged(kind: .bundle, name: name, reason: "\(size) bytes is not a possible bundle size (truncated?)")
        }
        let prefix = try await backend.read(.bundle, name: name, range: 0..<UInt64(BundleFormat.prefixLength))
        let opener = try BundleOpener(prefix: prefix[...], name: name, keys: keys)
        let trailer = try await backend.read(.bundle, name: name, range: (size - 8)..<size)
        let length = try BundleOpener.headerLength(trailer: trailer[...], bundleSize: size, name: name)
        let header = try await backend.read(.bundle, name: name, range: (size - 8 - UInt64(length))..<(size - 8))
        return try opener.entries(sealedHeader: header[...], bundleSize: size)
    }

    /// Bundles present on the target but named by no index file, with their headers.
    /// A push killed after writing bundles but before its index leaves these behind.
    public func unindexedBundles(index: ChunkIndex, listing: [ObjectInfo]? = nil) async throws -> [IndexedBundle] {
        var found = [IndexedBundle]()
        let listed: [ObjectInfo]
        if let listing { listed = listing } else { listed = try await backend.list(.bundle) }
        for info in listed {
            guard let id = Digest32(hex: info.name), index.bundles[id] == nil else { continue }
            do {
                found.append(IndexedBundle(id: id, size: info.size, entries: try await readBundleHeader(name: info.name, size: info.size)))
            } catch {
                logger.warning("unindexed bundle \(info.name.prefix(12)) is unreadable and was not adopted: \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
            }
        }
        return found
    }
}
