import Foundation

/// The chain head an earlier `audit --report FILE.json` recorded (its `chain_head`).
public struct PreviousHead: Sendable {
    public var file: String
    public var checkedAt: String
    public var repository: String
    public var head: AuditReport.ChainHead

    /// Reads the fields `--previous` needs from an earlier audit.json; anything else is ignored.
    public static func parse(_ bytes: [UInt8], file: String) throws -> PreviousHead {
        let what = "--previous \(file)"
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
              (object["schema"] as? String)?.hasPrefix("planvault.audit/") == true else {
            throw PlanVaultError.invalidArgument("\(what) is not a PlanVault audit report (give the .json file an earlier `planvault audit --report FILE.json` wrote)")
        }
        guard let head = object["chain_head"] as? [String: Any], let name = head["name"] as? String, ObjectName.isValid(name),
              let sequence = head["sequence"] as? Int, sequence >= 0, let time = head["time"] as? String else {
            throw PlanVaultError.invalidArgument("\(what) records no chain head (it was written by an older PlanVault or from an empty chain): it cannot show what the chain was then")
        }
        guard let repository = object["repository"] as? String, let checkedAt = object["checked_at"] as? String else {
            throw PlanVaultError.invalidArgument("\(what) lacks its repository or checked_at field: it is not a complete audit report")
        }
        return PreviousHead(file: file, checkedAt: checkedAt, repository: repository, head: .init(name: name, sequence: sequence, time: time))
    }
}

extension Auditor {
    /// Kept current: per source set, how many pushes there were, and when the file or byte counts
    /// last changed. Facts from the signed push records only: no file is named.
    func describeCurrency(pushes: [AttestationLog.Entry], now: Date, _ report: inout AuditReport) {
        report.keptCurrent.newestCopy = report.newestCopy
        report.keptCurrent.ageSeconds = report.newestCopy.flatMap(Timestamps.parse).map { Int(now.timeIntervalSince($0)) }
        let facts = pushes.compactMap(\.attestation.snapshot).sorted {
            (Timestamps.instant($0.time) ?? .unknown, $0.time) < (Timestamps.instant($1.time) ?? .unknown, $1.time)
        }
        var order = [String]()
        var groups = [String: [Attestation.SnapshotFacts]]()
        for fact in facts {
            if groups[fact.sourceSet] == nil { order.append(fact.sourceSet) }
            groups[fact.sourceSet, default: []].append(fact)
        }
        let yearAgo = now.addingTimeInterval(-365 * 86400)
        for sourceSet in order {
            guard let list = groups[sourceSet], let newest = list.last else { continue }
            var lastChanged = newest.time
            var changes = 0
            for (i, fact) in list.enumerated() {
                let changed = i == 0 || list[i - 1].files != fact.files || list[i - 1].bytes != fact.bytes
                guard changed else { continue }
                lastChanged = fact.time
                if let time = Timestamps.parse(fact.time), time >= yearAgo { changes += 1 }
            }
            report.keptCurrent.sourceSets.append(.init(sourceSet: sourceSet, files: newest.files, bytes: newest.bytes, lastChanged: lastChanged,
                                                       changesLastYear: changes, pushes: list.count))
        }
    }

    /// Annual test: the newest drill and verification records, as signed.
    func describeTests(_ trusted: [AttestationLog.Entry], now: Date, _ report: inout AuditReport) {
        func age(_ time: String) -> Int? { Timestamps.parse(time).map { Int(now.timeIntervalSince($0)) } }
        report.annualTest.drills = trusted.filter { $0.attestation.type == .drill }.count
        if let drill = trusted.last(where: { $0.attestation.type == .drill })?.attestation {
            report.annualTest.lastDrill = drill.time
            report.annualTest.drillAgeSeconds = age(drill.time)
            report.annualTest.drillResult = drill.check?.result
            report.annualTest.drillDetail = [drill.check?.what, drill.check?.detail].compactMap { $0 }.joined(separator: ": ")
            report.annualTest.sampled = drill.check?.sampled
            report.annualTest.compared = drill.check?.compared
            report.annualTest.matched = drill.check?.matched
        }
        if let verify = trusted.last(where: { $0.attestation.type == .verify })?.attestation {
            report.annualTest.lastVerification = verify.time
            report.annualTest.verificationAgeSeconds = age(verify.time)
            report.annualTest.verificationResult = verify.check?.result
        }
    }

