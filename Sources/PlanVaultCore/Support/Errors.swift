import Foundation

/// Every failure PlanVault reports to a user. Each description says what failed,
/// where, and what to do about it; `exitCode` is the one table of exit codes.
public enum PlanVaultError: Error, LocalizedError, Equatable {
    case repositoryNotFound(location: String)
    case repositoryExists(location: String)
    /// One of several copies of a repository is not at `location` (a share not mounted, or a
    /// copy never made or not finished): the fix is a copy from `copyFrom` (or from another
    /// target, when not yet known), never `init`.
    case noCopyAt(location: String, copyFrom: String?)
    /// `source` names where the passphrase came from ("PLANVAULT_PASSPHRASE", "the prompt"), when known.
    case wrongPassphrase(location: String, source: String? = nil)
    case noPassphrase
    /// `key add` / `key passwd` found no new passphrase (and no terminal to ask on).
    case noNewPassphrase
    /// The keys file was read but names no passphrase (left empty after `install -m 600 /dev/null`).
    case keysFileWithoutPassphrase(path: String)
    case objectMissing(kind: ObjectKind, name: String)
    case objectDamaged(kind: ObjectKind, name: String, reason: String)
    case io(path: String, operation: String, errno: Int32)
    case invalidArgument(String)
    /// A command line that cannot be run as given (a value out of range, options that do not
    /// fit together), found after parsing: exit 64 like the parser's own usage errors.
    case usage(String)
    case invalidName(String)
    case snapshotNotFound(String)
    case ambiguousSnapshot(prefix: String, matches: [String])
    case unsafePath(String)
    /// `waited`: the seconds waited for it (`--lock-wait`), 0 for none.
    case lockHeld(path: String, holder: String, waited: TimeInterval = 0)
    case alreadyExists(path: String)
    case insecurePermissions(path: String, mode: UInt32)
    case unsupportedFormat(String)
    case backend(location: String, message: String)
    /// A snapshot could not be read, so `latest` cannot be decided (FORMAT.md: never fall back).
    case snapshotUnreadable(name: String, reason: String, others: Int)
    /// `latest` would be `chosen`, but a newer snapshot of the same sources, attested by a signed
    /// push record and removed by no retention record, is missing at the target.
    case newerSnapshotMissing(missing: String, missingTime: String, chosen: String, chosenTime: String)
    /// A snapshot whose `time` is not a valid time: it cannot be placed, so `latest` is not decided.
    case snapshotWithoutTime(name: String, time: String)
    case repositoryWithoutConfig(location: String, found: String)
    case repositoryLocked(holder: String, location: String, waited: TimeInterval = 0)
    case configAltered(location: String, keyFile: String)
    case noIntactKeyFile(location: String, damaged: [String])
    case keyFilesUnusable(location: String, damaged: [String], untried: [String])
    /// Recovery shares rebuilt a secret that opens no recovery key file (too few, or mixed up).
    case wrongShares(location: String)
    case recoveryKeyFileMissing(location: String, keyFile: String)

