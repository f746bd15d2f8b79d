import Foundation
import XCTest
@testable import PlanVaultCore

/// Inputs the core fuzz targets (scripts/fuzz.sh) found crashing, kept as they were found.
final class FuzzRegressionTests: XCTestCase {
    /// snapshot target: a snapshot whose time has a 40-digit fraction. ICU's date parser trapped
    /// (SIGFPE) on it, so listing snapshots or resolving "latest" in a repository holding such a
    /// snapshot killed planvault.
    func testSnapshotTimeWithAFortyDigitFractionIsNoDateInsteadOfATrap() throws {
        let input = try XCTUnwrap(Data(base64Encoded: """
            eyJzdW1tYXJ5Ijp7Im5ld19jaHVua3MiOjAsImRpcmVjdG9yaWVzIjowLCJzeW1saW5rcyI6MCwiZmlsZXMiOjAsIm5ld19idW5kbGVzIjowLC\
            JieXRlc19zdG9yZWQiOjAsImVycm9ycyI6MCwiZmlsZXNfcmVhZCI6MCwiYnl0ZXNfcmVhZCI6MCwidG90YWxfYnl0ZXMiOjB9LCJwYXRocyI6\
            WyJcL3NydlwvcGxhbnMiXSwidGltZSI6IjIwMjQtMDUtMDFUMTA6MDA6MDAuOTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTkxMjNaIi\
            widXNlcm5hbWUiOiJ1IiwiaG9zdCI6ImgiLCJ0YWdzIjpbIm5pZ2h0bHkiXSwidmVyc2lvbiI6MSwibm9kZXMiOlt7InBhdGgiOiJwbGFucyIs\
            Im1vZGUiOjQ5MywidHlwZSI6ImRpciIsIm10aW1lX25zIjoxNTAwMDAwMDAwMDAwMDAwMDAwfSx7InNpemUiOjEwMCwicGF0aCI6InBsYW5zXC\
            9zaXRlLnR4dCIsIm1vZGUiOjQyMCwidHlwZSI6ImZpbGUiLCJjaHUiOiJzeW1saW5rIiwibXRpbWVfbnMiOjB9XX0=
            """))
        let snapshot = try JSONDecoder().decode(Snapshot.self, from: input)
        XCTAssertTrue(snapshot.time.hasPrefix("2024-05-01T10:00:00.9999"))
        XCTAssertNil(snapshot.date)
    }

    /// The guard in front of ICU keeps every form planvault writes, with 0 to 9 fraction digits.
    func testTimestampsParseTheFormsPlanVaultWrites() throws {
        let now = Date(timeIntervalSince1970: 1_764_590_400.25)
        let parsed = try XCTUnwrap(Timestamps.parse(Timestamps.format(now)))
        XCTAssertEqual(parsed.timeIntervalSince1970, now.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertEqual(Timestamps.parse("2024-05-01T10:00:00Z")?.timeIntervalSince1970, 1_714_557_600)
        XCTAssertNotNil(Timestamps.parse("2024-05-01T10:00:00.123456789Z"))
        XCTAssertNil(Timestamps.parse("2024-05-01T10:00:00.1234567890Z"))
        XCTAssertNil(Timestamps.parse("2024-05-01 10:00:00Z"))
    }
}
