import Foundation

/// Which snapshots to keep, as restic's `forget --keep-*` decides it: within each group (host and
/// source set), newest first, a snapshot is kept when a rule still has room for it. Time buckets
/// are UTC calendar hours, days, ISO weeks, months and years.
public struct RetentionPolicy: Sendable, Equatable {
    public var last = 0
    public var hourly = 0
    public var daily = 0
    public var weekly = 0
    public var monthly = 0
    public var yearly = 0
    /// Keep everything newer than this many seconds before the group's newest snapshot.
    public var within: TimeInterval?
    public var tags: [String] = []

    public init() {}

    /// The counted rules by name, as options and config keys spell them.
    public static let countedRules = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]

    /// Sets a counted rule by name ("last", "hourly", … "yearly").
    public mutating func set(_ rule: String, _ count: Int) {
        switch rule {
        case "last": last = count
        case "hourly": hourly = count
        case "daily": daily = count
        case "weekly": weekly = count
        case "monthly": monthly = count
        default: yearly = count
        }
    }

    public var isEmpty: Bool {
        last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 && within == nil && tags.isEmpty
    }

    /// The policy in words, for the signed retention record and the dry-run output.
    public var description: String {
        var parts = [String]()
        for (name, n) in [("last", last), ("hourly", hourly), ("daily", daily), ("weekly", weekly), ("monthly", monthly), ("yearly", yearly)] where n > 0 {
            parts.append("keep-\(name) \(n)")
        }
        if let within { parts.append("keep-within \(Self.words(within))") }
        for tag in tags { parts.append("keep-tag \(tag)") }
        return parts.joined(separator: ", ")
    }

    static func words(_ seconds: TimeInterval) -> String {
        seconds.truncatingRemainder(dividingBy: 86400) == 0 ? "\(Int(seconds / 86400))d" : "\(Int(seconds / 3600))h"
    }

    public struct Decision: Sendable {
        public var id: String
        public var snapshot: Snapshot
        public var group: String
        /// Empty when the snapshot is to be removed.
        public var reasons: [String]
        public var keep: Bool { !reasons.isEmpty }
    }

    /// Decides every snapshot's fate; `snapshots` may be in any order.
    public func apply(to snapshots: [(id: String, snapshot: Snapshot)]) -> [Decision] {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let groups = Dictionary(grouping: snapshots) { Self.group(of: $0.snapshot) }
        var out = [Decision]()
        for (group, members) in groups.sorted(by: { $0.key < $1.key }) {
            let newestFirst = Array(Snapshot.oldestFirst(members).reversed())
            let newestDate = newestFirst.first?.snapshot.date ?? Date.distantPast
            typealias Rule = (name: String, count: Int, key: (Date) -> String)
            let rules: [Rule] = [
                ("last", last, { _ in UUID().uuidString }),
                ("hourly", hourly, { Self.key(calendar, $0, [.year, .month, .day, .hour]) }),
                ("daily", daily, { Self.key(calendar, $0, [.year, .month, .day]) }),
                ("weekly", weekly, { Self.key(calendar, $0, [.yearForWeekOfYear, .weekOfYear]) }),
                ("monthly", monthly, { Self.key(calendar, $0, [.year, .month]) }),
                ("yearly", yearly, { Self.key(calendar, $0, [.year]) }),
            ]
            var left = rules.map(\.count)
            var lastKey = [String?](repeating: nil, count: rules.count)
            for (id, snapshot) in newestFirst {
                // One without a valid time cannot be placed among the others: it might be the
                // newest, so no rule may drop it. `forget ID` removes it deliberately.
                guard let date = snapshot.date else {
                    out.append(Decision(id: id, snapshot: snapshot, group: group, reasons: ["no valid time (forget it by ID)"]))
                    continue
                }
                var reasons = [String]()
                for (i, rule) in rules.enumerated() where left[i] > 0 {
                    let key = rule.key(date)
                    if key != lastKey[i] {
                        lastKey[i] = key
                        left[i] -= 1
                        reasons.append(rule.name == "last" ? "last" : "\(rule.name) \(key)")
                    }
                }
                if let within, date >= newestDate.addingTimeInterval(-within) { reasons.append("within \(Self.words(within))") }
                for tag in tags where snapshot.tags.contains(tag) { reasons.append("tag \(tag)") }
                out.append(Decision(id: id, snapshot: snapshot, group: group, reasons: reasons))
            }
        }
        return out
    }

    /// Snapshots of one host and source set form one group.
    public static func group(of snapshot: Snapshot) -> String {
        "\(snapshot.host) \(snapshot.paths.sorted().joined(separator: ","))"
    }

    static func key(_ calendar: Calendar, _ date: Date, _ units: [Calendar.Component]) -> String {
        units.map { String(format: $0 == .year || $0 == .yearForWeekOfYear ? "%04d" : "%02d", calendar.component($0, from: date)) }
            .joined(separator: units.contains(.weekOfYear) ? "-W" : "-")
    }
}
