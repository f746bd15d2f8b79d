import Foundation
import PlanVaultCore
import TOMLKit

/// `planvault.toml`: what to push and where. No secrets here; they live in the keys file.
struct ConfigFile {
    var repo: String?
    var sources: [String] = []
    var excludes: [String] = []
    var tags: [String] = []
    var host: String?
    var keys: String?
    var cacheDir: String?
    var bundleSizeMiB: Int?
    var compressionLevel: Int?
    /// `[retention]`: the policy `planvault forget` applies when given no --keep-* option.
    var retention: RetentionPolicy?
    /// `[[targets]]`: several offsite copies of one repository; `push` replicates to each.
    var targets: [Target] = []
    /// `[policy]`: the ages `audit` (and `status`) hold the copy to; nil when the table is absent.
    var policy: AuditPolicy?

    struct Target {
        var name: String?
        var repo: String
        var display: String { name.map { "\($0) (\(repo))" } ?? repo }
    }

    /// Every target `push` writes to: `repo`, then each `[[targets]]` entry.
    var allTargets: [Target] { (repo.map { [Target(name: nil, repo: $0)] } ?? []) + targets }
    /// Globs of files `restore` writes first (as `--first`).
    var first: [String] = []

    static let defaultName = "planvault.toml"

    static func load(path: String) throws -> ConfigFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PlanVaultError.invalidArgument("cannot read config file \(path): \(error.localizedDescription)")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw PlanVaultError.invalidArgument("config file \(path) is not valid TOML: \(error)")
        }
        let known: Set<String> = ["repo", "sources", "exclude", "tags", "host", "keys", "cache_dir", "bundle_size_mib", "compression_level", "retention", "targets", "policy", "first"]
        for key in table.keys where !known.contains(key) {
            throw PlanVaultError.invalidArgument("config file \(path): unknown setting \"\(key)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        var config = ConfigFile()
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func relative(_ p: String) -> String { p.hasPrefix("/") || p.contains("://") ? p : base.appendingPathComponent(p).path }
        config.repo = try string(table, "repo", path).map(relative)
        config.sources = try strings(table, "sources", path).map(relative)
        config.excludes = try strings(table, "exclude", path)
        config.tags = try strings(table, "tags", path)
        config.first = try strings(table, "first", path)
        config.host = try string(table, "host", path)
        config.keys = try string(table, "keys", path).map(relative)
        config.cacheDir = try string(table, "cache_dir", path).map(relative)
        if let value = table["bundle_size_mib"] {
            guard let n = value.int, n >= 1, n <= 512 else {
                throw PlanVaultError.invalidArgument("config file \(path): bundle_size_mib must be a whole number from 1 to 512")
            }
            config.bundleSizeMiB = n
        }
        if let value = table["compression_level"] {
            guard let n = value.int, (1...9).contains(n) else {
                throw PlanVaultError.invalidArgument("config file \(path): compression_level must be a whole number from 1 to 9")
            }
            config.compressionLevel = n
        }
        if let value = table["retention"] {
            config.retention = try retention(value, path)
        }
        if let value = table["policy"] {
            config.policy = try policy(value, path)
        }
        if let value = table["targets"] {
            let message = "config file \(path): each [[targets]] entry needs repo = \"URL\" and may have name = \"TEXT\""
            guard let entries = value.array else { throw PlanVaultError.invalidArgument(message) }
            config.targets = try (0..<entries.count).map { i in
                guard let entry = entries[i].table, entry.keys.allSatisfy({ ["repo", "name"].contains($0) }),
                      let repo = try string(entry, "repo", path) else { throw PlanVaultError.invalidArgument(message) }
                return Target(name: try string(entry, "name", path), repo: relative(repo))
            }
        }
        return config
    }

    private static func retention(_ value: TOMLValueConvertible, _ path: String) throws -> RetentionPolicy {
        guard let table = value.table else { throw PlanVaultError.invalidArgument("config file \(path): [retention] must be a table") }
        var policy = RetentionPolicy()
        let counts = RetentionPolicy.countedRules.map { "keep_\($0)" }
        for key in table.keys where !(counts + ["keep_within", "keep_tags"]).contains(key) {
            throw PlanVaultError.invalidArgument("config file \(path): unknown retention setting \"\(key)\" (known: \((counts + ["keep_within", "keep_tags"]).joined(separator: ", ")))")
        }
        for key in counts {
            guard let entry = table[key] else { continue }
            guard let n = entry.int, n >= 1 else { throw PlanVaultError.invalidArgument("config file \(path): retention \(key) must be a whole number of at least 1") }
            policy.set(String(key.dropFirst("keep_".count)), n)
        }
        if let within = table["keep_within"] {
            guard let text = within.string, let seconds = Duration.parse(text) else {
                throw PlanVaultError.invalidArgument("config file \(path): retention keep_within must be a duration such as \"30d\"")
            }
            policy.within = seconds
        }
        if table["keep_tags"] != nil { policy.tags = try strings(table, "keep_tags", path) }
        return policy
    }

    /// `[policy]` with `push`, `verify`, `drill` as durations ("26h", "8d"); absent keys keep the defaults.
    private static func policy(_ value: TOMLValueConvertible, _ path: String) throws -> AuditPolicy {
        guard let table = value.table else { throw PlanVaultError.invalidArgument("config file \(path): [policy] must be a table") }
        let known = ["push", "verify", "drill"]
        for key in table.keys where !known.contains(key) {
            throw PlanVaultError.invalidArgument("config file \(path): unknown policy setting \"\(key)\" (known: \(known.joined(separator: ", ")))")
        }
        var policy = AuditPolicy()
        for key in known {
            guard let entry = table[key] else { continue }
            guard let text = entry.string, let seconds = Duration.parse(text), AuditPolicy.isAllowed(seconds) else {
                throw PlanVaultError.invalidArgument("config file \(path): policy \(key) must be a duration such as \"26h\" or \"365d\" (at most 100 years)")
            }
            switch key {
            case "push": policy.push = seconds
            case "verify": policy.verify = seconds
            default: policy.drill = seconds
            }
        }
        return policy
    }

    private static func string(_ table: TOMLTable, _ key: String, _ path: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { throw PlanVaultError.invalidArgument("config file \(path): \(key) must be a string") }
        return s
    }

    private static func strings(_ table: TOMLTable, _ key: String, _ path: String) throws -> [String] {
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw PlanVaultError.invalidArgument("config file \(path): \(key) must be a list of strings") }
        return try array.map { item in
            guard let s = item.string else { throw PlanVaultError.invalidArgument("config file \(path): \(key) must be a list of strings") }
            return s
        }
    }
}

