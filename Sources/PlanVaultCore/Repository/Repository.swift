import Foundation
import Logging

/// An opened repository: its config and keys, and typed access to its index
/// and snapshots. Holds only a reading backend: code given a `Repository`
/// cannot change the target.
public final class Repository: Sendable {
    public let backend: any ReadableBackend
    public let config: RepositoryConfig
    /// The config exactly as created (and as every key file authenticates it).
    public let configBytes: [UInt8]
    public let keys: MasterKeys
    public let keyName: String
    /// Set when the target's config was missing and the key file's authenticated copy was used.
    public let configProblem: String?
    let cache: ObjectCache?
    let logger: Logger
    /// Trees read through this handle (and the index used to find them).
    let trees = TreeCache()

    init(backend: any ReadableBackend, config: RepositoryConfig, configBytes: [UInt8], keys: MasterKeys, keyName: String,
         configProblem: String? = nil, cache: ObjectCache?, logger: Logger) {
        self.backend = backend
        self.config = config
        self.configBytes = configBytes
        self.keys = keys
        self.keyName = keyName
        self.configProblem = configProblem
        self.cache = cache
        self.logger = logger
    }

    public var chunker: Chunker { Chunker(parameters: config.chunker, gear: keys.gear) }

    /// Creates a repository with a fresh master key and its first key file. Refuses wherever a
    /// repository's objects already exist, config or not: `init` over a repository whose config
    /// was lost would orphan every snapshot in it.
    public static func initialize(backend: any Backend, passphrase: String, label: String? = nil,
                                  chunker: ChunkerParameters = .default, bundleSize: Int = RepositoryConfig.defaultBundleSize,
                                  kdfCost: (n: UInt64, r: UInt64, p: UInt64) = KeyFile.defaultCost,
                                  cacheRoot: String?, logger: Logger) async throws -> Repository {
        if try await backend.stat(.config, name: ObjectName.config) != nil {
            throw PlanVaultError.repositoryExists(location: backend.location)
        }
        var found = [String]()
        for kind in [ObjectKind.key, .snapshot, .index, .bundle] {
            let count = (try? await backend.list(kind).count) ?? 0
            if count > 0 { found.append("\(count) \(kind.singular)\(count == 1 ? "" : "s")") }
        }
        if !found.isEmpty {
            throw PlanVaultError.repositoryWithoutConfig(location: backend.location, found: found.joined(separator: ", "))
        }
        guard chunker.isValid else { throw PlanVaultError.invalidArgument("chunker parameters are out of range") }
        let keys = try MasterKeys.generate()
        let config = RepositoryConfig(id: Hex.encode(try LibCrypto.randomBytes(32)), created: Timestamps.format(Date()),
                                      chunker: chunker, bundleSize: bundleSize)
        let configBytes = try config.encoded()
        try await backend.prepare()
        let keyFile = try KeyFile.wrap(keys, passphrase: passphrase, repository: config.id, config: configBytes, label: label,
                                       host: HostInfo.hostname, username: HostInfo.username, cost: kdfCost)
        let keyBytes = try keyFile.encoded()
        let keyName = LibCrypto.sha256(keyBytes).hex
        // Key first, config last: a repository whose config exists is complete.
        try await backend.write(.key, name: keyName, data: keyBytes)
        try await backend.write(.config, name: ObjectName.config, data: configBytes)
        logger.info("created repository \(config.id.prefix(8)) at \(backend.location)")
        return Repository(backend: backend, config: config, configBytes: configBytes, keys: keys, keyName: keyName,
                          cache: cacheRoot.map { ObjectCache(root: $0, repositoryID: config.id, location: backend.location) }, logger: logger)
    }

    public enum Credential: Sendable {
        case passphrase(String)
        /// The secret recovery shares rebuild, and the first bytes of its key file's name.
        case recovery(SecretKey, keyFileID: [UInt8])
    }

    /// Total scrypt work tried before giving up, in units of the default cost (about 0.1 s each
    /// here): planted key files at the highest accepted cost cannot stall an emergency restore.
    public static let keyTrialBudget: UInt64 = 48

    /// Opens a repository with a passphrase. Key files are tried cheapest first (then newest
    /// first), within `keyTrialBudget`; the one this machine used last time goes first. The
    /// config must be the one the key file authenticates; if the target lost it, the key file's
    /// copy is used and the problem reported.
    public static func open(backend: any ReadableBackend, passphrase: String, cacheRoot: String?, logger: Logger,
                            acceptAlteredConfig: Bool = false) async throws -> Repository {
        try await open(backend: backend, credential: .passphrase(passphrase), cacheRoot: cacheRoot, logger: logger,
                       acceptAlteredConfig: acceptAlteredConfig)
    }

