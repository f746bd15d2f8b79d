import Foundation

/// Reads the attestation chain and appends to it.
public enum AttestationLog {
    public struct Entry: Sendable {
        public var name: String
        public var attestation: Attestation
        public var body: [UInt8]
        public var signature: [UInt8]
        public var size: Int
    }

    /// Every attestation that parses, with the names of those that do not. Writers pass their
    /// local cache, so a nightly push does not download a year of records again.
    public static func load(_ backend: any ReadableBackend, cache: ObjectCache? = nil) async throws -> (entries: [Entry], unreadable: [String]) {
        var entries = [Entry]()
        var unreadable = [String]()
        let listing = try await backend.list(.attestation)
        // A record over the stated limit (FORMAT.md §14) is not read at all: it is unreadable.
        unreadable += listing.filter { $0.size > UInt64(Limits.maxAttestationSize) }.map(\.name)
        let listed = listing.filter { $0.size <= UInt64(Limits.maxAttestationSize) }
        // Cached records are kept even when the target no longer lists them: attestations are
        // never deleted, so one that vanished is evidence `verify` reports (`vanished`).
        var found = [(name: String, bytes: [UInt8])]()
        var toRead = [ObjectInfo]()
        for info in listed {
            if let cached = cache?.load(.attestation, name: info.name) { found.append((info.name, cached)) } else { toRead.append(info) }
        }
        // Several in flight: at the alternate site, with no cache, a few years of nightly records
        // are thousands of small reads, each a round trip to the target.
        // One record gone since the listing, or not a stored object, is unreadable like a damaged
        // one (the chain shows the gap); a target that cannot be read is an error.
        try await BoundedReads(maxReads: backend.readsInFlight).run(toRead, bytes: \.size) { info -> (String, [UInt8]?) in
            do {
                return (info.name, try await backend.read(.attestation, name: info.name, range: nil))
            } catch PlanVaultError.objectMissing, PlanVaultError.objectDamaged {
                return (info.name, nil)
            }
        } handle: { (name: String, read: [UInt8]?) in
            guard let bytes = read else { return unreadable.append(name) }
            if LibCrypto.sha256(bytes).hex == name { cache?.store(.attestation, name: name, bytes: bytes) }
            found.append((name, bytes))
        }
        for (name, bytes) in found {
            let info = ObjectInfo(name: name, size: UInt64(bytes.count))
            guard LibCrypto.sha256(bytes).hex == info.name, let parsed = Attestation.parse(bytes) else {
                unreadable.append(info.name)
                continue
            }
            entries.append(Entry(name: info.name, attestation: parsed.attestation, body: parsed.body, signature: parsed.signature, size: bytes.count))
        }
        entries.sort { ($0.attestation.sequence, $0.name) < ($1.attestation.sequence, $1.name) }
        return (entries, unreadable.sorted())
    }

    /// Appends a record after the current head of the chain and returns its name. Only records
    /// this repository's key signed count as the head: a planted record is never chained onto.
    @discardableResult
    public static func append(_ record: Attestation, writer: RepositoryWriter) async throws -> String {
        // The chain's own exclusive lock, held for one append: two hosts never fork the chain.
        let lock = try await RepositoryLock.acquire(backend: writer.backend, repository: writer.repository.config.id, purpose: .chain,
                                                    exclusive: true, wait: 120, logger: writer.repository.logger)
        return try await lock.around { try await appendLocked(record, writer: writer) }
    }

    private static func appendLocked(_ record: Attestation, writer: RepositoryWriter) async throws -> String {
        var existing = try await trusted(writer.repository)
        // A fork left by writers that could not share the chain lock is closed first.
        let forks = forkTips(existing)
        if !forks.isEmpty, let head = existing.last {
            var merge = Self.record(.merge, repository: writer.repository)
            merge.merged = forks.map(\.tip.name).sorted()
            let entry = try await write(merge, after: head, writer: writer)
            writer.repository.logger.warning("the attestation chain had forked at sequence \(forks.map { String($0.from) }.joined(separator: ", ")) (records written at once without the chain lock); record \(entry.attestation.sequence) merges it")
            existing.append(entry)
        }
        var record = record
        deltaEncode(&record, among: existing)
        return try await write(record, after: existing.last, writer: writer).name
    }

