import Foundation

/// A signed, unencrypted, chained record in `attestations/`: evidence an auditor can check with
/// the repository's public key alone. See FORMAT.md, "Attestations".
public struct Attestation: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// A push: the snapshot and every object it needs.
        case push
        /// A `verify` run and its result.
        case verify
        /// A restore drill and its result.
        case drill
        /// Snapshots forgotten under a retention policy.
        case retention
        /// Joins branches of a forked chain (records written at once by hosts that could not
        /// share the chain lock) back into one.
        case merge
    }

    public struct SnapshotFacts: Codable, Sendable, Equatable {
        public var id: String
        public var time: String
        /// The source paths' last components, comma-separated (no file names).
        public var sourceSet: String
        public var files: Int
        public var bytes: UInt64

        enum CodingKeys: String, CodingKey { case id, time, sourceSet = "source_set", files, bytes }
    }

    public struct ObjectRef: Codable, Sendable, Hashable {
        public var kind: String
        public var name: String
        public var size: UInt64
    }

    public struct Check: Codable, Sendable, Equatable {
        /// What was checked, e.g. "verify --read-data" or "restore drill".
        public var what: String
        public var result: String
        public var findings: Int
        public var detail: String?
        /// Drills with `--sample N`: files drawn at random, how many of them could be compared
        /// with the source at the primary site (present and unchanged since the snapshot), and
        /// how many of those were byte for byte equal.
        public var sampled: Int?
        public var compared: Int?
        public var matched: Int?

        public init(what: String, result: String, findings: Int, detail: String?) {
            self.what = what
            self.result = result
            self.findings = findings
            self.detail = detail
        }
    }

    public var format = "planvault-attestation"
    public var version = 1
    public var type: Kind
    /// 0 for the first attestation, then +1 each.
    public var sequence: Int
    /// Name (SHA-256) of the attestation before this one; nil only for the first.
    public var previous: String?
    public var repository: String
    public var time: String
    public var host: String
    public var snapshot: SnapshotFacts?
    public var objects: [ObjectRef]?
    public var check: Check?
    /// Snapshot IDs removed, and the policy that removed them (retention records).
    public var removed: [String]?
    public var policy: String?
    /// Push records: SHA-256 (hex) of the config's bytes, so an auditor can check the config.
    public var configSHA256: String?
    /// Verify records: bundles found damaged (a later push stores their chunks again).
    public var damagedBundles: [String]?
    /// Push records: this record attests a snapshot an interrupted push left without one.
    public var adopted: Bool?
    /// Push records: an earlier push record whose objects this one builds on; `objects` then lists
    /// only the objects added to that set and `objectsDropped` the names taken out of it.
    public var base: String?
    public var objectsDropped: [String]?
    /// Push records: a repair re-attests a snapshot whose objects it replaced; the newest push
    /// record of a snapshot is the one that counts.
    public var repaired: Bool?
    /// Merge records: the tips of the branches joined besides `previous`.
    public var merged: [String]?

    enum CodingKeys: String, CodingKey {
        case format, version, type, sequence, previous, repository, time, host, snapshot, objects, check, removed, policy
        case configSHA256 = "config_sha256", damagedBundles = "damaged_bundles", adopted, repaired
        case base, objectsDropped = "objects_dropped", merged
    }

    /// The records this one names: `previous`, and for a merge record the branches it joins.
    public var links: [String] { (previous.map { [$0] } ?? []) + (merged ?? []) }

    public init(type: Kind, sequence: Int, previous: String?, repository: String, time: String, host: String) {
        self.type = type
        self.sequence = sequence
        self.previous = previous
        self.repository = repository
        self.time = time
        self.host = host
    }

    static let domain = Array("planvault-attestation-v1\n".utf8)

    /// The stored form: the body as one line of JSON (sorted keys), then the base64 Ed25519
    /// signature over "planvault-attestation-v1\n" + that line, each followed by "\n".
    public func signed(by keys: MasterKeys) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Array(try encoder.encode(self))
        let signature = try keys.signAttestation(Self.domain + body)
        return body + [10] + Array(Data(signature).base64EncodedString().utf8) + [10]
    }

    /// Splits a stored attestation into its parsed body, the body bytes and the signature.
    public static func parse(_ bytes: [UInt8]) -> (attestation: Attestation, body: [UInt8], signature: [UInt8])? {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        guard lines.count == 3, lines[2].isEmpty, let signature = Data(base64Encoded: Data(lines[1])), signature.count == 64,
              let attestation = try? JSONDecoder().decode(Attestation.self, from: Data(lines[0])),
              attestation.format == "planvault-attestation", attestation.version == 1
        else { return nil }
        return (attestation, Array(lines[0]), Array(signature))
    }

    public static func verifySignature(body: [UInt8], signature: [UInt8], publicKey: [UInt8]) -> Bool {
        Ed25519.verify(publicKey: publicKey, message: domain + body, signature: signature)
    }
}

/// The auditor's public key file (`planvault key export-public`).
public struct AuditPublicKey: Sendable, Equatable {
    public var repository: String
    public var key: [UInt8]

    public var fingerprint: String {
        let hex = LibCrypto.sha256(key).hex
        return stride(from: 0, to: 64, by: 4).map { i in
            String(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 4)])
        }.joined(separator: " ")
    }

    public var text: String {
        """
        planvault-audit-key v1
        repository \(repository)
        ed25519 \(Data(key).base64EncodedString())
        fingerprint \(fingerprint)

        """
    }

    public init(repository: String, key: [UInt8]) {
        self.repository = repository
        self.key = key
    }

    public static func parse(_ text: String) throws -> AuditPublicKey {
        var repository: String?
        var key: [UInt8]?
        // A key file that went through an e-mail or a Windows editor has CRLF line ends.
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.first == "planvault-audit-key v1" else {
            throw PlanVaultError.invalidArgument("not a PlanVault audit key (expected a file made by `planvault key export-public`)")
        }
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "repository" { repository = parts[1] }
            if parts[0] == "ed25519" { key = Data(base64Encoded: parts[1]).map(Array.init) }
        }
        guard let repository, let key, key.count == 32 else {
            throw PlanVaultError.invalidArgument("the audit key file lacks its repository or ed25519 line")
        }
        return AuditPublicKey(repository: repository, key: key)
    }
}
