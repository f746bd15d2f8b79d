import Foundation
import Logging

/// `planvault audit`: checks the offsite copy with the public key alone. It never sees a
/// passphrase or a decryption key: it reads attestations, object listings and, with
/// `--read-data`, the objects' bytes, whose SHA-256 must match their names.
public struct Auditor: Sendable {
    let backend: any ReadableBackend
    let publicKey: AuditPublicKey
    let logger: Logger

    public init(backend: any ReadableBackend, publicKey: AuditPublicKey, logger: Logger) {
        self.backend = backend
        self.publicKey = publicKey
        self.logger = logger
    }

    public struct Options: Sendable {
        public var readData = false
        /// The policy to hold the copy to; nil checks integrity only (as `verify` does).
        public var policy: AuditPolicy?
        /// The chain head an earlier report recorded: the chain seen now must extend it.
        public var previous: PreviousHead?
        public var planvaultVersion = ""
        public var commandLine: [String] = []
        public init() {}
    }

    public func audit(_ options: Options, now: Date = Date()) async throws -> AuditReport {
        var report = try await examine(options, now: now)
        report.controls = AuditControls.assess(report)
        return report
    }

    private func examine(_ options: Options, now: Date) async throws -> AuditReport {
        var report = AuditReport(repository: publicKey.repository, target: backend.location, fingerprint: publicKey.fingerprint,
                                 checkedAt: Timestamps.format(now))
        report.planvaultVersion = options.planvaultVersion
        report.commandLine = options.commandLine
        report.remoteStorage.target = backend.location
        let (entries, unreadable) = try await AttestationLog.load(backend)
        // Records that do not verify are not evidence, and not a failure either: anyone who can
        // write to the target can plant one. The loss or alteration of a real record shows as a
        // gap in the chain of the signed ones, and that fails the audit.
        for name in unreadable {
            report.notice(.attestationDamaged, name, "attestation \(name.prefix(12)) is damaged or not an attestation; ignored (remove it with an admin credential)")
        }
        var trusted = [AttestationLog.Entry]()
        for entry in entries {
            guard Attestation.verifySignature(body: entry.body, signature: entry.signature, publicKey: publicKey.key) else {
                report.notice(.signature, entry.name, "attestation \(entry.name.prefix(12)) (sequence \(entry.attestation.sequence), \(entry.attestation.time)) is not signed by the key \(publicKey.fingerprint.prefix(19))…; ignored")
                continue
            }
            guard entry.attestation.repository == publicKey.repository else {
                report.notice(.signature, entry.name, "attestation \(entry.name.prefix(12)) belongs to repository \(entry.attestation.repository.prefix(8)), not \(publicKey.repository.prefix(8)); ignored")
                continue
            }
            trusted.append(entry)
        }
        guard !trusted.isEmpty else {
            // Nothing at all at the address is more often a mistyped address than a lost copy:
            // the finding says which, and the verdict fails either way.
            var noRepository = false
            if entries.isEmpty, unreadable.isEmpty {
                // A stat that fails (a credential scoped without the config) proves nothing either way.
                do { noRepository = try await backend.stat(.config, name: ObjectName.config) == nil } catch { noRepository = false }
            }
            if noRepository {
                report.add(.noAttestations, "", "there is no PlanVault repository at \(backend.location) (no config, no attestation): check the address; if it is right, there is no offsite copy here")
            } else {
                report.add(.noAttestations, "", "no attestation signed by this key exists: there is no evidence of an offsite copy")
            }
            if let previous = options.previous { checkExtends(previous, trusted, &report) }
            if let policy = options.policy { apply(policy, now: now, &report) }
            return report
        }
        checkChain(trusted, &report)
        if let tip = trusted.last {
            report.chainHead = .init(name: tip.name, sequence: tip.attestation.sequence, time: tip.attestation.time)
        }
        if let previous = options.previous {
            checkExtends(previous, trusted, &report)
        }
        let resolved = AttestationLog.resolvedObjects(trusted)

        // Snapshots still retained: pushed, and not removed by a signed retention record.
        let removed = Set(trusted.flatMap { $0.attestation.type == .retention ? $0.attestation.removed ?? [] : [] })
        // The newest push record of each snapshot counts (a repair re-attests what it replaced).
        var newestRecord = [String: AttestationLog.Entry]()
        for entry in trusted where entry.attestation.type == .push {
            if let id = entry.attestation.snapshot?.id { newestRecord[id] = entry }
        }
        let pushes = trusted.filter { entry in entry.attestation.snapshot.map { newestRecord[$0.id]?.name == entry.name } ?? false }
        let retained = pushes.filter { !removed.contains($0.attestation.snapshot?.id ?? "") }
        for entry in trusted {
            let a = entry.attestation
            switch a.type {
            case .push:
                if let s = a.snapshot, newestRecord[s.id]?.name == entry.name {
                    report.snapshots.append(.init(id: s.id, time: s.time, host: a.host, sourceSet: s.sourceSet, files: s.files, bytes: s.bytes,
                                                  objects: resolved[entry.name]?.count ?? 0, retained: !removed.contains(s.id)))
                }
            case .retention:
                report.retention.append(.init(time: a.time, host: a.host, policy: a.policy ?? "", removed: a.removed ?? []))
            case .verify, .drill:
                report.checks.append(.init(time: a.time, type: a.type.rawValue, host: a.host, what: a.check?.what ?? a.policy ?? "",
                                           result: a.check?.result ?? "recorded", findings: a.check?.findings ?? 0,
                                           removed: a.removed?.count ?? 0))
            case .merge:
                report.checks.append(.init(time: a.time, type: a.type.rawValue, host: a.host,
                                           what: "chain merge of \(a.merged?.count ?? 0) branch(es)", result: "recorded", findings: 0, removed: 0))
            }
        }

        // A restore needs the config (whose id the key file is bound to) and a key file.
        await checkRestorable(&report, trusted: trusted)

        // The newest verification and drill must not have failed.
        for type in [Attestation.Kind.verify, .drill] {
            if let last = trusted.last(where: { $0.attestation.type == type }), let check = last.attestation.check, check.result == "failed" {
                report.add(.failedCheck, last.name, "the latest \(type == .verify ? "verification" : "restore drill") (\(last.attestation.time)) failed: \(check.what), \(check.findings) problem(s)")
            }
        }

        // Freshness, and the policy's other criteria.
        if let newest = pushes.compactMap({ $0.attestation.snapshot.flatMap { Timestamps.parse($0.time) } }).max() {
            report.newestCopy = Timestamps.format(newest)
        } else {
            report.add(.noAttestations, "", "no push attestation: no copy has ever been attested")
        }
        describeCurrency(pushes: pushes, now: now, &report)
        describeTests(trusted, now: now, &report)
        if let policy = options.policy { apply(policy, now: now, &report) }

        // Every object a retained snapshot needs must exist with its recorded size.
        var needed = [String: (kind: ObjectKind, size: UInt64, users: [String])]()
        for entry in retained {
            guard let objects = resolved[entry.name] else {
                report.add(.chainBroken, entry.name, "push record \(entry.name.prefix(12)) builds on record \(entry.attestation.base?.prefix(12) ?? "?"), which is missing or not signed by this key")
                continue
            }
            for object in objects {
                guard let kind = ObjectKind(rawValue: object.kind), kind.isContentAddressed else { continue }
                needed[object.name, default: (kind, object.size, [])].users.append(String(entry.attestation.snapshot?.id.prefix(8) ?? ""))
            }
        }
        var present = [ObjectKind: [String: UInt64]]()
        for kind in Set(needed.values.map(\.kind)) {
            present[kind] = Dictionary(try await backend.list(kind).map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        }
        report.remoteStorage.objectsNeeded = needed.count
        for (name, need) in needed.sorted(by: { $0.key < $1.key }) {
            guard let size = present[need.kind]?[name] else {
                report.add(.missingObject, name, "\(need.kind.singular) \(name.prefix(12))… missing (needed by snapshot \(need.users.joined(separator: ", ")))")
                continue
            }
            if size != need.size {
                report.add(.objectSize, name, "\(need.kind.singular) \(name.prefix(12))… has \(size) bytes, the attestation says \(need.size)")
                continue
            }
            report.objectsChecked += 1
            // Key files are checked by size only: a read-only auditor credential may not download them.
            if options.readData && need.kind != .key {
                let bytes = try await backend.read(need.kind, name: name, range: nil)
                report.bytesRead += UInt64(bytes.count)
                if LibCrypto.sha256(bytes).hex != name {
                    report.add(.objectDamaged, name, "\(need.kind.singular) \(name.prefix(12))… is damaged: its SHA-256 does not match its name")
                } else {
                    report.remoteStorage.objectsHashed += 1
                }
            }
        }
        report.remoteStorage.objectsPresent = report.objectsChecked
        report.readData = options.readData
        report.remoteStorage.immutability = await immutability(retained.last?.attestation.snapshot?.id, head: report.chainHead?.name)
        return report
    }

    /// The config must exist, be this repository's and match the newest push record's hash, and
    /// at least one key file must be intact. Both are small, so they are hashed on every audit.
    private func checkRestorable(_ report: inout AuditReport, trusted: [AttestationLog.Entry]) async {
        do {
            let bytes = try await backend.read(.config, name: ObjectName.config, range: nil)
            let config = try RepositoryConfig.decode(bytes, location: backend.location)
            if config.id != publicKey.repository {
                report.add(.notRestorable, "config", "the config belongs to repository \(config.id.prefix(8)), not \(publicKey.repository.prefix(8))")
            }
            let recorded = trusted.last { $0.attestation.configSHA256 != nil }?.attestation.configSHA256
            if let recorded, LibCrypto.sha256(bytes).hex != recorded {
                report.add(.notRestorable, "config", "the config differs from the one the newest push recorded: it was altered; `planvault repair` with the passphrase puts it back")
            }
        } catch {
            report.add(.notRestorable, "config", "the repository's config is missing or unreadable (`planvault repair` with the passphrase rewrites it from a key file)")
        }
        let listing: [ObjectInfo]
        do {
            listing = try await backend.list(.key)
        } catch {
            report.add(.notRestorable, "keys", "key files cannot be listed: \((error as? PlanVaultError)?.localizedDescription ?? "\(error)")")
            return
        }
        guard !listing.isEmpty else {
            report.add(.notRestorable, "keys", "no key file exists: nothing could be restored")
            return
        }
        var intact = 0, unchecked = 0
        var damaged = [String]()
        for info in listing where info.size <= UInt64(Limits.maxKeyFileSize) {
            do {
                let bytes = try await backend.read(.key, name: info.name, range: nil)
                report.bytesRead += UInt64(bytes.count)
                if LibCrypto.sha256(bytes).hex == info.name, (try? JSONDecoder().decode(KeyFile.self, from: Data(bytes)))?.repository == publicKey.repository {
                    intact += 1
                } else {
                    damaged.append(String(info.name.prefix(12)))
                }
            } catch {
                // An auditor credential on `planvault serve` may not download key files.
                unchecked += 1
            }
        }
        if unchecked > 0 {
            report.notice(.notRestorable, "keys", "\(unchecked) key file(s) could not be read with this credential: only their presence was checked")
        }
        if intact == 0 && unchecked == 0 {
            report.add(.notRestorable, "keys", "no intact key file remains (damaged: \(damaged.joined(separator: ", "))): nothing could be restored")
        } else if !damaged.isEmpty {
            report.notice(.objectDamaged, "keys", "damaged key file(s): \(damaged.joined(separator: ", ")); \(intact) intact")
        }
    }

    /// The chain must run 0, 1, 2, ... with each record naming the one before it. Two records
    /// with one `previous` (a fork) pass only once a merge record names the branch's tip.
    private func checkChain(_ entries: [AttestationLog.Entry], _ report: inout AuditReport) {
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, entry) in entries.enumerated() {
            let a = entry.attestation
            let earlier = entries[..<i].last { $0.attestation.sequence < a.sequence }
            guard let previousName = a.previous else {
                if a.sequence != 0 {
                    report.add(.chainBroken, entry.name, "attestation chain broken before \(a.time): the records before sequence \(a.sequence) are missing")
                } else if i != 0 {
                    report.add(.chainOrder, entry.name, "attestation chain forked at sequence 0 (\(a.time)): a second first record")
                }
                continue
            }
            let linked = a.links.map { byName[$0] }
            guard let prior = byName[previousName], !linked.contains(where: { $0 == nil }) else {
                if let earlier {
                    report.add(.chainBroken, entry.name, "attestation chain broken after \(String(earlier.attestation.time.prefix(10))): record \(a.sequence - 1) is missing")
                } else {
                    report.add(.chainBroken, entry.name, "attestation chain broken before \(a.time): the records before sequence \(a.sequence) are missing")
                }
                continue
            }
            let expected = linked.compactMap { $0?.attestation.sequence }.max().map { $0 + 1 }
            let wellFormed = a.type == .merge ? !(a.merged ?? []).isEmpty && a.sequence == expected
                                              : a.merged == nil && a.sequence == prior.attestation.sequence + 1
            if !wellFormed {
                report.add(.chainOrder, entry.name, "attestation chain out of order at sequence \(a.sequence) (\(a.time)): it does not follow record \(a.sequence - 1)")
            }
        }
        for fork in AttestationLog.forkTips(entries) {
            report.add(.chainForked, fork.tip.name, "attestation chain forked at sequence \(fork.from) (\(fork.tip.attestation.time), host \(fork.tip.attestation.host)) and is not merged yet: the next push, verify or drill with the passphrase merges it")
        }
        for entry in entries where entry.attestation.type == .merge {
            let joined = (entry.attestation.merged ?? []).compactMap { byName[$0] }
            let hosts = Set(joined.map(\.attestation.host)).sorted().joined(separator: ", ")
            report.notice(.chainMerged, entry.name, "attestation chain forked (branch from \(hosts)) and was merged by record \(entry.attestation.sequence) (\(entry.attestation.time), host \(entry.attestation.host))")
        }
    }

    static func describe(_ seconds: TimeInterval) -> String {
        if seconds >= 2 * 86400 { return "\(Int(seconds / 86400)) days" }
        if seconds >= 3600 { return "\(Int(seconds / 3600)) hours" }
        return "\(Int(seconds / 60)) minutes"
    }
}
