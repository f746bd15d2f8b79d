import XCTest
@testable import PlanVaultCLI

/// Ages and waits read as durations, never as clock times ("13:48 old").
final class WordingTests: XCTestCase {
    func testDurationsReadAsWords() {
        XCTAssertEqual(Output.duration(48), "48 s")
        XCTAssertEqual(Output.duration(13 * 60 + 48), "13 min 48 s")
        XCTAssertEqual(Output.duration(4 * 3600 + 45 * 60 + 10), "4 h 45 min")
        XCTAssertEqual(Output.duration(30 * 3600), "1 day 6 h")
        XCTAssertEqual(Output.duration(9 * 86400 + 7200), "9 days")
    }
}
