import Foundation
import Logging

public struct VerifyOptions: Sendable {
    public enum DataCheck: Sendable, Equatable {
        case none
        case all
        /// A random sample of this percentage of bundles (at least one).
        case subset(percent: Double)
    }

    public var readData: DataCheck = .none
    /// Fail when the newest snapshot is older than this many seconds.
    public var maxAge: TimeInterval?
    /// On a target with retention locks (S3 Object Lock): every object must be locked for at least this many days.
    public var requiredRetentionDays: Int?
    /// Called as bundles are read: bytes done and bytes to read (for a progress bar).
    public var progress: (@Sendable (_ done: UInt64, _ total: UInt64) -> Void)?

    public init() {}
}

/// One problem `verify` found: the damaged object, what is wrong, and what it breaks.
public struct Finding: Sendable, Codable, Equatable {
    public var kind: String
    public var object: String
    public var problem: String
    /// "SNAPSHOT-PREFIX:path" of each affected file.
    public var affects: [String]
}

public struct VerifyReport: Sendable, Codable {
    public var snapshots = 0
    public var indexFiles = 0
    public var bundles = 0
    public var bundlesRead = 0
    public var bytesRead: UInt64 = 0
    public var chunksChecked = 0
    public var unindexedBundles = 0
    public var newestSnapshot: String?
    public var newestSnapshotAgeSeconds: Double?
    public var findings: [Finding] = []
    public var stale = false

    public var ok: Bool { findings.isEmpty && !stale }
}

/// `planvault verify`: structure first (every snapshot's chunks indexed, every
/// indexed bundle present with its indexed size), then optionally the data
/// itself (every bundle hashed against its name, every chunk decrypted and
/// checked against its ID).
public struct Checker: Sendable {
    let repository: Repository
    let logger: Logger

    public init(repository: Repository, logger: Logger) {
        self.repository = repository
        self.logger = logger
    }

