import Foundation
import Logging

/// An opened repository: its config and keys, and typed access to its index
/// and snapshots. Holds only a reading backend: code given a `Repository`
/// cannot change the target.
public final class Repository: Sendable {
    public let backend: any ReadableBackend
    public let config: RepositoryConfig
    public let keys: MasterKeys
    public let keyName: String
    let cache: ObjectCache?
    let logger: Logger

    init(backend: any ReadableBackend, config: RepositoryConfig, keys: MasterKeys, keyName: String, cache: ObjectCache?, logger: Logger) {
        self.backend = backend
        self.config = config
        self.keys = keys
        self.keyName = keyName
        self.cache = cache
        self.logger = logger
    }

    public var chunker: Chunker { Chunker(parameters: config.chunker, gear: keys.gear) }

    /// Creates a repository with a fresh master key and its first key file.
    public static func initialize(backend: any Backend, passphrase: String, label: String? = nil,
                                  chunker: ChunkerParameters = .default, bundleSize: Int = RepositoryConfig.defaultBundleSize,
                                  kdfCost: (n: UInt64, r: UInt64, p: UInt64) = KeyFile.defaultCost,
                                  cacheRoot: String?, logger: Logger) async throws -> Repository {
        if try await backend.stat(.config, name: ObjectName.config) != nil {
            throw PlanVaultError.repositoryExists(location: backend.location)
        }
        guard chunker.isValid else { throw PlanVaultError.invalidArgument("chunker parameters are out of range") }
        let keys = try MasterKeys.generate()
        let config = RepositoryConfig(id: Hex.encode(try LibCrypto.randomBytes(32)), created: Timestamps.format(Date()),
                                      chunker: chunker, bundleSize: bundleSize)
        try await backend.prepare()
        let keyFile = try KeyFile.wrap(keys, passphrase: passphrase, repository: config.id, label: label,
                                       host: HostInfo.hostname, username: HostInfo.username, cost: kdfCost)
        let keyBytes = try keyFile.encoded()
        let keyName = LibCrypto.sha256(keyBytes).hex
        // Key first, config last: a repository whose config exists is complete.
        try await backend.write(.key, name: keyName, data: keyBytes)
        try await backend.write(.config, name: ObjectName.config, data: try config.encoded())
        logger.info("created repository \(config.id.prefix(8)) at \(backend.location)")
        return Repository(backend: backend, config: config, keys: keys, keyName: keyName,
                          cache: cacheRoot.map { ObjectCache(root: $0, repositoryID: config.id) }, logger: logger)
    }

    /// Opens a repository with a passphrase, trying every key file.
    public static func open(backend: any ReadableBackend, passphrase: String, cacheRoot: String?, logger: Logger) async throws -> Repository {
        let config = try await loadConfig(backend)
        let keyNames = try await backend.list(.key).map(\.name).sorted()
        for name in keyNames {
            let bytes = try await backend.read(.key, name: name, range: nil)
            guard LibCrypto.sha256(bytes).hex == name else {
                logger.warning("key file \(name.prefix(8)) does not match its name; skipped")
                continue
            }
            guard let keyFile = try? JSONDecoder().decode(KeyFile.self, from: Data(bytes)), keyFile.repository == config.id else {
                logger.warning("key file \(name.prefix(8)) is not a key of this repository; skipped")
                continue
            }
            do {
                if let keys = try keyFile.unwrap(passphrase: passphrase, name: name) {
                    return Repository(backend: backend, config: config, keys: keys, keyName: name,
                                      cache: cacheRoot.map { ObjectCache(root: $0, repositoryID: config.id) }, logger: logger)
                }
            } catch {
                // One unreadable key file must not lock out the holders of the others.
                logger.warning("key file \(name.prefix(8)) skipped: \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
            }
        }
        throw PlanVaultError.wrongPassphrase(location: backend.location)
    }

    public static func loadConfig(_ backend: any ReadableBackend) async throws -> RepositoryConfig {
        let bytes: [UInt8]
        do {
            bytes = try await backend.read(.config, name: ObjectName.config, range: nil)
        } catch PlanVaultError.objectMissing {
            throw PlanVaultError.repositoryNotFound(location: backend.location)
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT || code == ENOTDIR {
            throw PlanVaultError.repositoryNotFound(location: backend.location)
        }
        return try RepositoryConfig.decode(bytes, location: backend.location)
    }

    /// Reads a whole object, through the local cache for index files and snapshots,
    /// and checks that its bytes hash to its name.
    public func readVerified(_ kind: ObjectKind, name: String) async throws -> [UInt8] {
        if let cached = cache?.load(kind, name: name) { return cached }
        let bytes = try await backend.read(kind, name: name, range: nil)
        guard UInt64(bytes.count) <= Limits.maxObjectSize(kind) else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "\(bytes.count) bytes is over the \(Limits.maxObjectSize(kind)) byte limit for its kind")
        }
        guard LibCrypto.sha256(bytes).hex == name else {
            throw PlanVaultError.objectDamaged(kind: kind, name: name, reason: "its SHA-256 does not match its name")
        }
        cache?.store(kind, name: name, bytes: bytes)
        return bytes
    }

