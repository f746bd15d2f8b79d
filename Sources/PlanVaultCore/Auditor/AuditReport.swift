import Foundation

/// The result of an audit: a verdict, the evidence found, and each failure named plainly.
public struct AuditReport: Codable, Sendable {
    public enum FindingKind: String, Codable, Sendable {
        case signature, chainBroken = "chain-broken", chainOrder = "chain-order", chainForked = "chain-forked", chainMerged = "chain-merged", stale, missingObject = "missing-object"
        case objectSize = "object-size", objectDamaged = "object-damaged", attestationDamaged = "attestation-damaged"
        case noAttestations = "no-attestations", notRestorable = "not-restorable", failedCheck = "failed-check"
        /// A policy criterion other than the newest copy's age (`stale`) is not met.
        case policy
        /// The chain no longer extends the one an earlier report recorded (`--previous`).
        case rollback
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

    /// One criterion of the policy, as applied: what was required and what was found.
    public struct Criterion: Codable, Sendable {
        /// `push`, `verify` or `drill`.
        public var id: String
        public var requirement: String
        public var maxAgeSeconds: Int
        /// Time of the newest record the criterion looks at; nil when there is none.
        public var last: String?
        public var ageSeconds: Int?
        public var met: Bool
        public var controls: [String]
    }

    /// The newest record of the chain the audit saw: `--previous` checks a later chain extends it.
    public struct ChainHead: Codable, Sendable, Equatable {
        public var name: String
        public var sequence: Int
        public var time: String
    }

    /// Remote storage (CP-6, CP-9 d, CP-9(8)): where the copy is and what of it was found.
    public struct RemoteStorage: Codable, Sendable {
        public var target = ""
        public var objectsNeeded = 0
        public var objectsPresent = 0
        public var objectsHashed = 0
        /// Object Lock / append-only status where the target can tell, else "not determined".
        public var immutability = "not determined"
        public var encryption = "AES-256-GCM, keys derived from the master key; the auditor's key cannot decrypt"
        public var controls = ["CP-6", "CP-9 d", "CP-9(8)"]
    }

    /// Annual test (CP-4, CP-9(1), CP-9(2)): the newest drill and verification.
    public struct AnnualTest: Codable, Sendable {
        public var lastDrill: String?
        public var drillResult: String?
        public var drillAgeSeconds: Int?
        public var drillDetail: String?
        public var sampled: Int?
        public var compared: Int?
        public var matched: Int?
        public var drills = 0
        public var lastVerification: String?
        public var verificationResult: String?
        public var verificationAgeSeconds: Int?
        public var controls = ["CP-4", "CP-9(1)", "CP-9(2)"]
    }

    /// Kept current (CP-9): the newest copy's age and how recently the plans changed, from push
    /// records' file and byte counts per source set (no file names).
    public struct KeptCurrent: Codable, Sendable {
        public struct SourceSet: Codable, Sendable {
            public var sourceSet: String
            public var files: Int
            public var bytes: UInt64
            /// The first push with the current counts: when the plans last changed, as far as
            /// file and byte counts show (an edit that keeps the size shows only in the objects).
            public var lastChanged: String
            public var changesLastYear: Int
            public var pushes: Int
        }
        public var newestCopy: String?
        public var ageSeconds: Int?
        public var sourceSets: [SourceSet] = []
        public var controls = ["CP-9"]
    }

    /// A NIST SP 800-53 Rev. 5 control and the evidence this report holds for it.
    public struct Control: Codable, Sendable {
        public var id: String
        public var title: String
        public var evidence: String
        public var satisfied: Bool
    }

    /// A signed retention record: snapshots `forget` removed and the policy it applied.
    public struct RetentionRow: Codable, Sendable {
        public var time: String
        public var host: String
        public var policy: String
        public var removed: [String]
    }

    /// What `--previous OLD.json` found: the head that report saw, and whether today's chain extends it.
    public struct PreviousReport: Codable, Sendable {
        public var file: String
        public var checkedAt: String
        public var head: ChainHead
        public var extended: Bool
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
    public var criteria: [Criterion] = []
    public var remoteStorage = RemoteStorage()
    public var annualTest = AnnualTest()
    public var keptCurrent = KeptCurrent()
    public var controls: [Control] = []
    public var retention: [RetentionRow] = []
    public var chainHead: ChainHead?
    public var previousReport: PreviousReport?
    public var planvaultVersion = ""
    public var commandLine: [String] = []

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