/// The keys file (`--keys FILE`): every secret PlanVault reads, in one private TOML file.
/// See Keys.example.
struct KeysFile {
    var path = ""
    var passphrase: String?
    var passphraseCommand: String?
    var serverToken: String?
    var awsAccessKeyID: String?
    var awsSecretAccessKey: String?
    var awsSessionToken: String?

    static func load(path: String) throws -> KeysFile {
        try FileIO.requirePrivate(path, what: "keys file (--keys, PLANVAULT_KEYS_FILE or `keys` in the config)")
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PlanVaultError.invalidArgument("cannot read keys file \(path): \(error.localizedDescription)")
        }
        let table: TOMLTable
        // The parser's message may quote the offending line, which could hold a secret: keep it out.
        do { table = try TOMLTable(string: text) } catch {
            throw PlanVaultError.invalidArgument("keys file \(path) is not valid TOML (see Keys.example)")
        }
        let known: Set<String> = ["passphrase", "passphrase_command", "server_token", "aws_access_key_id", "aws_secret_access_key", "aws_session_token"]
        var keys = KeysFile()
        keys.path = path
        for key in table.keys {
            guard known.contains(key) else {
                throw PlanVaultError.invalidArgument("keys file \(path): unknown setting \"\(key)\" (known: \(known.sorted().joined(separator: ", ")))")
            }
            guard let value = table[key]?.string else { throw PlanVaultError.invalidArgument("keys file \(path): \(key) must be a string") }
            switch key {
            case "passphrase": keys.passphrase = value
            case "passphrase_command": keys.passphraseCommand = value
            case "server_token": keys.serverToken = value
            case "aws_access_key_id": keys.awsAccessKeyID = value
            case "aws_secret_access_key": keys.awsSecretAccessKey = value
            default: keys.awsSessionToken = value
            }
        }
        return keys
    }
}