    /// Each criterion of the policy, recorded as applied; one not met is a finding that names it.
    func apply(_ policy: AuditPolicy, now: Date, _ report: inout AuditReport) {
        let items: [(id: String, limit: TimeInterval, requirement: String, last: String?, age: Int?, what: String, controls: [String])] = [
            ("push", policy.push, "newest copy within \(Self.describe(policy.push))", report.keptCurrent.newestCopy, report.keptCurrent.ageSeconds,
             "copy", ["CP-6", "CP-9"]),
            ("verify", policy.verify, "a verification within \(Self.describe(policy.verify))", report.annualTest.lastVerification,
             report.annualTest.verificationAgeSeconds, "verification", ["CP-9(1)"]),
            ("drill", policy.drill, "a restore drill within \(Self.describe(policy.drill))", report.annualTest.lastDrill,
             report.annualTest.drillAgeSeconds, "restore drill", ["CP-4", "CP-9(2)"]),
        ]
        for item in items {
            // Judged on the exact age: the report's whole seconds would let a copy 0.4 s old pass "within 0 s".
            let exactAge = item.last.flatMap(Timestamps.parse).map { now.timeIntervalSince($0) }
            let met = exactAge.map { $0 <= item.limit } ?? false
            report.criteria.append(.init(id: item.id, requirement: item.requirement, maxAgeSeconds: Int(item.limit), last: item.last,
                                         ageSeconds: item.age, met: met, controls: item.controls))
            guard !met else { continue }
            let found: String
            if let age = item.age, let last = item.last {
                found = "the newest \(item.what) is \(Self.describe(Double(age))) old (\(last))"
            } else if item.id == "push" {
                continue  // no copy at all: the no-attestations finding already says so
            } else {
                found = "no \(item.what) has ever been recorded"
            }
            // "newest copy is ..." keeps the wording scripts and the README quote for a stale copy.
            let message = item.id == "push" ? "policy \"\(item.requirement)\" not met: newest copy is \(Self.describe(Double(item.age ?? 0))) old"
                                            : "policy \"\(item.requirement)\" not met: \(found)"
            report.add(item.id == "push" ? .stale : .policy, item.id, message)
        }
    }

    /// Object Lock status where the target can report it (S3); a folder or a PlanVault server
    /// cannot tell an auditor whether its storage is append-only.
    func immutability(_ snapshot: String?, head: String?) async -> String {
        guard let inspector = backend as? any RetentionInspecting else {
            return "not determined: this kind of target does not report Object Lock or append-only status"
        }
        var parts = [String]()
        for (kind, name, label) in [(ObjectKind.snapshot, snapshot, "newest snapshot"), (.attestation, head, "newest attestation")] {
            guard let name else { continue }
            do {
                let retention = try await inspector.retention(kind, name: name)
                if let until = retention.retainUntil {
                    parts.append("\(label) locked (\(retention.mode ?? "mode not given")) until \(Timestamps.format(until))")
                } else {
                    parts.append("\(label) has no Object Lock retention")
                }
            } catch {
                return "not determined: the target did not report Object Lock retention (\((error as? PlanVaultError)?.localizedDescription ?? "\(error)"))"
            }
        }
        return parts.isEmpty ? "not determined: no object to inspect" : "S3 Object Lock: " + parts.joined(separator: "; ")
    }

    /// The chain seen now must extend the one an earlier report saw: its head must still exist and
    /// be an ancestor of today's head through `previous` and `merged` links.
    func checkExtends(_ previous: PreviousHead, _ trusted: [AttestationLog.Entry], _ report: inout AuditReport) {
        let then = "the report of \(previous.checkedAt) (\(previous.file)) saw record \(previous.head.sequence) (\(previous.head.time))"
        var result = AuditReport.PreviousReport(file: previous.file, checkedAt: previous.checkedAt, head: previous.head, extended: false)
        defer { report.previousReport = result }
        guard previous.repository == publicKey.repository else {
            report.add(.rollback, previous.head.name, "--previous \(previous.file) is a report on repository \(previous.repository.prefix(8)), not \(publicKey.repository.prefix(8)): compare reports of the same repository")
            return
        }
        let byName = Dictionary(trusted.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        guard byName[previous.head.name] != nil else {
            let now = trusted.last.map { "sequence \($0.attestation.sequence) (\($0.attestation.time))" } ?? "no record"
            if (trusted.last?.attestation.sequence ?? -1) < previous.head.sequence {
                report.add(.rollback, previous.head.name, "attestation chain rolled back or truncated: \(then), but the chain now ends at \(now): newer records were removed")
            } else {
                report.add(.rollback, previous.head.name, "attestation chain rewritten: \(then), which no longer exists (the chain now ends at \(now))")
            }
            return
        }
        var ancestry = Set<String>()
        var pending = trusted.last.map { [$0.name] } ?? []
        while let name = pending.popLast() {
            guard ancestry.insert(name).inserted, let entry = byName[name] else { continue }
            pending += entry.attestation.links
        }
        guard ancestry.contains(previous.head.name) else {
            report.add(.rollback, previous.head.name, "attestation chain forked since the earlier report: \(then), which is not an ancestor of today's newest record")
            return
        }
        result.extended = true
    }
}
