import Foundation

/// One custodian's recovery share as printable text (FORMAT.md, "Recovery shares"): a header in
/// words, then the share's 43 bytes in Crockford base32, 24 characters a line, each line with a
/// check character that points at a mistyped line, and a whole-share checksum.
public struct RecoveryShare: Sendable, Equatable {
    public static let version: UInt8 = 1
    /// version, x, threshold, key file ID (4 bytes), y (32 bytes), checksum (4 bytes).
    static let encodedLength = 1 + 1 + 1 + 4 + 32 + 4
    static let charactersPerLine = 24
    static let begin = "-----BEGIN PLANVAULT RECOVERY SHARE-----"
    static let end = "-----END PLANVAULT RECOVERY SHARE-----"
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    public var share: Shamir.Share
    public var threshold: Int
    /// The first 4 bytes of the recovery key file's name: shares of different splits never mix.
    public var keyFileID: [UInt8]

    public init(share: Shamir.Share, threshold: Int, keyFileID: [UInt8]) {
        self.share = share
        self.threshold = threshold
        self.keyFileID = keyFileID
    }

    /// The block a custodian keeps. `shares` and the header lines are for people; the parser
    /// reads only the coded lines.
    public func text(of shares: Int, repository: String, keyFile: String, made: String) -> String {
        let chars = Self.base32(encoded())
        var lines = [Self.begin,
                     "Share \(share.x) of \(shares). Any \(threshold) shares together open the repository.",
                     "Repository: \(repository)",
                     "Key file:   \(keyFile.prefix(16))",
                     "Made:       \(made)",
                     "Custodian:  ______________________________",
                     ""]
        for (n, start) in stride(from: 0, to: chars.count, by: Self.charactersPerLine).enumerated() {
            let part = Array(chars[start..<min(start + Self.charactersPerLine, chars.count)])
            let groups = stride(from: 0, to: part.count, by: 4).map { String(part[$0..<min($0 + 4, part.count)]) }
            lines.append("\(n + 1): \(groups.joined(separator: "-"))  \(Self.lineCheck(n, part))")
        }
        lines.append(Self.end)
        return lines.joined(separator: "\n") + "\n"
    }

    func encoded() -> [UInt8] {
        var bytes = [Self.version, share.x, UInt8(threshold)] + keyFileID + share.y
        bytes += LibCrypto.sha256(Array("planvault-recovery-share".utf8) + bytes).bytes.prefix(4)
        return bytes
    }

