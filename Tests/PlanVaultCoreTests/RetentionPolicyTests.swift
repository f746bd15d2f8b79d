import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Retention policies against tables of timestamps, as restic's tests do (issue 9).
final class RetentionPolicyTests: XCTestCase {
    func snapshot(_ time: String, host: String = "eoc", paths: [String] = ["/srv/plans"], tags: [String] = []) -> Snapshot {
        Snapshot(time: time, host: host, username: "u", paths: paths, tags: tags, parent: nil, summary: SnapshotSummary(), nodes: [])
    }

    func kept(_ policy: RetentionPolicy, _ items: [(String, Snapshot)]) -> [String] {
        policy.apply(to: items.map { (id: $0.0, snapshot: $0.1) }).filter(\.keep).map(\.id).sorted()
    }

    /// Two snapshots a day (02:00 and 14:00 UTC) from 2026-01-01 for 100 days.
    var nightlies: [(String, Snapshot)] {
        var out = [(String, Snapshot)]()
        let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        for day in 0..<100 {
            for hour in [2, 14] {
                let date = start.addingTimeInterval(Double(day * 86400 + hour * 3600))
                out.append((String(format: "d%03d-%02d", day, hour), snapshot(Timestamps.format(date))))
            }
        }
        return out
    }

    func testKeepLastAndDailyTakeTheNewestOfEachDay() {
        var policy = RetentionPolicy()
        policy.last = 3
        XCTAssertEqual(kept(policy, nightlies), ["d098-14", "d099-02", "d099-14"])
        policy = RetentionPolicy()
        policy.daily = 3
        XCTAssertEqual(kept(policy, nightlies), ["d097-14", "d098-14", "d099-14"])
    }

    /// A snapshot whose time is not a time might be the newest: no rule drops it, it takes no
    /// rule's slot, and it says why it is kept.
    func testASnapshotWithoutAValidTimeIsAlwaysKept() {
        var policy = RetentionPolicy()
        policy.last = 1
        let decisions = policy.apply(to: (nightlies + [("timeless", snapshot("yesterday"))]).map { (id: $0.0, snapshot: $0.1) })
        XCTAssertEqual(decisions.filter(\.keep).map(\.id).sorted(), ["d099-14", "timeless"])
        XCTAssertEqual(decisions.first { $0.id == "timeless" }?.reasons, ["no valid time (forget it by ID)"])
    }

    func testWeeklyMonthlyYearlyUseISOWeeksAndCalendarMonths() {
        var policy = RetentionPolicy()
        policy.weekly = 2
        // Day 99 is 2026-04-10 (a Friday, ISO week 15); the newest of week 14 is Sunday 2026-04-05 (day 94).
        XCTAssertEqual(kept(policy, nightlies), ["d094-14", "d099-14"])
        policy = RetentionPolicy()
        policy.monthly = 12
        // Newest of April, March (day 89 = 03-31), February (day 58 = 02-28) and January (day 30).
        XCTAssertEqual(kept(policy, nightlies), ["d030-14", "d058-14", "d089-14", "d099-14"])
        policy = RetentionPolicy()
        policy.yearly = 5
        XCTAssertEqual(kept(policy, nightlies), ["d099-14"])
    }

    func testRulesCombineAndSayWhy() {
        var policy = RetentionPolicy()
        policy.daily = 7
        policy.weekly = 5
        policy.monthly = 12
        let decisions = policy.apply(to: nightlies.map { (id: $0.0, snapshot: $0.1) })
        let newest = decisions.first { $0.id == "d099-14" }
        XCTAssertEqual(newest?.reasons, ["daily 2026-04-10", "weekly 2026-W15", "monthly 2026-04"])
        // 7 days (days 93-99, weeks 15 and 14 among them), weeks 13-11, and March, February, January.
        XCTAssertEqual(decisions.filter(\.keep).count, 7 + 3 + 3)
    }

    func testWithinTagsTiesAndHostsAreGroupedAndKept() {
        var items = nightlies
        items.append(("tagged", snapshot("2026-01-05T03:00:00.000Z", tags: ["annual-test"])))
        items.append(("other-host", snapshot("2026-01-02T02:00:00.000Z", host: "backup-site")))
        items.append(("other-paths", snapshot("2026-01-02T02:00:00.000Z", paths: ["/srv/contacts"])))
        items.append(("tie-a", snapshot("2026-04-10T14:00:00.000Z")))
        var policy = RetentionPolicy()
        policy.last = 1
        policy.tags = ["annual-test"]
        policy.within = 36 * 3600
        let result = kept(policy, items)
        XCTAssertTrue(result.contains("tagged"))
        XCTAssertTrue(result.contains("other-host"), "each host is its own group")
        XCTAssertTrue(result.contains("other-paths"), "each source set is its own group")
        // Within 36 h of the newest (2026-04-10T14:00): 04-09 02:00 onwards.
        for id in ["d098-02", "d098-14", "d099-02", "d099-14", "tie-a"] { XCTAssertTrue(result.contains(id), id) }
        XCTAssertFalse(result.contains("d097-14"))
        XCTAssertEqual(policy.description, "keep-last 1, keep-within 36h, keep-tag annual-test")
    }
}
