import Foundation

/// The result of an audit: a verdict, the evidence found, and each failure named plainly.
public struct AuditReport: Codable, Sendable {
    public enum FindingKind: String, Codable, Sendable {
        case signature, chainBroken = "chain-broken", chainOrder = "chain-order", chainForked = "chain-forked", chainMerged = "chain-merged", stale, missingObject = "missing-object"
        case objectSize = "object-size", objectDamaged = "object-damaged", attestationDamaged = "attestation-damaged"
        case noAttestations = "no-attestations", notRestorable = "not-restorable", failedCheck = "failed-check"
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var kind: FindingKind
        public var object: String
        public var message: String
    }

    public struct SnapshotRow: Codable, Sendable {
        public var id: String
        public var time: String
        public var host: String
        public var sourceSet: String
        public var files: Int
        public var bytes: UInt64
        public var objects: Int
        public var retained: Bool
    }

    public struct CheckRow: Codable, Sendable {
        public var time: String
        public var type: String
        public var host: String
        public var what: String
        public var result: String
        public var findings: Int
        public var removed: Int
    }

    public var repository: String
    public var target: String
    public var fingerprint: String
    public var checkedAt: String
    public var readData = false
    public var newestCopy: String?
    public var objectsChecked = 0
    public var bytesRead: UInt64 = 0
    public var snapshots: [SnapshotRow] = []
    public var checks: [CheckRow] = []
    public var findings: [Finding] = []
    /// What the auditor should know but that does not make the copy unfit: records that are not
    /// this repository's (anyone with write access can plant one; the chain check catches the
    /// loss of a real one), and checks the credential did not allow.
    public var notices: [Finding] = []

    public var passed: Bool { findings.isEmpty }
    public var verdict: String { passed ? "PASS" : "FAIL" }

    init(repository: String, target: String, fingerprint: String, checkedAt: String) {
        self.repository = repository
        self.target = target
        self.fingerprint = fingerprint
        self.checkedAt = checkedAt
    }

    mutating func add(_ kind: FindingKind, _ object: String, _ message: String) {
        findings.append(Finding(kind: kind, object: object, message: message))
    }

    mutating func notice(_ kind: FindingKind, _ object: String, _ message: String) {
        notices.append(Finding(kind: kind, object: object, message: message))
    }

    /// Pushes per day (UTC), oldest first.
    public var replicationsPerDay: [(day: String, count: Int)] {
        var counts = [String: Int]()
        for row in snapshots { counts[String(row.time.prefix(10)), default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public func json() throws -> [UInt8] {
        // snake_case and a schema version, as every --json output (docs/json.md).
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = try JSONSerialization.jsonObject(with: encoder.encode(self)) as? [String: Any] ?? [:]
        object["schema"] = "planvault.audit/1"
        object["verdict"] = verdict
        object["replications_per_day"] = replicationsPerDay.map { ["day": $0.day, "count": $0.count] }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
    }
}