    /// Signs and stores `record` as the successor of `head`.
    private static func write(_ record: Attestation, after head: Entry?, writer: RepositoryWriter) async throws -> Entry {
        var record = record
        // The record's time is when it joins the chain, so the chain's times only move forward.
        record.time = Timestamps.format(Date())
        record.sequence = head.map { $0.attestation.sequence + 1 } ?? 0
        record.previous = head?.name
        record.repository = writer.repository.config.id
        let bytes = try record.signed(by: writer.repository.keys)
        let name = LibCrypto.sha256(bytes).hex
        try await writer.backend.write(.attestation, name: name, data: bytes)
        writer.repository.cache?.store(.attestation, name: name, bytes: bytes)
        guard let parsed = Attestation.parse(bytes) else { throw PlanVaultError.invalidArgument("an attestation just signed does not parse") }
        return Entry(name: name, attestation: parsed.attestation, body: parsed.body, signature: parsed.signature, size: bytes.count)
    }

    /// Branches that split off the chain and that no merge record joins yet: for each, its
    /// newest record and the sequence at which it left the chain. `entries` are trusted records
    /// in chain order; the chain's tip is the last. A record cut off by a missing record is not
    /// a fork (it never rejoins the tip's ancestry): that is a broken chain, and stays one.
    public static func forkTips(_ entries: [Entry]) -> [(tip: Entry, from: Int)] {
        guard let tip = entries.last else { return [] }
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var mainline = Set<String>()
        var pending = [tip.name]
        while let name = pending.popLast() {
            guard mainline.insert(name).inserted, let entry = byName[name] else { continue }
            pending += entry.attestation.links
        }
        let named = Set(entries.flatMap(\.attestation.links))
        var forks = [(tip: Entry, from: Int)]()
        for entry in entries where !mainline.contains(entry.name) && !named.contains(entry.name) {
            var branch = entry
            var visited = Set<String>()
            while let previous = branch.attestation.previous, visited.insert(previous).inserted {
                if mainline.contains(previous) {
                    forks.append((entry, branch.attestation.sequence))
                    break
                }
                guard let earlier = byName[previous] else { break }
                branch = earlier
            }
        }
        return forks
    }

    /// The records this repository's key signed, in chain order (through the local cache).
    public static func trusted(_ repository: Repository) async throws -> [Entry] {
        let publicKey = try repository.keys.attestationPublicKey()
        return try await load(repository.backend, cache: repository.cache).entries.filter {
            $0.attestation.repository == repository.config.id && (0..<Int(Int32.max)).contains($0.attestation.sequence)
                && Attestation.verifySignature(body: $0.body, signature: $0.signature, publicKey: publicKey)
        }
    }

    /// A push record's `source_set`: the source paths' last components (never a file name).
    public static func sourceSet(of snapshot: Snapshot) -> String {
        snapshot.paths.map { ($0 as NSString).lastPathComponent }.joined(separator: ",")
    }

