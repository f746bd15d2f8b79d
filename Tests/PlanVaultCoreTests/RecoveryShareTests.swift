import Foundation
import XCTest
@testable import PlanVaultCore
import PlanVaultTestSupport

/// Shamir's scheme over GF(256) and the printable share blocks (issue 11, key succession).
final class RecoveryShareTests: XCTestCase {
    /// FIPS-197 section 4.2: {57} • {83} = {c1}; section 5.1.1's S-box input {53} has inverse {ca}.
    func testFieldArithmeticMatchesFIPS197() {
        XCTAssertEqual(GF256.multiply(0x57, 0x83), 0xC1)
        XCTAssertEqual(GF256.multiply(0x57, 0x13), 0xFE)
        XCTAssertEqual(GF256.inverse(0x53), 0xCA)
        for a in 1...255 { XCTAssertEqual(GF256.multiply(UInt8(a), GF256.inverse(UInt8(a))), 1) }
    }

    func testEveryThreeOfFiveSharesGiveTheSecretAndTwoDoNot() throws {
        let secretBytes = try LibCrypto.randomBytes(32)
        let shares = try Shamir.split(SecretKey(bytes: secretBytes), shares: 5, threshold: 3)
        XCTAssertEqual(shares.map(\.x), [1, 2, 3, 4, 5])
        for a in 0..<5 { for b in (a + 1)..<5 { for c in (b + 1)..<5 {
            XCTAssertEqual(try Shamir.combine([shares[a], shares[b], shares[c]]).exportBytes(), secretBytes)
        } } }
        XCTAssertNotEqual(try Shamir.combine([shares[0], shares[1]]).exportBytes(), secretBytes)
        XCTAssertThrowsError(try Shamir.combine([shares[0], shares[0], shares[1]]))
    }

    /// An independent implementation (Python, log/antilog tables of generator 3) combines our
    /// shares, and ours combines its shares.
    func testSharesAgreeWithAnIndependentImplementation() throws {
        let secretBytes = try LibCrypto.randomBytes(32)
        let ours = try Shamir.split(SecretKey(bytes: secretBytes), shares: 6, threshold: 4)
        let script = """
            import json, os, sys
            exp, log = [0] * 512, [0] * 256
            v = 1
            for i in range(255):
                exp[i] = v; log[v] = i
                v ^= (v << 1) ^ (0x11b if v & 0x80 else 0)   # times 3 = times 2 plus itself
            for i in range(255, 512): exp[i] = exp[i - 255]
            mul = lambda a, b: 0 if a == 0 or b == 0 else exp[log[a] + log[b]]
            div = lambda a, b: 0 if a == 0 else exp[(log[a] - log[b]) % 255]
            job = json.load(sys.stdin)
            picked = job["shares"]
            secret = []
            for i in range(len(picked[0]["y"])):
                s = 0
                for j, sj in enumerate(picked):
                    basis = 1
                    for m, sm in enumerate(picked):
                        if m != j: basis = mul(basis, div(sm["x"], sm["x"] ^ sj["x"]))
                    s ^= mul(sj["y"][i], basis)
                secret.append(s)
            own = []
            coeffs = [[b for b in os.urandom(job["k"] - 1)] for _ in job["secret"]]
            for x in range(1, job["n"] + 1):
                ys = []
                for i, b in enumerate(job["secret"]):
                    y, xp = b, 1
                    for c in coeffs[i]:
                        xp = mul(xp, x); y ^= mul(c, xp)
                    ys.append(y)
                own.append({"x": x, "y": ys})
            print(json.dumps({"secret": secret, "shares": own}))
            """
        let dir = try TempDir()
        try Fixture.write(dir.sub("shamir.py"), script)
        let job: [String: Any] = ["shares": [ours[5], ours[1], ours[3], ours[0]].map { ["x": Int($0.x), "y": $0.y.map { Int($0) }] },
                                  "secret": secretBytes.map { Int($0) }, "n": 5, "k": 3]
        try Fixture.write(dir.sub("job.json"), Array(try JSONSerialization.data(withJSONObject: job)))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", dir.sub("shamir.py")]
        process.standardInput = FileHandle(forReadingAtPath: dir.sub("job.json"))
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual((answer["secret"] as? [Int])?.map { UInt8($0) }, secretBytes, "Python combines our shares")
        let theirs = try XCTUnwrap(answer["shares"] as? [[String: Any]]).map { share in
            Shamir.Share(x: UInt8(share["x"] as? Int ?? 0), y: (share["y"] as? [Int] ?? []).map { UInt8($0) })
        }
        XCTAssertEqual(try Shamir.combine([theirs[4], theirs[0], theirs[2]]).exportBytes(), secretBytes, "we combine Python's shares")
    }

