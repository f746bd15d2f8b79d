import ArgumentParser
import Foundation
import Logging
import PlanVaultCore
import PlanVaultHTTP

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Repository: a folder path, file:// URL, https://HOST:PORT/NAME of a PlanVault server, or s3://BUCKET/PREFIX. Default: PLANVAULT_REPO, then `repo` in the config file.", valueName: "URL"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("PEM file of the CA that signed the server's certificate (for a private CA). Default: PLANVAULT_CACERT.", valueName: "FILE"))
    var cacert: String?

    @Option(name: .long, help: ArgumentHelp("TOML config file (default: planvault.toml in the current folder, if present).", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Private TOML file holding secrets (see Keys.example). Default: PLANVAULT_KEYS_FILE.", valueName: "FILE"))
    var keys: String?

    @Option(name: .long, help: ArgumentHelp("Read the passphrase from the first line of FILE (must be mode 600).", valueName: "FILE"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("Run CMD through /bin/sh; its first output line is the passphrase.", valueName: "CMD"))
    var passphraseCommand: String?

    @Option(name: .long, help: ArgumentHelp("S3 endpoint for s3:// repositories (default: AWS for the region). Default: PLANVAULT_S3_ENDPOINT.", valueName: "URL"))
    var s3Endpoint: String?

    @Option(name: .long, help: ArgumentHelp("S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1).", valueName: "REGION"))
    var s3Region: String?

    @Flag(name: .long, inversion: .prefixedNo, help: "S3 path-style addressing (default: on for custom endpoints, off for AWS).")
    var s3PathStyle: Bool?

    @Option(name: .long, help: ArgumentHelp("S3 Object Lock: give every object written this many days of retention; `verify` reports objects locked for less.", valueName: "DAYS"))
    var s3ObjectLockDays: Int?

    @Option(name: .long, help: ArgumentHelp("S3 Object Lock mode: COMPLIANCE (default) or GOVERNANCE.", valueName: "MODE"))
    var s3ObjectLockMode: String = "COMPLIANCE"

    @Option(name: .long, help: ArgumentHelp("Local cache folder (safe to delete). Default: PLANVAULT_CACHE_DIR, then ~/.cache/planvault.", valueName: "DIR"))
    var cacheDir: String?

    @Flag(name: .long, help: "Do not use a local cache.")
    var noCache = false

    @Flag(name: .shortAndLong, help: "More log output (repeat for debug).")
    var verbose: Int

    @Flag(name: .shortAndLong, help: "Only errors.")
    var quiet = false

    @Option(name: .long, help: ArgumentHelp("Wait this long for a lock another run holds (e.g. 10m), printing that it waits. Default: do not wait (exit 11).", valueName: "DURATION"))
    var lockWait: String?

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Open the repository with recovery shares instead of a passphrase: share files from `planvault key split` (mode 600; several blocks per file are fine), or - to type or paste them.", valueName: "FILE"))
    var shares: [String] = []

    @Option(name: .long, help: ArgumentHelp("Try only this key file (its name, or the start of it, as `planvault key list` or an earlier error shows): for a repository where other key files use up the time allowed for trying them.", valueName: "NAME"))
    var keyFile: String?

    @Option(name: .long, help: ArgumentHelp("Retry a failed request to a server or S3 at most N times (0-20; default 5), printing each retry. Default: PLANVAULT_RETRIES.", valueName: "N"))
    var retries: Int?

    /// Checked as the command line is parsed: a bad value is a usage error (exit 64) before any
    /// target is tried.
    func validate() throws {
        if let retries, !(0...20).contains(retries) { throw ValidationError(Self.retriesOutOfRange(retries)) }
        // Checked for every command, also those that take no lock: a typo is never ignored.
        if let lockWait, Duration.parse(lockWait) == nil { throw ValidationError(Self.notADuration(lockWait)) }
        if let days = s3ObjectLockDays, days < 1 { throw ValidationError("--s3-object-lock-days must be at least 1") }
        if !["COMPLIANCE", "GOVERNANCE"].contains(s3ObjectLockMode.uppercased()) {
            throw ValidationError("--s3-object-lock-mode must be COMPLIANCE or GOVERNANCE")
        }
    }

    static func notADuration(_ text: String) -> String { "--lock-wait \(text) is not a duration (examples: 30s, 10m, 1h)" }

    static func retriesOutOfRange(_ n: Int) -> String { "--retries \(n) is out of range: give 0 to 20" }
}

/// Everything a command needs, resolved once from options, config file, keys file and environment.
struct Context {
    let options: GlobalOptions
    let config: ConfigFile
    let keys: KeysFile?
    let logger: Logger
    let environment = ProcessInfo.processInfo.environment

    init(_ options: GlobalOptions) throws {
        self.options = options
        var logger = Logger(label: "planvault")
        logger.logLevel = options.quiet ? .error : options.verbose >= 2 ? .debug : options.verbose == 1 ? .info : .notice
        self.logger = logger
        if let path = options.config {
            config = try ConfigFile.load(path: path)
        } else if FileManager.default.fileExists(atPath: ConfigFile.defaultName) {
            config = try ConfigFile.load(path: ConfigFile.defaultName)
        } else {
            config = ConfigFile()
        }
        if let path = options.keys ?? ProcessInfo.processInfo.environment["PLANVAULT_KEYS_FILE"] ?? config.keys {
            keys = try KeysFile.load(path: path)
        } else {
            keys = nil
        }
    }

    var repositoryURL: String {
        get throws {
            guard let url = options.repo ?? environment["PLANVAULT_REPO"] ?? config.allTargets.first?.repo, !url.isEmpty else {
                throw PlanVaultError.invalidArgument("no repository given: use --repo URL, set PLANVAULT_REPO, or set `repo` in planvault.toml")
            }
            return url
        }
    }

    func backend() throws -> any Backend {
        try backend(for: try repositoryURL)
    }

    /// The targets a push replicates to (and verify checks): those of the config file, unless
    /// --repo or PLANVAULT_REPO names one.
    var pushTargets: [ConfigFile.Target] {
        options.repo != nil || !(environment["PLANVAULT_REPO"] ?? "").isEmpty ? [] : config.allTargets
    }

    /// The target at `url`, with this run's credentials (server token, S3 keys, CA file).
    func backend(for url: String) throws -> any Backend {
        if url.hasPrefix("s3://") {
            return try s3Backend(url)
        }
        if url.hasPrefix("https://") || url.hasPrefix("http://") {
            let token = environment["PLANVAULT_SERVER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? keys?.serverToken
            return try HTTPBackend(url: url, token: token, caCertificatePath: options.cacert ?? environment["PLANVAULT_CACERT"], logger: logger,
                                   attempts: try retries + 1)
        }
        return try BackendFactory.make(url)
    }

    func s3Backend(_ url: String) throws -> S3Backend {
        func secret(_ env: String, _ fromKeys: String?) -> String? {
            environment[env].flatMap { $0.isEmpty ? nil : $0 } ?? fromKeys
        }
        guard let accessKey = secret("AWS_ACCESS_KEY_ID", keys?.awsAccessKeyID),
              let secretKey = secret("AWS_SECRET_ACCESS_KEY", keys?.awsSecretAccessKey) else {
            throw PlanVaultError.invalidArgument("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or aws_access_key_id and aws_secret_access_key in the keys file")
        }
        let credentials = S3Credentials(accessKeyID: accessKey, secretAccessKey: secretKey,
                                        sessionToken: secret("AWS_SESSION_TOKEN", keys?.awsSessionToken))
        let region = options.s3Region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
        var s3 = try S3Options.parse(url: url, endpoint: options.s3Endpoint ?? environment["PLANVAULT_S3_ENDPOINT"], region: region,
                                     pathStyle: options.s3PathStyle, credentials: credentials)
        if let days = options.s3ObjectLockDays {
            s3.objectLockDays = days
            s3.objectLockMode = options.s3ObjectLockMode.uppercased()
        }
        if let text = environment["PLANVAULT_S3_PART_SIZE_MIB"], !text.isEmpty {
            let limits = (S3Options.partSizeRange.lowerBound >> 20)...(S3Options.partSizeRange.upperBound >> 20)
            guard let mib = Int(text.trimmingCharacters(in: .whitespaces)), limits.contains(mib) else {
                throw PlanVaultError.invalidArgument("PLANVAULT_S3_PART_SIZE_MIB is \"\(text)\": give a whole number of MiB from \(limits.lowerBound) to \(limits.upperBound) (S3's part size limits), or unset it for 64")
            }
            s3.partSize = mib << 20
        }
        return try S3Backend(options: s3, caCertificatePath: options.cacert ?? environment["PLANVAULT_CACERT"], logger: logger,
                             attempts: try retries + 1)
    }

    /// How many times a failed request to a server or S3 is tried again: --retries, then
    /// PLANVAULT_RETRIES, then 5 (six attempts, about half a minute of backoff).
    var retries: Int {
        get throws {
            let limit = 0...20
            if let n = options.retries {
                guard limit.contains(n) else { throw PlanVaultError.usage(GlobalOptions.retriesOutOfRange(n)) }
                return n
            }
            if let text = environment["PLANVAULT_RETRIES"], !text.isEmpty {
                guard let n = Int(text.trimmingCharacters(in: .whitespaces)), limit.contains(n) else {
                    throw PlanVaultError.invalidArgument("PLANVAULT_RETRIES is \"\(text)\": give a whole number from 0 to 20, or unset it for 5")
                }
                return n
            }
            return 5
        }
    }

    /// Remote targets have latency to hide: more uploads in flight.
    func uploadConcurrency(for backend: any Backend) -> Int {
        backend is DirectoryBackend ? 2 : 4
    }

    var cacheRoot: String? {
        if options.noCache { return nil }
        if let dir = options.cacheDir ?? environment["PLANVAULT_CACHE_DIR"] ?? config.cacheDir { return dir }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return "\(xdg)/planvault" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "\(home)/.cache/planvault"
    }

    func passphrase(confirm: Bool = false) throws -> String {
        try Secrets.passphrase(options: options, keys: keys, confirm: confirm)
    }

    /// Opens the repository at `backend` with recovery shares when given (`--shares`), else the
    /// passphrase; a passphrase that opens no key is reported with where it came from.
    func open(_ backend: any Backend, cached: Bool = true, acceptAlteredConfig: Bool = false) async throws -> Repository {
        let credential: Repository.Credential
        var source: String?
        if options.shares.isEmpty {
            let found = try Secrets.sourcedPassphrase(options: options, keys: keys, confirm: false)
            credential = .passphrase(found.value)
            source = found.source
        } else {
            let recovered = try RecoveryShare.combine(try Secrets.recoveryShares(options.shares))
            credential = .recovery(recovered.secret, keyFileID: recovered.keyFileID)
        }
        do {
            return try await Repository.open(backend: backend, credential: credential, cacheRoot: cached ? cacheRoot : nil, logger: logger,
                                             acceptAlteredConfig: acceptAlteredConfig, onlyKeyFile: options.keyFile)
        } catch PlanVaultError.wrongPassphrase(let location, nil) where source != nil {
            throw PlanVaultError.wrongPassphrase(location: location, source: source)
        }
    }

    func openRepository() async throws -> Repository {
        try await open(try backend())
    }

    /// `cached: false` reads every index file and snapshot at the target, whatever this machine
    /// has cached (for commands that must see the target's damage, like `repair-index`).
    func openWriter(cached: Bool = true) async throws -> RepositoryWriter {
        let backend = try backend()
        return RepositoryWriter(repository: try await open(backend, cached: cached), backend: backend)
    }

    /// A writer holding the repository's lock (FORMAT.md §15): shared for push, exclusive for
    /// forget, prune and repair. This host's local lock is taken too, so two runs on one host
    /// never even race for the repository lock.
    func openLockedWriter(exclusive: Bool = false) async throws -> (RepositoryWriter, HeldLocks) {
        let writer = try await openWriter()
        return (writer, try await repositoryLock(writer, exclusive: exclusive))
    }

    func repositoryLock(_ writer: RepositoryWriter, exclusive: Bool) async throws -> HeldLocks {
        let wait = try lockWaitSeconds()
        let local = try lock(repositoryID: writer.repository.config.id, wait: wait)
        let shared = try await RepositoryLock.acquire(backend: writer.backend, repository: writer.repository.config.id, exclusive: exclusive,
                                                      wait: wait, logger: logger) { message in Output.error("planvault: \(message)") }
        return HeldLocks(local: local, repository: shared)
    }

    /// A shared repository lock for a reading command, or nil (with a warning) when the
    /// credential may not write one. A conflicting exclusive lock is an error as always.
    func sharedLockIfPossible(_ repository: Repository) async throws -> RepositoryLock? {
        guard let backend = try? backend() else { return nil }
        do {
            return try await RepositoryLock.acquire(backend: backend, repository: repository.config.id, exclusive: false,
                                                    wait: try lockWaitSeconds(), logger: logger) { message in Output.error("planvault: \(message)") }
        } catch let error as PlanVaultError {
            if case .repositoryLocked = error { throw error }
            logger.warning("no repository lock could be taken (\(error.localizedDescription)); checking without one")
            return nil
        }
    }

    func lockWaitSeconds() throws -> TimeInterval {
        guard let text = options.lockWait else { return 0 }
        guard let seconds = Duration.parse(text) else { throw PlanVaultError.usage(GlobalOptions.notADuration(text)) }
        return seconds
    }

    /// A lock per repository and host; lives in the cache folder (or /tmp with --no-cache).
    /// Waits up to `wait` seconds (`--lock-wait`) for another run on this host, saying so.
    func lock(repositoryID: String, wait: TimeInterval = 0) throws -> LocalLock {
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let root = cacheRoot ?? runtime.map { "\($0)/planvault" } ?? "/tmp/planvault-\(getuid())"
        return try LocalLock(path: "\(root)/\(repositoryID)/push.lock", wait: wait) { message in Output.error("planvault: \(message)") }
    }
}

enum BackendFactory {
    static func make(_ url: String) throws -> any Backend {
        if url.hasPrefix("file://") {
            return DirectoryBackend(root: String(url.dropFirst("file://".count)))
        }
        if let scheme = url.range(of: "://").map({ String(url[..<$0.lowerBound]) }) {
            throw PlanVaultError.invalidArgument("repository URL scheme \"\(scheme)://\" is not supported: use a folder path, file:// URL or https://HOST:PORT/NAME")
        }
        return DirectoryBackend(root: URL(fileURLWithPath: url).standardizedFileURL.path)
    }
}

/// The locks a command holds; released when its work is done (also on failure).
final class HeldLocks: Sendable {
    let local: LocalLock
    let repository: RepositoryLock

    init(local: LocalLock, repository: RepositoryLock) {
        self.local = local
        self.repository = repository
    }

    func around<T>(_ body: () async throws -> T) async throws -> T {
        defer { withExtendedLifetime(local) {} }
        return try await repository.around(body)
    }
}