    // MARK: Index

    public struct IndexLoad: Sendable {
        public var index: ChunkIndex
        public var damaged: [(name: String, error: PlanVaultError)]
        public var files: [String]
    }

    /// Loads every index file. A damaged index file is reported, not fatal: its
    /// bundles can be found again from their own headers.
    public func loadIndex() async throws -> IndexLoad {
        let names = try await backend.list(.index).map(\.name).sorted()
        cache?.retainOnly(.index, names: Set(names))
        var index = ChunkIndex()
        var damaged = [(name: String, error: PlanVaultError)]()
        for name in names {
            do {
                let plain = try SealedObject.open(try await readVerified(.index, name: name), kind: .index, name: name, keys: keys)
                for bundle in try IndexFile.decode(plain, name: name) { index.add(bundle, fromIndexFile: name) }
            } catch let error as PlanVaultError {
                logger.warning("\(error.localizedDescription)")
                damaged.append((name, error))
            }
        }
        return IndexLoad(index: index, damaged: damaged, files: names)
    }

    /// The index plus what the bundles themselves say: bundles no index names are adopted
    /// from their own headers, and entries whose bundle is missing from the target are dropped.
    /// Restore uses it so a damaged index file does not make intact bundles unreachable;
    /// push uses it so a lost bundle's chunks are stored again rather than referenced.
    public func loadIndexWithBundles() async throws -> (load: IndexLoad, adopted: [IndexedBundle], present: [Digest32: UInt64]) {
        var load = try await loadIndex()
        let listing = try await backend.list(.bundle)
        var present = [Digest32: UInt64]()
        for info in listing { if let id = Digest32(hex: info.name) { present[id] = info.size } }
        let adopted = try await unindexedBundles(index: load.index, listing: listing)
        for bundle in adopted { load.index.add(bundle, fromIndexFile: nil) }
        load.index.retainBundles(present)
        return (load, adopted, present)
    }

    // MARK: Snapshots

    public func snapshotIDs() async throws -> [String] {
        let names = try await backend.list(.snapshot).map(\.name).sorted()
        cache?.retainOnly(.snapshot, names: Set(names))
        return names
    }

    public func loadSnapshot(_ id: String) async throws -> Snapshot {
        let plain = try SealedObject.open(try await readVerified(.snapshot, name: id), kind: .snapshot, name: id, keys: keys)
        do {
            return try JSONDecoder().decode(Snapshot.self, from: Data(plain))
        } catch {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "malformed snapshot data")
        }
    }

    /// All snapshots, oldest first. Damaged ones are returned separately.
    public func loadAllSnapshots() async throws -> (snapshots: [(id: String, snapshot: Snapshot)], damaged: [(name: String, error: PlanVaultError)]) {
        var out = [(id: String, snapshot: Snapshot)]()
        var damaged = [(name: String, error: PlanVaultError)]()
        for id in try await snapshotIDs() {
            do { out.append((id, try await loadSnapshot(id))) } catch let error as PlanVaultError {
                damaged.append((id, error))
            }
        }
        out.sort { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
        return (out, damaged)
    }

    /// Resolves "latest", a full ID or a unique ID prefix. `latest` is decided only when every
    /// snapshot can be read: an unreadable one might be the newest, and answering with an older
    /// one as if it were the latest is the silent wrong answer a DR tool must never give.
    public func resolveSnapshot(_ spec: String, host: String? = nil) async throws -> (id: String, snapshot: Snapshot) {
        if spec == "latest" {
            let loaded = try await loadAllSnapshots()
            if let (name, error) = loaded.damaged.first {
                throw PlanVaultError.snapshotUnreadable(name: name, reason: error.localizedDescription, others: loaded.damaged.count - 1)
            }
            let all = loaded.snapshots.filter { host == nil || $0.snapshot.host == host }
            guard let newest = all.last else { throw PlanVaultError.snapshotNotFound(spec) }
            return newest
        }
        let lowered = spec.lowercased()
        let matches = try await snapshotIDs().filter { $0.hasPrefix(lowered) }
        guard !lowered.isEmpty, let first = matches.first else { throw PlanVaultError.snapshotNotFound(spec) }
        guard matches.count == 1 else { throw PlanVaultError.ambiguousSnapshot(prefix: spec, matches: matches.map { String($0.prefix(12)) }) }
        return (first, try await loadSnapshot(first))
    }
}

public enum HostInfo {
    public static var hostname: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "unknown" }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static var username: String {
        ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? String(getuid())
    }
}