    /// Every share block in `text` (a file may hold several). Errors name the block and line.
    public static func parseAll(_ text: String, source: String) throws -> [RecoveryShare] {
        var shares = [RecoveryShare]()
        var coded: [(number: Int, characters: [Character], check: Character)]?
        // The block's "Share 3 of 5" heading, only to name the block in errors the way its
        // custodian knows it; the share's number itself is read from the coded lines.
        var heading: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line == begin { coded = []; heading = nil; continue }
            if line == end {
                guard let lines = coded else { throw PlanVaultError.invalidArgument("\(source), line \(index + 1): END without BEGIN") }
                let block = "\(source), block \(shares.count + 1)" + (heading.map { " (\($0))" } ?? "")
                shares.append(try decode(lines, source: block))
                coded = nil
                continue
            }
            if coded?.isEmpty == true, heading == nil { heading = Self.heading(line) }
            guard coded != nil, let colon = line.firstIndex(of: ":"), let number = Int(line[..<colon]) else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let check = fields.last, check.count == 1, let checkChar = check.first else {
                throw PlanVaultError.invalidArgument("\(source), line \(index + 1): a share line is its number, the groups and one check character")
            }
            let characters = fields.dropLast().joined().filter { $0 != "-" }
            coded?.append((number, Array(characters), checkChar))
        }
        if coded != nil { throw PlanVaultError.invalidArgument("\(source): a share block has no END line (copy the whole block)") }
        return shares
    }

    /// "Share 3 of 5" from the block's heading line; nil for anything else (the text is echoed
    /// in messages, so only digits are taken from it).
    static func heading(_ line: String) -> String? {
        let words = line.split(separator: " ", maxSplits: 4)
        guard words.count >= 4, words[0] == "Share", words[2] == "of" else { return nil }
        let count = words[3].hasSuffix(".") ? words[3].dropLast() : words[3]
        guard let x = Int(words[1]), let n = Int(count), (1...255).contains(x), (1...255).contains(n) else { return nil }
        return "Share \(x) of \(n)"
    }

    static func decode(_ lines: [(number: Int, characters: [Character], check: Character)], source: String) throws -> RecoveryShare {
        var values = [UInt8]()
        for (n, line) in lines.enumerated() {
            guard line.number == n + 1 else { throw PlanVaultError.invalidArgument("\(source): line \(n + 1) is missing or out of order") }
            var lineValues = [UInt8]()
            for character in line.characters {
                guard let value = value(of: character) else {
                    throw PlanVaultError.invalidArgument("\(source), line \(n + 1): \"\(character)\" is not a share character (0-9 and A-Z without I, L, O, U)")
                }
                lineValues.append(value)
            }
            guard let check = value(of: line.check), check == lineCheckValue(n, lineValues) else {
                throw PlanVaultError.invalidArgument("\(source), line \(n + 1) has a typing mistake (its check character does not match): compare it with the paper copy")
            }
            values += lineValues
        }
        guard let bytes = bytes(fromBase32: values), bytes.count == encodedLength else {
            throw PlanVaultError.invalidArgument("\(source): the share is incomplete (\(values.count) characters); copy every line")
        }
        let body = Array(bytes[..<(encodedLength - 4)])
        guard Array(LibCrypto.sha256(Array("planvault-recovery-share".utf8) + body).bytes.prefix(4)) == Array(bytes[(encodedLength - 4)...]) else {
            throw PlanVaultError.invalidArgument("\(source): the share's checksum does not match: a character was mistyped or lines were swapped")
        }
        guard body[0] == version else { throw PlanVaultError.unsupportedFormat("\(source): recovery share version \(body[0])") }
        guard body[1] != 0, (2...255).contains(body[2]) else { throw PlanVaultError.invalidArgument("\(source): the share's number or threshold is invalid") }
        return RecoveryShare(share: .init(x: body[1], y: Array(body[7..<39])), threshold: Int(body[2]), keyFileID: Array(body[3..<7]))
    }

    /// The recovery secret from shares of one split, checking there are enough of them.
    public static func combine(_ shares: [RecoveryShare]) throws -> (secret: SecretKey, keyFileID: [UInt8]) {
        guard let first = shares.first else { throw PlanVaultError.invalidArgument("no recovery share given") }
        guard shares.allSatisfy({ $0.keyFileID == first.keyFileID && $0.threshold == first.threshold }) else {
            throw PlanVaultError.invalidArgument("the shares come from different splits (`planvault key split` runs); use shares of one split")
        }
        var distinct = [UInt8: RecoveryShare]()
        for share in shares { distinct[share.share.x] = share }
        guard distinct.count >= first.threshold else {
            throw PlanVaultError.invalidArgument("\(distinct.count) different share(s) given; this split needs \(first.threshold)")
        }
        let chosen = distinct.keys.sorted().prefix(first.threshold).compactMap { distinct[$0]?.share }
        return (try Shamir.combine(chosen), first.keyFileID)
    }

    // MARK: Crockford base32 and the line check

    static func base32(_ bytes: [UInt8]) -> [Character] {
        var out = [Character]()
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    static func bytes(fromBase32 values: [UInt8]) -> [UInt8]? {
        var out = [UInt8]()
        var buffer = 0, bits = 0
        for value in values {
            buffer = (buffer << 5) | Int(value)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
                buffer &= (1 << bits) - 1
            }
        }
        // The padding bits of the last character must be zero.
        return buffer == 0 ? out : nil
    }

    /// Case-insensitive; O reads as 0 and I, L as 1 (Crockford).
    static func value(of character: Character) -> UInt8? {
        // Only ASCII is a share character ("ß".uppercased() is two characters, for one).
        guard character.isASCII, let upper = character.uppercased().first else { return nil }
        let mapped: Character = upper == "O" ? "0" : (upper == "I" || upper == "L") ? "1" : upper
        return alphabet.firstIndex(of: mapped).map(UInt8.init)
    }

    static func lineCheckValue(_ line: Int, _ values: [UInt8]) -> UInt8 {
        LibCrypto.sha256(Array("planvault-share-line".utf8) + [UInt8(truncatingIfNeeded: line)] + values).bytes[0] & 31
    }

    static func lineCheck(_ line: Int, _ characters: [Character]) -> Character {
        alphabet[Int(lineCheckValue(line, characters.compactMap(value(of:))))]
    }
}
