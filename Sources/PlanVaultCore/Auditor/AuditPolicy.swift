import Foundation

/// How fresh the evidence must be: the newest copy, the newest verification and the newest
/// restore drill (the continuity policy's "kept current" and "tested at least annually").
public struct AuditPolicy: Sendable, Equatable {
    public var push: TimeInterval = 26 * 3600
    public var verify: TimeInterval = 8 * 86400
    public var drill: TimeInterval = 365 * 86400

    public init() {}
}

/// The newest record of each kind in a target's chain: what `status` reports and judges.
public struct ChainStatus: Sendable {
    public struct Event: Sendable {
        public var time: Date
        public var host: String
        /// `ok`, `failed` or `stale` for checks; nil for pushes.
        public var result: String?
    }

    public var lastPush: Event?
    public var lastVerify: Event?
    public var lastDrill: Event?
    public var snapshots: Int

    public init(_ entries: [AttestationLog.Entry]) {
        func newestCheck(_ type: Attestation.Kind) -> Event? {
            entries.last { $0.attestation.type == type }.flatMap { entry in
                Timestamps.parse(entry.attestation.time).map { Event(time: $0, host: entry.attestation.host, result: entry.attestation.check?.result) }
            }
        }
        // A push is as fresh as its snapshot's time (records may be appended later, e.g. by copy).
        lastPush = entries.compactMap { entry -> Event? in
            guard entry.attestation.type == .push, let time = entry.attestation.snapshot.flatMap({ Timestamps.parse($0.time) }) else { return nil }
            return Event(time: time, host: entry.attestation.host, result: nil)
        }.max { $0.time < $1.time }
        lastVerify = newestCheck(.verify)
        lastDrill = newestCheck(.drill)
        let removed = Set(entries.flatMap { $0.attestation.removed ?? [] })
        snapshots = Set(entries.compactMap { $0.attestation.snapshot?.id }).subtracting(removed).count
    }
}