    /// Snapshots newer than `chosen`, of its sources and host, that a signed push record attests
    /// and no signed retention record removed, but that the target does not list (`listed`):
    /// deleted or lost there. Oldest first.
    public static func missingNewerSnapshots(than chosen: Snapshot, listed: Set<String>,
                                             repository: Repository) async throws -> [Attestation.SnapshotFacts] {
        guard let chosenDate = chosen.date else { return [] }
        let records = try await trusted(repository)
        let removed = Set(records.flatMap { $0.attestation.removed ?? [] })
        // Compared as sets of names: the records keep only the sources' last components.
        let sources = Set(sourceSet(of: chosen).split(separator: ","))
        return records.compactMap { entry -> (Date, Attestation.SnapshotFacts)? in
            guard entry.attestation.type == .push, entry.attestation.host == chosen.host, let facts = entry.attestation.snapshot,
                  Set(facts.sourceSet.split(separator: ",")) == sources, !listed.contains(facts.id), !removed.contains(facts.id),
                  let date = Timestamps.parse(facts.time), date > chosenDate else { return nil }
            return (date, facts)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Bundles a signed verification found damaged. A push treats their chunks as absent and
    /// stores them again, so new snapshots never inherit the damage.
    public static func damagedBundles(in entries: [Entry]) -> Set<Digest32> {
        Set(entries.flatMap { $0.attestation.type == .verify ? $0.attestation.damagedBundles ?? [] : [] }.compactMap { Digest32(hex: $0) })
    }

    /// Snapshots at the target that no push record attests and no retention record removed: left
    /// by a push killed between writing its snapshot and its record.
    public static func unattestedSnapshots(in entries: [Entry], repository: Repository) async throws -> [String] {
        var known = Set<String>()
        for entry in entries {
            if let id = entry.attestation.snapshot?.id { known.insert(id) }
            known.formUnion(entry.attestation.removed ?? [])
        }
        return try await repository.snapshotIDs().filter { !known.contains($0) }
    }

    /// Attests the snapshots that have no push record (left by a push killed between its snapshot
    /// and its record, or brought by `planvault copy`). Returns the IDs attested and, for those
    /// that could not be, why.
    public static func attestUnattested(writer: RepositoryWriter, index: ChunkIndex?) async throws -> (attested: [String], failures: [String]) {
        let entries = try await trusted(writer.repository)
        var attested = [String](), failures = [String]()
        for id in try await unattestedSnapshots(in: entries, repository: writer.repository) {
            do {
                let snapshot = try await writer.repository.loadSnapshot(id)
                var record = try await pushRecord(snapshotID: id, snapshot: snapshot, repository: writer.repository, index: index)
                record.adopted = true
                try await append(record, writer: writer)
                attested.append(id)
            } catch let error as PlanVaultError {
                failures.append("snapshot \(id.prefix(8)) has no attestation and could not be attested: \(error.localizedDescription)")
            }
        }
        return (attested, failures)
    }

    /// Appends a fresh push record for every snapshot whose newest record names an object the
    /// target no longer has (bundles replaced by a repair, rewritten index files), so the
    /// auditor's completeness check describes the repository as it now is. Returns their IDs.
    @discardableResult
    public static func reattestStale(writer: RepositoryWriter) async throws -> [String] {
        let entries = try await trusted(writer.repository)
        let resolved = resolvedObjects(entries)
        var newest = [String: [Attestation.ObjectRef]]()
        for entry in entries where entry.attestation.type == .push {
            if let id = entry.attestation.snapshot?.id { newest[id] = resolved[entry.name] ?? [] }
        }
        var present = [String: Set<String>]()
        for kind in [ObjectKind.bundle, .index, .snapshot, .key] {
            present[kind.rawValue] = Set(try await writer.backend.list(kind).map(\.name))
        }
        let index = try await writer.repository.loadIndexWithBundles().load.index
        var done = [String]()
        for id in try await writer.repository.snapshotIDs() {
            guard let objects = newest[id], objects.contains(where: { !(present[$0.kind]?.contains($0.name) ?? false) }) else { continue }
            do {
                let snapshot = try await writer.repository.loadSnapshot(id)
                var fresh = try await pushRecord(snapshotID: id, snapshot: snapshot, repository: writer.repository, index: index)
                fresh.repaired = true
                try await append(fresh, writer: writer)
                done.append(id)
            } catch let error as PlanVaultError {
                // Its data is incomplete: `verify` names what is missing; the old record stays.
                writer.repository.logger.warning("snapshot \(id.prefix(8)) could not be attested again: \(error.localizedDescription)")
            }
        }
        return done
    }

    /// The full object list of every push record, by record name, following `base` links (a
    /// record whose base is not an earlier push record among `entries` has no entry: unresolved).
    public static func resolvedObjects(_ entries: [Entry]) -> [String: [Attestation.ObjectRef]] {
        var resolved = [String: [Attestation.ObjectRef]]()
        for entry in entries where entry.attestation.type == .push {
            let a = entry.attestation
            if let base = a.base {
                guard let inherited = resolved[base] else { continue }
                let dropped = Set(a.objectsDropped ?? [])
                var seen = Set<String>()
                resolved[entry.name] = (inherited.filter { !dropped.contains($0.name) } + (a.objects ?? [])).filter { seen.insert($0.name).inserted }
            } else {
                resolved[entry.name] = a.objects ?? []
            }
        }
        return resolved
    }

    /// Makes `record` a delta on the newest push record of the same host and source set, when
    /// that is smaller: a nightly push that changed little then adds a record of a few hundred
    /// bytes instead of one listing every bundle again.
    public static func deltaEncode(_ record: inout Attestation, among entries: [Entry]) {
        guard record.type == .push, let objects = record.objects, let facts = record.snapshot else { return }
        let resolved = resolvedObjects(entries)
        guard let base = entries.last(where: {
            $0.attestation.type == .push && $0.attestation.host == record.host && $0.attestation.snapshot?.sourceSet == facts.sourceSet
                && resolved[$0.name] != nil
        }), let baseObjects = resolved[base.name] else { return }
        let added = objects.filter { !baseObjects.contains($0) }
        let dropped = baseObjects.filter { !objects.contains($0) }.map(\.name)
        guard added.count + dropped.count < objects.count else { return }
        record.base = base.name
        record.objects = added
        record.objectsDropped = dropped.isEmpty ? nil : dropped
    }

    /// Records this machine wrote or read before that the target no longer has: nothing deletes
    /// attestations, so each is a sign of tampering (or of a truncated history).
    public static func vanished(from repository: Repository) async throws -> [String] {
        guard let cache = repository.cache else { return [] }
        let listed = Set(try await repository.backend.list(.attestation).map(\.name))
        return cache.cachedNames(.attestation).filter { !listed.contains($0) }.sorted()
    }

    /// A record with the common fields filled in; `append` sets sequence and previous.
    public static func record(_ type: Attestation.Kind, repository: Repository, time: Date = Date()) -> Attestation {
        Attestation(type: type, sequence: 0, previous: nil, repository: repository.config.id, time: Timestamps.format(time), host: HostInfo.hostname)
    }

    /// The push record for a snapshot: its facts and every object a restore of it needs.
    /// `index` is the push's own view of the index (saves listing the target again); without it,
    /// the same view a restore uses is loaded: lost bundles dropped, their chunks' new copies found.
    /// `chunkBundles`: the bundles of the snapshot's file chunks when the caller knows them (a
    /// push does, and no longer holds the nodes); else they are found from `snapshot.nodes`.
    public static func pushRecord(snapshotID: String, snapshot: Snapshot, repository: Repository, index: ChunkIndex? = nil,
                                  chunkBundles: Set<Digest32>? = nil) async throws -> Attestation {
        let indexView: ChunkIndex
        if let index { indexView = index } else { indexView = try await repository.loadIndexWithBundles().load.index }
        var bundles = Set<Digest32>()
        if let chunkBundles {
            bundles = chunkBundles
        } else {
            for node in snapshot.nodes where node.type == .file {
                for id in node.chunks ?? [] {
                    guard let location = indexView.location(of: id) else {
                        throw PlanVaultError.objectMissing(kind: .bundle, name: "holding chunk \(id.hex.prefix(12)) of \(node.path)")
                    }
                    bundles.insert(location.bundle)
                }
            }
        }
        for tree in snapshot.treeIDs {
            guard let location = indexView.location(of: tree) else {
                throw PlanVaultError.objectMissing(kind: .bundle, name: "holding tree \(tree.shortHex) of snapshot \(snapshotID.prefix(8))")
            }
            bundles.insert(location.bundle)
        }
        var objects = [Attestation.ObjectRef]()
        var indexFiles = Set<String>()
        for bundle in bundles.sorted() {
            objects.append(.init(kind: ObjectKind.bundle.rawValue, name: bundle.hex, size: indexView.bundles[bundle] ?? 0))
            if let file = indexView.indexFileOfBundle[bundle] { indexFiles.insert(file) }
        }
        let indexSizes = Dictionary(try await repository.backend.list(.index).map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        for file in indexFiles.sorted() {
            objects.append(.init(kind: ObjectKind.index.rawValue, name: file, size: indexSizes[file] ?? 0))
        }
        let snapshotSize = try await repository.backend.stat(.snapshot, name: snapshotID)?.size ?? 0
        objects.append(.init(kind: ObjectKind.snapshot.rawValue, name: snapshotID, size: snapshotSize))
        // A restore also needs a key file: name the one in use.
        if let keySize = try await repository.backend.stat(.key, name: repository.keyName)?.size {
            objects.append(.init(kind: ObjectKind.key.rawValue, name: repository.keyName, size: keySize))
        }
        var record = record(.push, repository: repository, time: snapshot.date ?? Date())
        record.host = snapshot.host
        record.snapshot = .init(id: snapshotID, time: snapshot.time,
                                sourceSet: sourceSet(of: snapshot),
                                files: snapshot.summary.files, bytes: snapshot.summary.totalBytes)
        record.objects = objects
        record.configSHA256 = LibCrypto.sha256(repository.configBytes).hex
        return record
    }
}