    func makeBlock() throws -> (share: RecoveryShare, text: String) {
        let parts = try Shamir.split(SecretKey(bytes: try LibCrypto.randomBytes(32)), shares: 5, threshold: 3)
        let share = RecoveryShare(share: parts[1], threshold: 3, keyFileID: [0xde, 0xad, 0xbe, 0xef])
        return (share, share.text(of: 5, repository: String(repeating: "ab", count: 32), keyFile: String(repeating: "de", count: 32), made: "2026-12-01"))
    }

    func testShareBlockRoundTripsAndForgivesCaseAndLookAlikes() throws {
        let (share, text) = try makeBlock()
        XCTAssertEqual(try RecoveryShare.parseAll(text, source: "test"), [share])
        // Typed in lower case, with O for 0 and l for 1, and extra spaces: still the same share.
        let sloppy = text.split(separator: "\n").map { line -> String in
            guard line.first?.isNumber == true, let colon = line.firstIndex(of: ":") else { return String(line) }
            let coded = line[line.index(after: colon)...].lowercased().replacingOccurrences(of: "0", with: "o").replacingOccurrences(of: "1", with: "l")
            return "  " + line[...colon] + "  " + coded + "  "
        }.joined(separator: "\n")
        XCTAssertEqual(try RecoveryShare.parseAll(sloppy, source: "test"), [share])
        // Two blocks in one file.
        XCTAssertEqual(try RecoveryShare.parseAll(text + "\n" + text, source: "test").count, 2)
    }

    func testEveryMistypedCharacterIsCaught() throws {
        let (_, text) = try makeBlock()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let coded = lines.indices.filter { lines[$0].first?.isNumber == true }
        XCTAssertEqual(coded.count, 3)
        var tried = 0
        for index in coded {
            let original = lines[index]
            let chars = Array(original)
            for position in chars.indices.dropFirst(3) where RecoveryShare.value(of: chars[position]) != nil {
                for replacement in ["7", "X"] where replacement != String(chars[position]) && !(replacement == "X" && chars[position] == "x") {
                    var changed = chars
                    changed[position] = Character(replacement)
                    lines[index] = String(changed)
                    XCTAssertThrowsError(try RecoveryShare.parseAll(lines.joined(separator: "\n"), source: "test"),
                                         "line \(index) position \(position) -> \(replacement)")
                    tried += 1
                }
            }
            lines[index] = original
        }
        XCTAssertGreaterThan(tried, 100)
        // Two lines swapped are caught as well.
        lines.swapAt(coded[0], coded[1])
        XCTAssertThrowsError(try RecoveryShare.parseAll(lines.joined(separator: "\n"), source: "test"))
    }

    func testSharesOfDifferentSplitsOrTooFewAreRefusedWithAReason() throws {
        let secret = SecretKey(bytes: try LibCrypto.randomBytes(32))
        let a = try Shamir.split(secret, shares: 3, threshold: 2).map { RecoveryShare(share: $0, threshold: 2, keyFileID: [1, 2, 3, 4]) }
        let b = try Shamir.split(secret, shares: 3, threshold: 2).map { RecoveryShare(share: $0, threshold: 2, keyFileID: [9, 9, 9, 9]) }
        XCTAssertThrowsError(try RecoveryShare.combine([a[0], b[1]])) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("different splits"), error.localizedDescription)
        }
        XCTAssertThrowsError(try RecoveryShare.combine([a[0], a[0]])) { error in
            XCTAssertTrue(error.localizedDescription.contains("1 different share(s) given; this split needs 2"), error.localizedDescription)
        }
        XCTAssertEqual(try RecoveryShare.combine([a[2], a[0]]).secret.exportBytes(), secret.exportBytes())
    }

    func testNonASCIICharactersAreRefusedNotFatal() throws {
        let (_, text) = try makeBlock()
        for odd in ["ß", "ﬁ", "İ", "é"] {
            let typed = text.replacingOccurrences(of: "\n1: ", with: "\n1: \(odd)")
            XCTAssertThrowsError(try RecoveryShare.parseAll(typed, source: "test")) { error in
                XCTAssertTrue(error.localizedDescription.contains("is not a share character"), error.localizedDescription)
            }
        }
    }
}