    public func verify(_ options: VerifyOptions, now: Date = Date()) async throws -> VerifyReport {
        // Reading the data means reading every object at the target: a cached copy proves nothing
        // about the offsite one. (Without --read-data, cached copies are still used only where the
        // target lists the object with the same size.)
        let repository = options.readData == .none ? self.repository : self.repository.uncached()
        var report = VerifyReport()
        if let problem = repository.configProblem {
            report.findings.append(Finding(kind: "config", object: "config", problem: problem, affects: []))
        }
        let load = try await repository.loadIndex()
        report.indexFiles = load.files.count
        for (name, error) in load.damaged {
            report.findings.append(Finding(kind: "index", object: name, problem: error.localizedDescription, affects: []))
        }
        let index = load.index
        let snapshots = try await repository.loadAllSnapshots(withNodes: true, index: load.index)
        report.snapshots = snapshots.snapshots.count
        for (name, error) in snapshots.damaged {
            report.findings.append(Finding(kind: "snapshot", object: name, problem: error.localizedDescription, affects: []))
        }

        // A snapshot a restore would refuse is as bad as a missing one: say so now, not on the worst day.
        for (id, snapshot) in snapshots.snapshots {
            if snapshot.instant == nil {
                report.findings.append(Finding(kind: "snapshot", object: id,
                                               problem: PlanVaultError.snapshotWithoutTime(name: id, time: snapshot.time).localizedDescription, affects: []))
            }
            do { try SnapshotPathRules.validate(snapshot.nodes) } catch let error as PlanVaultError {
                report.findings.append(Finding(kind: "snapshot", object: id, problem: "restore would refuse it: \(error.localizedDescription)", affects: []))
            }
        }

        // Who uses each bundle, so a damaged one can be traced to files.
        var usersOfBundle = [Digest32: [String]]()
        for (id, snapshot) in snapshots.snapshots {
            for tree in snapshot.treeIDs {
                if let location = index.location(of: tree) { usersOfBundle[location.bundle, default: []].append("\(id.prefix(8)):(folder listing)") }
            }
            for node in snapshot.nodes {
                if let problem = SnapshotPathRules.nodeProblem(node) {
                    report.findings.append(Finding(kind: "snapshot", object: id, problem: "\(node.path): \(problem)",
                                                   affects: ["\(id.prefix(8)):\(node.path)"]))
                    continue
                }
                guard node.type == .file else { continue }
                var missing: String?
                var seenBundles = Set<Digest32>()
                var stored: UInt64 = 0
                for chunk in node.chunks ?? [] {
                    guard let location = index.location(of: chunk) else {
                        missing = missing ?? chunk.hex
                        continue
                    }
                    stored += UInt64(location.entry.rawLength)
                    if seenBundles.insert(location.bundle).inserted {
                        usersOfBundle[location.bundle, default: []].append("\(id.prefix(8)):\(node.path)")
                    }
                }
                if let missing {
                    report.findings.append(Finding(kind: "chunk", object: missing, problem: "chunk is not in any index",
                                                   affects: ["\(id.prefix(8)):\(node.path)"]))
                } else if stored != node.size {
                    report.findings.append(Finding(kind: "snapshot", object: id,
                                                   problem: "\(node.path): the snapshot says \(node.size ?? 0) bytes but its chunks hold \(stored)",
                                                   affects: ["\(id.prefix(8)):\(node.path)"]))
                }
            }
        }

        let listed = try await repository.backend.list(.bundle)
        var present = [Digest32: UInt64]()
        for info in listed { if let id = Digest32(hex: info.name) { present[id] = info.size } }
        report.bundles = present.count
        report.unindexedBundles = present.keys.filter { index.bundles[$0] == nil }.count
        var damagedBundles = Set<Digest32>()
        for (bundle, size) in index.bundles.sorted(by: { $0.key < $1.key }) {
            guard let actual = present[bundle] else {
                report.findings.append(Finding(kind: "bundle", object: bundle.hex, problem: "bundle is missing", affects: usersOfBundle[bundle] ?? []))
                damagedBundles.insert(bundle)
                continue
            }
            if actual != size {
                report.findings.append(Finding(kind: "bundle", object: bundle.hex,
                                               problem: "bundle has \(actual) bytes, the index says \(size) (truncated or altered)",
                                               affects: usersOfBundle[bundle] ?? []))
                damagedBundles.insert(bundle)
            }
        }

        let toRead: [Digest32]
        let candidates = index.bundles.keys.filter { present[$0] != nil && !damagedBundles.contains($0) }.sorted()
        switch options.readData {
        case .none: toRead = []
        case .all: toRead = candidates
        case .subset(let percent):
            let count = candidates.isEmpty ? 0 : max(1, Int((Double(candidates.count) * percent / 100).rounded(.up)))
            toRead = Array(candidates.shuffled().prefix(count))
        }
        if !toRead.isEmpty {
            var chunksOfBundle = [Digest32: [BundleEntry]]()
            for location in index.preferredLocations { chunksOfBundle[location.bundle, default: []].append(location.entry) }
            let total = toRead.reduce(UInt64(0)) { $0 + (present[$1] ?? 0) }
            try await readBundles(toRead, sizes: present, chunksOfBundle: chunksOfBundle, users: usersOfBundle, report: &report) { done in
                options.progress?(done, total)
            }
        }

        // The attestation chain: snapshots it records must still exist (unless a signed retention
        // record removed them), its records must be intact and unbroken, and the config and a key
        // file must be as the pushes recorded them. The same checks `audit` makes, with our key.
        let named = Set(report.findings.map(\.object))
        report.findings += try await checkAttestations(repository, hasSnapshots: !snapshots.snapshots.isEmpty || !snapshots.damaged.isEmpty)
            .filter { !named.contains($0.object) }

        if let days = options.requiredRetentionDays, let inspector = repository.backend as? any RetentionInspecting {
            report.findings += try await checkRetention(inspector, days: days, now: now)
        }

        if let newest = snapshots.snapshots.last {
            report.newestSnapshot = newest.id
            if let date = newest.snapshot.date { report.newestSnapshotAgeSeconds = now.timeIntervalSince(date) }
        }
        if let maxAge = options.maxAge {
            report.stale = (report.newestSnapshotAgeSeconds ?? .infinity) > maxAge
        }
        return report
    }

    private func checkAttestations(_ repository: Repository, hasSnapshots: Bool) async throws -> [Finding] {
        let publicKey = AuditPublicKey(repository: repository.config.id, key: try repository.keys.attestationPublicKey())
        let audit = try await Auditor(backend: repository.backend, publicKey: publicKey, logger: logger).audit(Auditor.Options())
        var findings = [Finding]()
        for finding in audit.findings {
            switch finding.kind {
            case .stale, .failedCheck: continue  // --max-age is verify's own; a past failure is history
            case .noAttestations where !hasSnapshots: continue
            case .chainForked:
                // Not damage: this run's own record merges the branches.
                logger.warning("\(finding.message)")
                continue
            default: break
            }
            findings.append(Finding(kind: "attestation", object: finding.object, problem: finding.message, affects: []))
        }
        for notice in audit.notices where notice.kind == .attestationDamaged {
            findings.append(Finding(kind: "attestation", object: notice.object, problem: notice.message, affects: []))
        }
        for name in try await AttestationLog.vanished(from: self.repository) {
            findings.append(Finding(kind: "attestation", object: name,
                                    problem: "attestation \(name.prefix(12)), which this machine saw before, is missing at the target: records are never deleted, so it was removed by someone (if that was intended, delete it from this machine's cache)",
                                    affects: []))
        }
        for notice in audit.notices where notice.kind == .signature {
            logger.warning("\(notice.message)")
        }
        return findings
    }