    public var errorDescription: String? {
        switch self {
        case .repositoryNotFound(let location):
            return "no PlanVault repository at \(location): check the address (--repo, PLANVAULT_REPO or the config file) and, for a mounted share, that it is mounted; `planvault init` makes a new, empty repository"
        case .noCopyAt(let location, let source?):
            return "no PlanVault repository at \(location) (or only the start of one, from an interrupted copy): if it is a mounted share, "
                + "check that it is mounted; to start or finish a copy there, run `planvault copy --repo \(source) --to \(location)` once"
        case .noCopyAt(let location, nil):
            return "no PlanVault repository at \(location) (or only the start of one, from an interrupted copy): if it is a mounted share, "
                + "check that it is mounted; to start or finish a copy there, run `planvault copy` once from a target that holds the "
                + "repository (not `planvault init`, which would make a different one)"
        case .repositoryExists(let location):
            return "a repository already exists at \(location); use it as it is, or choose another location"
        case .wrongShares(let location):
            return "the recovery shares do not open the repository at \(location): a share may be from another repository, or one was mistyped in a way its checksum could not catch; try another combination of shares"
        case .recoveryKeyFileMissing(let location, let keyFile):
            return "the recovery key file \(keyFile)… that these shares open is not at \(location) (it was removed with `planvault key remove`, or this is another repository): the shares cannot open it"
        case .wrongPassphrase(let location, let source?) where source == "the prompt":
            return "the passphrase does not open any key of the repository at \(location) (it was typed at the prompt): type it again, exactly"
        case .wrongPassphrase(let location, let source?):
            return "the passphrase does not open any key of the repository at \(location) (it came from \(source)): check it; a passphrase is taken from --passphrase-file, --passphrase-command, PLANVAULT_PASSPHRASE, the keys file, then a prompt, in that order"
        case .wrongPassphrase(let location, nil):
            return "the passphrase does not open any key of the repository at \(location): check PLANVAULT_PASSPHRASE, --passphrase-file or --passphrase-command"
        case .keysFileWithoutPassphrase(let path):
            return "the keys file \(path) holds no passphrase (it is empty, or has no `passphrase = \"...\"` or `passphrase_command` line; see Keys.example): add one, or set PLANVAULT_PASSPHRASE"
        case .noNewPassphrase:
            return "no new passphrase given: set PLANVAULT_NEW_PASSPHRASE or use --new-passphrase-file FILE (no prompt is shown when standard input is not a terminal)"
        case .noPassphrase:
            return "no passphrase given: set PLANVAULT_PASSPHRASE, or use --passphrase-file FILE, --passphrase-command CMD or --keys FILE (no prompt is shown when standard input is not a terminal)"
        case .objectMissing(let kind, let name):
            return "\(kind.singular) \(name) is missing from the repository"
        case .objectDamaged(let kind, let name, let reason):
            return "\(kind.singular) \(name) is damaged: \(reason)"
        case .io(let path, let operation, let code):
            return "\(operation) \(path): \(String(cString: strerror(code)))"
        case .invalidArgument(let message), .usage(let message):
            return message
        case .invalidName(let name):
            return "invalid object name \"\(name)\": names are 64 lowercase hex digits"
        case .snapshotNotFound(let what):
            return "no snapshot matches \"\(what)\": list them with `planvault snapshots`"
        case .ambiguousSnapshot(let prefix, let matches):
            return "snapshot prefix \"\(prefix)\" matches \(matches.count) snapshots (\(matches.prefix(4).joined(separator: ", "))): give more digits"
        case .unsafePath(let message):
            return "refusing unsafe path: \(message)"
        case .lockHeld(let path, let holder, let waited):
            return "\(holder) holds the lock \(path)\(Self.waitedFor(waited)): wait for it to finish, or give \(waited > 0 ? "a longer " : "")--lock-wait DURATION "
                + "(the lock is released automatically when that process exits)"
        case .alreadyExists(let path):
            return "\(path) already exists and differs from the snapshot: restore keeps identical files as they are and replaces one that differs only with --overwrite"
        case .insecurePermissions(let path, let mode):
            return "\(path) is readable by group or others (mode \(String(mode & 0o777, radix: 8))): run `chmod 600 \(path)`"
        case .unsupportedFormat(let message):
            return "unsupported repository format: \(message)"
        case .backend(let location, let message):
            return "\(location): \(message)"
        case .repositoryLocked(let holder, let location, let waited):
            return "the repository at \(location) is locked: \(holder)\(Self.waitedFor(waited)). Wait for that run to finish, or give \(waited > 0 ? "a longer " : "")--lock-wait DURATION; "
                + "a lock its holder stops refreshing is ignored after \(Int(RepositoryLock.staleAfter / 60)) minutes"
        case .repositoryWithoutConfig(let location, let found):
            return "\(location) holds a repository's objects (\(found)) but no config: do not create a new repository over it. "
                + "Run `planvault repair` with the repository's passphrase to write the config back from a key file"
        case .configAltered(let location, let keyFile):
            return "the config at \(location) differs from the copy key file \(keyFile.prefix(8)) authenticates: it was altered or damaged. "
                + "Nothing was read or written. Run `planvault repair` to put the authenticated config back"
        case .noIntactKeyFile(let location, let damaged):
            let what = damaged.isEmpty ? "the repository has no key file at all" : damaged.joined(separator: "; ")
            return "no intact key file remains at \(location): \(what). Without one nothing can be restored: "
                + "copy a key file back from another copy of the repository, or from the recovery kit"
        case .keyFilesUnusable(let location, let damaged, let untried):
            var parts = ["the passphrase does not open any key file that was tried at \(location)"]
            if !damaged.isEmpty { parts.append("damaged key files: \(damaged.joined(separator: "; "))") }
            if !untried.isEmpty {
                parts.append("\(untried.count) key file(s) not tried within the time budget (\(untried.prefix(6).joined(separator: ", "))): "
                             + "to try one of them, give its name with --key-file NAME; once the repository opens, `planvault key list` shows them all and `planvault key remove` removes planted ones")
            }
            return parts.joined(separator: "; ")
        case .snapshotWithoutTime(let name, let time):
            // Shown within bounds and printable: the value comes from the repository.
            let shown = String(time.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 32 && $0.value < 127 ? Character($0) : "?" })
            return "snapshot \(name.prefix(12)) has no valid time (\"\(shown)\" is not an RFC 3339 UTC time), so the latest snapshot cannot be "
                + "decided: it might be the newest. Name a snapshot by its ID instead (`planvault snapshots` lists them), "
                + "or remove that one with `planvault forget \(name.prefix(12))`"
        case .snapshotUnreadable(let name, let reason, let others):
            let more = others > 0 ? " (and \(others) more)" : ""
            return "snapshot \(name.prefix(12)) cannot be read\(more), so the latest snapshot cannot be decided: \(reason). "
                + "Run `planvault verify` to see the damage; to restore anyway, name a readable snapshot ID (`planvault snapshots` lists them)"
        case .newerSnapshotMissing(let missing, let missingTime, let chosen, let chosenTime):
            return "snapshot \(missing.prefix(8)) of \(missingTime), newer than any here, is missing at the target: a signed push record "
                + "attests it and no retention record removed it, so it was deleted or lost there, and \"latest\" would silently be "
                + "\(chosen.prefix(8)) of \(chosenTime). Look for \(missing.prefix(8)) in another copy of the repository; to use the older "
                + "snapshot, name it: \(chosen.prefix(8))"
        }
    }

    /// " (waited 3 seconds)" after a `--lock-wait` ran out; nothing when there was no wait.
    private static func waitedFor(_ seconds: TimeInterval) -> String {
        seconds > 0 ? " (waited \(DurationWords.text(seconds)))" : ""
    }

    /// Exit codes, chosen to match restic's where the meaning is the same.
    public var exitCode: Int32 {
        switch self {
        case .repositoryNotFound, .noCopyAt: return ExitCodes.repositoryNotFound
        case .lockHeld, .repositoryLocked: return ExitCodes.locked
        case .snapshotUnreadable, .newerSnapshotMissing, .snapshotWithoutTime, .configAltered, .noIntactKeyFile: return ExitCodes.verificationFailed
        case .keyFilesUnusable: return ExitCodes.wrongPassphrase
        case .repositoryWithoutConfig: return ExitCodes.failure
        case .usage: return ExitCodes.usage
        case .wrongPassphrase, .noPassphrase, .noNewPassphrase, .keysFileWithoutPassphrase, .wrongShares, .recoveryKeyFileMissing: return ExitCodes.wrongPassphrase
        default: return ExitCodes.failure
        }
    }
}

public enum ExitCodes {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    /// A push finished, but some files could not be read and are not in the snapshot.
    public static let partial: Int32 = 3
    /// `verify` found missing or damaged data.
    public static let verificationFailed: Int32 = 4
    /// `verify --max-age`: the newest snapshot is older than allowed.
    public static let stale: Int32 = 5
    public static let repositoryNotFound: Int32 = 10
    public static let locked: Int32 = 11
    public static let wrongPassphrase: Int32 = 12
    /// Bad command-line usage (sysexits' EX_USAGE, as the argument parser returns).
    public static let usage: Int32 = 64
}
