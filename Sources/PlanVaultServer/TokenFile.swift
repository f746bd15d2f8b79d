import Foundation
import PlanVaultCore

/// What a token may do.
public enum TokenRole: String, Codable, Sendable, CaseIterable {
    /// Read, list, and add new objects; never delete or overwrite.
    case agent
    /// Read and list only; key files excepted (an audit needs none).
    case auditor
    /// Read and list everything, key files included; writes and deletes nothing, not even a lock.
    /// The credential for a disaster-day restore on a machine that is not trusted to push.
    case reader
    /// Everything, including DELETE (for pruning).
    case admin
}

/// One entry of the tokens file. Only the token's SHA-256 is stored.
public struct TokenEntry: Codable, Sendable, Equatable {
    public var id: String
    public var sha256: String
    public var role: TokenRole
    /// Repository names this token may reach; "*" means all.
    public var repositories: [String]
    public var label: String?
    public var created: String

    public func allows(repository: String) -> Bool {
        repositories.contains("*") || repositories.contains(repository)
    }
}

/// The server's tokens file (JSON, mode 600): `{"version": 1, "tokens": [TokenEntry...]}`.
/// A token reads `pvt_<id>_<secret>`: the id finds the entry, the whole token is
/// hashed and compared with the stored hash in constant time.
public struct TokenFile: Codable, Sendable {
    public var version = 1
    public var tokens: [TokenEntry] = []

    public init() {}

    public static func load(path: String) throws -> TokenFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlanVaultError.invalidArgument("tokens file \(path) does not exist: create a token with `planvault serve token add --file \(path) ...`")
        }
        try FileIO.requirePrivate(path)
        return try decode(try FileIO.readFile(path), path: path)
    }

    /// Parses a tokens file's bytes (read from `path`, named in errors).
    static func decode(_ bytes: [UInt8], path: String) throws -> TokenFile {
        guard let file = try? JSONDecoder().decode(TokenFile.self, from: Data(bytes)), file.version == 1 else {
            throw PlanVaultError.invalidArgument("tokens file \(path) is not a PlanVault tokens file")
        }
        return file
    }

    public static func loadOrEmpty(path: String) throws -> TokenFile {
        FileManager.default.fileExists(atPath: path) ? try load(path: path) : TokenFile()
    }

    public func save(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let dir = (path as NSString).deletingLastPathComponent
        try FileIO.writeAtomically(Array(try encoder.encode(self)), to: path, inDirectory: dir.isEmpty ? "." : dir, mode: 0o600)
    }

    /// Creates a token; returns the secret (shown once) and its entry.
    public mutating func add(role: TokenRole, repositories: [String], label: String?) throws -> (token: String, entry: TokenEntry) {
        let id = Hex.encode(try LibCrypto.randomBytes(4))
        let secret = Data(try LibCrypto.randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let token = "pvt_\(id)_\(secret)"
        let entry = TokenEntry(id: id, sha256: LibCrypto.sha256(Array(token.utf8)).hex, role: role, repositories: repositories,
                               label: label, created: Timestamps.format(Date()))
        tokens.append(entry)
        return (token, entry)
    }

    public mutating func revoke(id: String) -> Bool {
        let before = tokens.count
        tokens.removeAll { $0.id == id }
        return tokens.count != before
    }

    /// The entry a presented token belongs to, or nil. Every entry with the
    /// token's id is compared, in constant time.
    public func authenticate(_ presented: String) -> TokenEntry? {
        let parts = presented.split(separator: "_")
        guard parts.count >= 3, parts[0] == "pvt" else { return nil }
        let id = String(parts[1])
        let hash = LibCrypto.sha256(Array(presented.utf8)).bytes
        var match: TokenEntry?
        for entry in tokens where entry.id == id {
            if let stored = Hex.decode(entry.sha256), LibCrypto.constantTimeEqual(stored, hash) { match = entry }
        }
        return match
    }
}
