import Foundation

/// The continuity policy's three ages: the newest copy, the newest verification and the newest
/// restore drill must each be younger than these. `audit` fails, and `status` warns, when one is
/// not. The config file's `[policy]` table (`push`, `verify`, `drill`) overrides the defaults.
public struct AuditPolicy: Sendable, Equatable {
    public var push: TimeInterval
    public var verify: TimeInterval
    public var drill: TimeInterval

    public static let defaultPush: TimeInterval = 26 * 3600
    public static let defaultVerify: TimeInterval = 8 * 86400
    public static let defaultDrill: TimeInterval = 365 * 86400
    /// The longest age a criterion may allow (100 years): reports carry ages as whole seconds.
    public static let longest: TimeInterval = 100 * 365 * 86400

    public static func isAllowed(_ seconds: TimeInterval) -> Bool { seconds >= 0 && seconds <= longest }

    public init(push: TimeInterval = defaultPush, verify: TimeInterval = defaultVerify, drill: TimeInterval = defaultDrill) {
        self.push = push
        self.verify = verify
        self.drill = drill
    }
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
