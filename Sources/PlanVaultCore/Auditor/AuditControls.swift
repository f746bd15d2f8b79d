import Foundation

/// The NIST SP 800-53 Rev. 5 controls auditors cite for offsite copies of continuity plans, each
/// with the evidence this audit holds for it and whether that evidence shows it met.
public enum AuditControls {
    public static let titles: [(id: String, title: String)] = [
        ("CP-6", "Alternate storage site"),
        ("CP-9", "System backup"),
        ("CP-9 d", "System backup: confidentiality, integrity and availability of backup information at the storage location"),
        ("CP-9(1)", "System backup: testing for reliability and integrity"),
        ("CP-9(2)", "System backup: test restoration using sampling"),
        ("CP-9(8)", "System backup: cryptographic protection"),
        ("CP-4", "Contingency plan testing"),
    ]

    static func assess(_ r: AuditReport) -> [AuditReport.Control] {
        let kinds = Set(r.findings.map(\.kind))
        func met(_ id: String) -> Bool? { r.criteria.first { $0.id == id }?.met }
        let storage = r.remoteStorage
        let copyFound = !kinds.contains(.noAttestations) && storage.objectsNeeded > 0
        let objectsWhole = !kinds.contains(.missingObject) && !kinds.contains(.objectSize) && !kinds.contains(.notRestorable)
        let integrity = objectsWhole && kinds.isDisjoint(with: [.objectDamaged, .chainBroken, .chainOrder, .chainForked, .rollback, .signature])
        let test = r.annualTest
        let sample = test.compared.map { compared in ", \(compared) of \(test.sampled ?? 0) sampled file(s) compared with the source, \(test.matched ?? 0) matched" } ?? ""
        let sampleOK = test.compared.map { $0 == (test.matched ?? -1) } ?? true
        let drillOK = test.drillResult == "ok" && sampleOK && (met("drill") ?? true)
        let evidence: [String: (String, Bool)] = [
            "CP-6": ("copy at \(storage.target): \(storage.objectsPresent) of \(storage.objectsNeeded) needed object(s) present with their signed sizes",
                     copyFound && objectsWhole),
            "CP-9": ("newest copy \(r.newestCopy ?? "none")\(r.keptCurrent.ageSeconds.map { ", \(DurationWords.text(Double($0))) old" } ?? ""); \(r.snapshots.count) attested snapshot(s)",
                     copyFound && (met("push") ?? true)),
            "CP-9 d": ("objects sealed with \(storage.encryption); signed, chained attestations\(r.readData ? "; \(storage.objectsHashed) object(s) hashed to their names" : ""); immutability: \(storage.immutability)",
                       copyFound && integrity),
            "CP-9(1)": ("newest verification \(test.lastVerification ?? "none")\(test.verificationResult.map { ": \($0)" } ?? "")",
                        test.verificationResult == "ok" && (met("verify") ?? true)),
            "CP-9(2)": ("newest restore drill \(test.lastDrill ?? "none")\(test.drillResult.map { ": \($0)" } ?? "")\(sample)", drillOK),
            "CP-9(8)": ("every object is AES-256-GCM sealed under keys derived from the master key, which the audit never holds; attestations are Ed25519-signed",
                        copyFound && !kinds.contains(.objectDamaged)),
            "CP-4": ("\(test.drills) restore drill(s) recorded; newest \(test.lastDrill ?? "none")\(test.drillResult.map { ": \($0)" } ?? "")", drillOK),
        ]
        return titles.map { control in
            let (text, satisfied) = evidence[control.id] ?? ("", false)
            return AuditReport.Control(id: control.id, title: control.title, evidence: text, satisfied: satisfied)
        }
    }
}

/// The report as an OSCAL 1.1.2 assessment-results document a GRC tool can import: one result,
/// with one observation (the evidence) and one finding (satisfied or not) per control.
public enum AuditOSCAL {
    /// OSCAL's identifiers for the controls: "CP-9(1)" is "cp-9.1", "CP-9 d" the statement "cp-9_smt.d".
    static func target(_ id: String) -> (type: String, id: String, control: String) {
        if id == "CP-9 d" { return ("statement-id", "cp-9_smt.d", "cp-9") }
        let control = id.lowercased().replacingOccurrences(of: "(", with: ".").replacingOccurrences(of: ")", with: "")
        return ("objective-id", control + "_obj", control)
    }

    public static func document(_ report: AuditReport) throws -> [UInt8] {
        func uuid() -> String { UUID().uuidString.lowercased() }
        var observations = [[String: Any]]()
        var findings = [[String: Any]]()
        for control in report.controls {
            let observation = uuid()
            observations.append([
                "uuid": observation, "title": "\(control.id) \(control.title)", "description": control.evidence,
                "methods": ["TEST"], "collected": report.checkedAt,
                "subjects": [["subject-uuid": uuid(), "type": "component", "title": "offsite copy at \(report.target)"]],
            ])
            let t = target(control.id)
            findings.append([
                "uuid": uuid(), "title": "\(control.id) \(control.title)", "description": control.evidence,
                "target": ["type": t.type, "target-id": t.id, "status": ["state": control.satisfied ? "satisfied" : "not-satisfied"]],
                "related-observations": [["observation-uuid": observation]],
            ])
        }
        for finding in report.findings {
            let observation = uuid()
            observations.append(["uuid": observation, "title": "audit finding: \(finding.kind.rawValue)", "description": finding.message,
                                 "methods": ["TEST"], "collected": report.checkedAt])
        }
        let controlIDs = Array(Set(report.controls.map { target($0.id).control })).sorted()
        let criteria = report.criteria.map { "\($0.requirement): \($0.met ? "met" : "not met")" }.joined(separator: "; ")
        let result: [String: Any] = [
            "uuid": uuid(),
            "title": "PlanVault audit: \(report.verdict)",
            "description": "Audit of the offsite copy of repository \(report.repository) at \(report.target) with the public key \(report.fingerprint). Verdict \(report.verdict). Criteria: \(criteria.isEmpty ? "integrity only" : criteria).",
            "start": report.checkedAt, "end": report.checkedAt,
            "reviewed-controls": ["control-selections": [["include-controls": controlIDs.map { ["control-id": $0] }]]],
            "observations": observations,
            "findings": findings,
        ]
        let document: [String: Any] = ["assessment-results": [
            "uuid": uuid(),
            "metadata": ["title": "PlanVault offsite-copy audit", "last-modified": report.checkedAt,
                         "version": report.planvaultVersion.isEmpty ? "unknown" : report.planvaultVersion, "oscal-version": "1.1.2"],
            "import-ap": ["href": "#planvault-audit"],
            "results": [result],
        ]]
        return Array(try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
    }
}