    /// Opens a repository with a passphrase or with the secret that recovery shares rebuild (which
    /// opens only recovery key files, and those only).
    /// `onlyKeyFile`: the name, or the start of the name, of the one key file to try.
    public static func open(backend: any ReadableBackend, credential: Credential, cacheRoot: String?, logger: Logger,
                            acceptAlteredConfig: Bool = false, onlyKeyFile: String? = nil) async throws -> Repository {
        let stored: [UInt8]?
        do {
            stored = try await backend.read(.config, name: ObjectName.config, range: nil)
        } catch PlanVaultError.objectMissing {
            stored = nil
        } catch PlanVaultError.repositoryNotFound {
            // An HTTP or S3 target cannot tell a missing config from a missing repository: the
            // key files decide (a repository whose config was lost still opens, from their copy).
            stored = nil
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT || code == ENOTDIR {
            stored = nil
        }
        let storedConfig = stored.flatMap { try? RepositoryConfig.decode($0, location: backend.location) }
        if stored != nil && storedConfig == nil {
            // Unsupported versions and the like are reported as they are; damage is handled below.
            if let stored { _ = try RepositoryConfig.decodeVersionOnly(stored, location: backend.location) }
        }
        var keyListing: [ObjectInfo]
        do {
            keyListing = try await backend.list(.key)
        } catch PlanVaultError.io(_, _, let code) where code == ENOENT || code == ENOTDIR {
            keyListing = []
        }
        if let wanted = onlyKeyFile?.lowercased() {
            let matching = keyListing.filter { $0.name.hasPrefix(wanted) }
            guard matching.count == 1 else {
                throw PlanVaultError.invalidArgument(matching.isEmpty
                    ? "no key file at \(backend.location) has a name starting with \"\(wanted)\" (--key-file): give one the error or `planvault key list` named"
                    : "\(matching.count) key files at \(backend.location) have names starting with \"\(wanted)\" (--key-file): give more of the name")
            }
            keyListing = matching
        }
        if stored == nil && keyListing.isEmpty {
            throw PlanVaultError.repositoryNotFound(location: backend.location)
        }

        var candidates = [(name: String, file: KeyFile)]()
        var damaged = [(name: String, reason: String)]()
        for info in keyListing {
            do {
                guard info.size <= UInt64(Limits.maxKeyFileSize) else {
                    throw PlanVaultError.objectDamaged(kind: .key, name: info.name, reason: "\(info.size) bytes is over the key file limit")
                }
                let bytes = try await backend.read(.key, name: info.name, range: nil)
                guard LibCrypto.sha256(bytes).hex == info.name else {
                    throw PlanVaultError.objectDamaged(kind: .key, name: info.name, reason: "its SHA-256 does not match its name (altered or truncated)")
                }
                guard let file = try? JSONDecoder().decode(KeyFile.self, from: Data(bytes)) else {
                    throw PlanVaultError.objectDamaged(kind: .key, name: info.name, reason: "not a readable key file")
                }
                candidates.append((info.name, file))
            } catch let error as PlanVaultError {
                if case .objectDamaged(_, _, let reason) = error { damaged.append((info.name, reason)) } else { throw error }
            }
        }
        let hint = storedConfig.flatMap { config in cacheRoot.flatMap { ObjectCache(root: $0, repositoryID: config.id, location: backend.location).keyHint() } }
        if stored != nil && keyListing.isEmpty {
            // Name the key file this machine last opened the repository with, if it knows one.
            let last = storedConfig.flatMap { config in cacheRoot.flatMap { ObjectCache(root: $0, repositoryID: config.id, location: backend.location).keyHint() } }
            throw PlanVaultError.noIntactKeyFile(location: backend.location,
                                                 damaged: last.map { ["key file \($0.prefix(12)), which this machine used last, was deleted"] } ?? [])
        }
        // Key files of the config's repository first. Others are tried last: a config swapped in
        // from another repository is then reported as altered, not as a wrong passphrase.
        candidates.sort { a, b in
            let aOwn = a.file.repository == storedConfig?.id, bOwn = b.file.repository == storedConfig?.id
            if aOwn != bOwn { return aOwn }
            if (a.name == hint) != (b.name == hint) { return a.name == hint }
            if a.file.workUnits != b.file.workUnits { return a.file.workUnits < b.file.workUnits }
            if a.file.created != b.file.created { return a.file.created > b.file.created }
            return a.name < b.name
        }

        if case .recovery(_, let keyFileID) = credential {
            candidates = candidates.filter { $0.file.isRecovery && $0.name.hasPrefix(Hex.encode(keyFileID)) }
            guard !candidates.isEmpty else { throw PlanVaultError.recoveryKeyFileMissing(location: backend.location, keyFile: Hex.encode(keyFileID)) }
        } else {
            candidates = candidates.filter { !$0.file.isRecovery }
        }
        var spent: UInt64 = 0
        var untried = [String]()
        for (name, file) in candidates {
            // Charged their exact work, not rounded up to a unit: key files planted with the
            // cheapest parameters (1/256 of the default) cannot use up the budget before the real
            // one is tried. Recovery key files cost an HKDF (microseconds): nothing.
            let budget = keyTrialBudget * KeyFile.defaultWork
            let cost = file.isRecovery ? 0 : min(file.work, budget + 1)
            guard spent + cost <= budget || spent == 0 else {
                untried.append(name)
                continue
            }
            spent += cost
            let unwrapped: KeyFile.Unwrapped
            do {
                let opened: KeyFile.Unwrapped?
                switch credential {
                case .passphrase(let passphrase): opened = try file.unwrap(passphrase: passphrase, name: name)
                case .recovery(let secret, _): opened = try file.unwrap(recoverySecret: secret, name: name)
                }
                guard let result = opened else { continue }
                unwrapped = result
            } catch let error as PlanVaultError {
                // One unreadable key file must not lock out the holders of the others.
                if case .objectDamaged(_, _, let reason) = error { damaged.append((name, reason)) }
                logger.warning("key file \(name.prefix(8)) skipped: \(error.localizedDescription)")
                continue
            }
            let config: RepositoryConfig
            var problem: String?
            if let stored, stored == unwrapped.config, let storedConfig {
                config = storedConfig
            } else if stored != nil {
                guard acceptAlteredConfig else { throw PlanVaultError.configAltered(location: backend.location, keyFile: name) }
                config = try RepositoryConfig.decode(unwrapped.config, location: backend.location)
                problem = "the config at the target was altered; using the copy authenticated by key file \(name.prefix(8))"
            } else {
                config = try RepositoryConfig.decode(unwrapped.config, location: backend.location)
                problem = "the config is missing at the target; using the copy authenticated by key file \(name.prefix(8)). Run `planvault repair` to write it back"
                logger.warning("\(problem ?? "")")
            }
            let cache = cacheRoot.map { ObjectCache(root: $0, repositoryID: config.id, location: backend.location) }
            cache?.setKeyHint(name)
            return Repository(backend: backend, config: config, configBytes: unwrapped.config, keys: unwrapped.keys, keyName: name,
                              configProblem: problem, cache: cache, logger: logger)
        }
        if candidates.isEmpty && !damaged.isEmpty {
            throw PlanVaultError.noIntactKeyFile(location: backend.location, damaged: damaged.map { "\($0.name.prefix(12)) (\($0.reason))" })
        }
        if !damaged.isEmpty || !untried.isEmpty {
            throw PlanVaultError.keyFilesUnusable(location: backend.location,
                                                  damaged: damaged.map { "\($0.name.prefix(12)) (\($0.reason))" },
                                                  untried: untried.map { String($0.prefix(12)) })
        }
        if case .recovery = credential { throw PlanVaultError.wrongShares(location: backend.location) }
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

    /// The same repository without the local cache: every object is read from the target.
    /// `verify --read-data` uses it, so damage at the target cannot hide behind a good cached copy.
    public func uncached() -> Repository {
        Repository(backend: backend, config: config, configBytes: configBytes, keys: keys, keyName: keyName,
                   configProblem: configProblem, cache: nil, logger: logger)
    }

    /// Reads a whole object, through the local cache for index files and snapshots,
    /// and checks that its bytes hash to its name. A cached copy is used only when the target
    /// lists the object with the same size (`listedSize`, when the caller has a listing).
    public func readVerified(_ kind: ObjectKind, name: String, listedSize: UInt64? = nil) async throws -> [UInt8] {
        if let cached = cache?.load(kind, name: name) {
            if listedSize == nil || listedSize == UInt64(cached.count) { return cached }
            logger.warning("\(kind.singular) \(name.prefix(12)) at the target has \(listedSize ?? 0) bytes, the copy cached here \(cached.count): reading the target's")
        }
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
        try await loadIndex(listing: backend.list(.index))
    }

    /// Loads the index files of `listing` (the target's index objects).
    func loadIndex(listing unsorted: [ObjectInfo]) async throws -> IndexLoad {
        let listing = unsorted.sorted { $0.name < $1.name }
        let names = listing.map(\.name)
        cache?.retainOnly(.index, names: Set(names))
        var index = ChunkIndex()
        var damaged = [(name: String, error: PlanVaultError)]()
        for info in listing {
            let name = info.name
            do {
                let sealed = try await readVerified(.index, name: name, listedSize: info.size)
                let plain = try SealedObject.open(sealed, kind: .index, name: name, keys: keys)
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
        // Index files are listed first: every bundle an index file names was written before it,
        // so a bundle listing that starts afterwards holds them all, even while another host pushes.
        // The listing then runs while the index files are read.
        let indexListing = try await backend.list(.index)
        async let bundleListing = backend.list(.bundle)
        var load = try await loadIndex(listing: indexListing)
        let listing = try await bundleListing
        var present = [Digest32: UInt64]()
        for info in listing { if let id = Digest32(hex: info.name) { present[id] = info.size } }
        // Bundles absent, or of another size than indexed, are forgotten first: one of another
        // size is then read from its own header like any unindexed bundle (FORMAT.md §8).
        load.index.retainBundles(present)
        let adopted = try await unindexedBundles(index: load.index, listing: listing)
        for bundle in adopted { load.index.add(bundle, fromIndexFile: nil) }
        // Reading a snapshot's trees later needs the same index: load it once, not twice.
        trees.knownIndex = load.index
        return (load, adopted, present)
    }

    // MARK: Snapshots

    public func snapshotIDs() async throws -> [String] {
        try await snapshotListing().map(\.name)
    }

    /// Snapshot objects at the target with their sizes, by name.
    public func snapshotListing() async throws -> [ObjectInfo] {
        let listing = try await backend.list(.snapshot).sorted { $0.name < $1.name }
        cache?.retainOnly(.snapshot, names: Set(listing.map(\.name)))
        return listing
    }

    /// A snapshot's header alone: everything but its nodes (one small object).
    public func loadSnapshotHeader(_ id: String, listedSize: UInt64? = nil) async throws -> Snapshot {
        let plain = try SealedObject.open(try await readVerified(.snapshot, name: id, listedSize: listedSize), kind: .snapshot, name: id, keys: keys)
        let header: Snapshot
        do {
            header = try JSONDecoder().decode(Snapshot.self, from: Data(plain))
        } catch {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "malformed snapshot data")
        }
        guard header.version == Snapshot.currentVersion else {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "snapshot version \(header.version); this planvault reads version \(Snapshot.currentVersion)")
        }
        guard let tree = header.tree, Digest32(hex: tree) != nil else {
            throw PlanVaultError.objectDamaged(kind: .snapshot, name: id, reason: "the snapshot names no root tree")
        }
        return header
    }

    /// All snapshots, oldest first, as headers (no nodes) unless `withNodes`. Damaged ones are
    /// returned separately.
    public func loadAllSnapshots(withNodes: Bool = false, index: ChunkIndex? = nil) async throws
        -> (snapshots: [(id: String, snapshot: Snapshot)], damaged: [(name: String, error: PlanVaultError)]) {
        var out = [(id: String, snapshot: Snapshot)]()
        var damaged = [(name: String, error: PlanVaultError)]()
        for info in try await snapshotListing() {
            do {
                let header = try await loadSnapshotHeader(info.name, listedSize: info.size)
                out.append((info.name, withNodes ? try await expandTrees(header, id: info.name, index: index) : header))
            } catch let error as PlanVaultError {
                damaged.append((info.name, error))
            }
        }
        return (Snapshot.oldestFirst(out), damaged)
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
            guard let newest = try Snapshot.newest(of: all) else { throw PlanVaultError.snapshotNotFound(spec) }
            return (newest.id, try await expandTrees(newest.snapshot, id: newest.id))
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

    /// USER or LOGNAME, else the account's name (cron and systemd units may set neither), else
    /// the numeric user ID.
    public static var username: String {
        let environment = ProcessInfo.processInfo.environment
        if let name = environment["USER"] ?? environment["LOGNAME"], !name.isEmpty { return name }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name {
            return String(cString: name)
        }
        return String(getuid())
    }
}