    /// Every object must carry a retention lock lasting at least `days` from when it was written:
    /// the config and attestations too, the records an attacker would most want to expire.
    private func checkRetention(_ inspector: any RetentionInspecting, days: Int, now: Date) async throws -> [Finding] {
        var findings = [Finding]()
        for kind in [ObjectKind.config, .key, .index, .snapshot, .bundle, .attestation] {
            for object in try await repository.backend.list(kind) {
                let retention = try await inspector.retention(kind, name: object.name)
                guard let until = retention.retainUntil else {
                    findings.append(Finding(kind: "retention", object: object.name, problem: "\(kind.singular) has no Object Lock retention", affects: []))
                    continue
                }
                let required = (retention.lastModified ?? now).addingTimeInterval(Double(days) * 86400 - 86400)
                if until < required {
                    findings.append(Finding(kind: "retention", object: object.name,
                                            problem: "\(kind.singular) is locked only until \(Timestamps.format(until)), less than \(days) days after it was written",
                                            affects: []))
                }
            }
        }
        return findings
    }

    private func readBundles(_ bundles: [Digest32], sizes: [Digest32: UInt64], chunksOfBundle: [Digest32: [BundleEntry]],
                             users: [Digest32: [String]], report: inout VerifyReport, progress: (UInt64) -> Void) async throws {
        let repository = self.repository
        // Whole bundles, since each is hashed against its name; bounded by the bytes the target
        // lists for them (which the index agrees with, or the bundle is not read), like a
        // restore's reads: the index's chunk lengths may say nothing of a bundle's other records.
        let reads = BoundedReads(maxReads: repository.backend.readsInFlight)
        try await reads.run(bundles, bytes: { sizes[$0] ?? 0 }, read: { bundle in
            try await Self.checkBundle(bundle, size: sizes[bundle] ?? 0, indexed: chunksOfBundle[bundle] ?? [], repository: repository)
        }, handle: { (bundle, bytes, chunks, problem) in
            report.bundlesRead += 1
            report.bytesRead += bytes
            report.chunksChecked += chunks
            progress(report.bytesRead)
            if let problem {
                report.findings.append(Finding(kind: "bundle", object: bundle.hex, problem: problem, affects: users[bundle] ?? []))
            }
        })
    }

    /// Reads a whole bundle (the `size` bytes the target lists, no more), checks its hash against
    /// its name, then opens every chunk.
    static func checkBundle(_ bundle: Digest32, size: UInt64, indexed: [BundleEntry], repository: Repository) async throws -> (Digest32, UInt64, Int, String?) {
        let name = bundle.hex
        let data: [UInt8]
        do {
            data = try await repository.backend.read(.bundle, name: name, range: 0..<size)
        } catch let error as PlanVaultError {
            return (bundle, 0, 0, "cannot be read: \(error.localizedDescription)")
        }
        guard LibCrypto.sha256(data) == bundle else {
            return (bundle, UInt64(data.count), 0, "content does not match its name (SHA-256 mismatch: the bundle was altered or damaged)")
        }
        do {
            let opener = try BundleOpener(prefix: data.prefix(BundleFormat.prefixLength), name: name, keys: repository.keys)
            let entries = try opener.entries(bundle: data)
            let header = Set(entries)
            for entry in indexed where !header.contains(entry) {
                return (bundle, UInt64(data.count), 0, "index entry for chunk \(entry.id.shortHex) does not match the bundle's own header")
            }
            for entry in entries {
                let stop = Int(UInt64(entry.offset) + UInt64(entry.length))
                guard stop <= data.count else {
                    return (bundle, UInt64(data.count), 0, "chunk \(entry.id.shortHex) lies past the end")
                }
                _ = try data.withUnsafeBytes {
                    try opener.openChunk(UnsafeRawBufferPointer(rebasing: $0[Int(entry.offset)..<stop]), entry: entry, keys: repository.keys)
                }
            }
            return (bundle, UInt64(data.count), entries.count, nil)
        } catch let error as PlanVaultError {
            return (bundle, UInt64(data.count), 0, error.localizedDescription)
        }
    }
}
